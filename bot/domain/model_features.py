"""The features the sensitivity model reads from a message: word and character n-grams.

One function serves training (scikit-learn calls it as the vectoriser's analyser) and
scoring (``bot.domain.sensitivity_model``), so the model sees a message the same way in
both. The text is case-folded, stripped of accents and of repeated letters ("sooo" ->
"soo"), and every digit becomes ``0``: "my iban is DE89..." and "my iban is ES91..." look
alike, and a number's shape ("00/00/0000", "00k") says more than its value. Character
n-grams are taken inside each word padded with spaces, so typos, missing accents, slang
spellings and words glued together still share most of their features; word n-grams
carry phrases ("should i", "do it").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["Features", "normalise"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_REPEATS = re.compile(r"(\D)\1{2,}")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?|[€$£¥%@+/:?!]")


def normalise(text: str) -> str:
    """Folded text: lower case, no accents, digits as 0, runs of a letter cut to two."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_APOSTROPHES))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = "".join("0" if c.isdigit() else c for c in plain)
    return _REPEATS.sub(r"\1\1", plain)


@dataclass(frozen=True)
class Features:
    """Which n-grams to take: character n-grams of ``chars[0]``..``chars[1]`` letters
    within words, and word n-grams of ``words[0]``..``words[1]`` words."""

    chars: tuple[int, int] = (1, 5)
    words: tuple[int, int] = (1, 3)

    def __call__(self, text: str) -> list[str]:
        """The message's features, one string per occurrence (counts matter)."""
        tokens = _WORD.findall(normalise(text))
        out: list[str] = []
        low, high = self.words
        for n in range(low, high + 1):
            out += ["w " + " ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        low, high = self.chars
        for token in tokens:
            padded = f" {token} "
            for n in range(low, min(high, len(padded)) + 1):
                out += ["c" + padded[i : i + n] for i in range(len(padded) - n + 1)]
        return out

    def as_dict(self) -> dict[str, list[int]]:
        return {"chars": list(self.chars), "words": list(self.words)}

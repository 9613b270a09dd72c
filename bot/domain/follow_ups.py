"""Follow-ups: short messages that only make sense with the prospect's previous message.

"yes, do it", "the usual amount", "both please", "and the same for my wife", "wie immer",
"les deux", "lo de siempre" say little on their own, yet after "should I sell my 40 Tesla
shares?" the first one is an order. Such a message is judged with the previous message(s)
in view: it gets at least the level of what it follows, the sensitivity model reads it
together with them, and a go-ahead ("do it", "mach das", "vas-y", "hazlo") after a
request for advice is an order, since it tells the firm to act on what was discussed.

A message counts as a follow-up when it is short (``MAX_WORDS`` words at most) and
either holds one of the phrases below (as whole words, ignoring case and accents), or
starts by carrying on from the previous message ("and ...", "oder ...", "alors ...",
"entonces ..."). It refers to the prospect's last ``PREVIOUS_MESSAGES`` messages sent
within ``PREVIOUS_WITHIN`` before it. A longer message, or a short one that stands on its
own ("what time do you open?"), is judged on its own, whatever came before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from enum import Enum

from bot.domain.flows import fold

__all__ = [
    "MAX_WORDS",
    "PREVIOUS_MESSAGES",
    "PREVIOUS_WITHIN",
    "FollowUp",
    "follow_up",
    "joined",
]

MAX_WORDS = 10
# A follow-up refers to the prospect's last messages, sent shortly before it.
PREVIOUS_MESSAGES = 2
PREVIOUS_WITHIN = timedelta(minutes=30)


class FollowUp(Enum):
    """What a follow-up does with the previous message."""

    PROCEED = "proceed"  # do it, the usual amount: asks the firm to act on it
    CONFIRM = "confirm"  # yes, exactly, that one: agrees with what was said
    CONTINUE = "continue"  # and ..., both, the same: adds to what was said


# Phrases per language, separated by |, as prospects type them (accents optional).
_PHRASES: Mapping[FollowUp, Mapping[str, str]] = {
    FollowUp.PROCEED: {
        "en": """
            do it | go ahead | go for it | proceed | just do it | lets do it | let's do
            it | make it so | send it | place it | execute | execute it | same as last
            time | same as before | same as always | same as usual | same again | the
            usual | as usual | as always | like last time | like before | all of it |
            the lot | same amount | please do | do that | do the same | book it | put it
            through | sort it
            """,
        "de": """
            mach das | mach es | machs | mach's | mach mal | mach einfach | leg los |
            los geht's | ausfuhren | durchfuhren | bitte ausfuhren | wie immer | wie
            ublich | wie letztes mal | wie beim letzten mal | wie gehabt | das gleiche |
            dasselbe | der gleiche betrag | gleicher betrag | den gleichen betrag | der
            ubliche betrag | den ublichen betrag | alles davon | machen sie das | machen
            sie es | weg damit | so anlegen | bitte so
            """,
        "fr": """
            vas-y | vas y | allez-y | allez y | fais-le | fais le | faites-le | faites
            le | on y va | executez | comme d'habitude | comme d'hab | comme la derniere
            fois | comme avant | comme toujours | pareil | la meme chose | le meme
            montant | le montant habituel | la totalite | faites ca | fais ca | go
            """,
        "es": """
            hazlo | hagalo | haganlo | dale | adelante | procede | proceda | ejecutalo |
            ejecutelo | lo de siempre | como siempre | como la ultima vez | como la otra
            vez | igual que la otra vez | igual que siempre | lo mismo | la misma
            cantidad | el mismo importe | la cantidad de siempre | lo mismo de siempre |
            todo eso
            """,
    },
    FollowUp.CONFIRM: {
        "en": """
            yes | yeah | yep | yup | ok | okay | sure | exactly | correct | right |
            that's right | thats right | that one | that's it | thats it | indeed |
            confirmed | i confirm | fine
            """,
        "de": """
            ja | jo | jep | jawohl | ok | okay | genau | richtig | stimmt | passt |
            gerne | klar | einverstanden | bestatigt | gut
            """,
        "fr": """
            oui | ouais | ok | d'accord | dac | exactement | c'est ca | c'est bon |
            parfait | volontiers | bien sur | celui-la | celle-la | je confirme
            """,
        "es": """
            si | vale | ok | claro | exacto | correcto | eso | perfecto | de acuerdo |
            confirmo
            """,
    },
    FollowUp.CONTINUE: {
        "en": """
            both | the same | same for | the other one | the one | half | the rest | the
            global one | mine is | me too | and mine
            """,
        "de": """
            beide | beides | das doppelte | die halfte | den rest | auch so | bei mir |
            meins | meine ist | halbe-halbe | den anderen
            """,
        "fr": """
            les deux | tout | la moitie | le reste | le meme | la meme | moi aussi |
            pour moi aussi | le mien | la mienne | l'autre
            """,
        "es": """
            las dos | los dos | ambos | ambas | todo | la mitad | el resto | el mismo |
            la misma | yo tambien | el mio | la mia | el otro | la otra
            """,
    },
}

# Words that open a message carrying on from the previous one.
_CARRY_ON: Mapping[str, str] = {
    "en": """
        and | or | also | plus | then | so | but | oh and | ah and
        """,
    "de": """
        und | oder | auch | plus | dann | also | aber | ach und | achso
        """,
    "fr": """
        et | ou | aussi | plus | alors | donc | puis | mais | ah et
        """,
    "es": """
        y | o | tambien | mas | entonces | pues | luego | pero | ah y
        """,
}

_WORDS = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def _alternatives(phrases: Iterable[str]) -> str:
    unique = sorted({fold(p)[0] for p in phrases}, key=len, reverse=True)
    return "|".join(r"\s*".join(map(re.escape, a.split())) for a in unique)


def _anywhere(phrases: Iterable[str]) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w'-])(?:{_alternatives(phrases)})(?![\w'-])")


def _at_start(phrases: Iterable[str]) -> re.Pattern[str]:
    return re.compile(rf"^\W*(?:{_alternatives(phrases)})(?![\w'-])")


def _with_all(table: Mapping[str, str]) -> dict[str | None, list[str]]:
    """The phrases per language, and under None every language's together."""
    split: dict[str | None, list[str]] = {
        language: [p.strip() for p in text.split("|")] for language, text in table.items()
    }
    split[None] = [p for phrases in split.values() for p in phrases]
    return split


_ANYWHERE: Mapping[tuple[FollowUp, str | None], re.Pattern[str]] = {
    (kind, language): _anywhere(phrases)
    for kind, table in _PHRASES.items()
    for language, phrases in _with_all(table).items()
}
_CARRYING_ON: Mapping[str | None, re.Pattern[str]] = {
    language: _at_start(words) for language, words in _with_all(_CARRY_ON).items()
}


def follow_up(text: str, language: str | None = None) -> FollowUp | None:
    """What ``text`` does with the previous message, or None when it stands on its own.

    The phrases of the conversation's language count (every language's, when it is
    not one of en, de, fr, es): "si" is yes in Spanish but "if" in French.
    """
    folded = fold(text)[0]
    if not 0 < len(_WORDS.findall(folded)) <= MAX_WORDS:
        return None
    known = language if language in _CARRYING_ON else None
    if _ANYWHERE[FollowUp.PROCEED, known].search(folded):
        return FollowUp.PROCEED
    if _CARRYING_ON[known].search(folded) or _ANYWHERE[FollowUp.CONTINUE, known].search(folded):
        return FollowUp.CONTINUE
    if _ANYWHERE[FollowUp.CONFIRM, known].search(folded):
        return FollowUp.CONFIRM
    return None


def joined(previous: Iterable[str], text: str) -> str:
    """The previous messages and the follow-up as one text, oldest first, a line each:
    what the sensitivity model reads for a follow-up."""
    return "\n".join([*previous, text])

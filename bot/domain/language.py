"""Which of en, de, fr and es a prospect writes in, and when the conversation switches.

WhatsApp messages are short and casual, so statistical language identification has little
to go on. Instead each language has a list of the words that give it away: function
words, greetings, question words, politeness and the banking words prospects use. Text is
compared case- and accent-insensitively (``plain``), so "eroffnen" counts like "eröffnen".

Scoring, in points per message:

- a listed word is 1 point; a greeting is 2 ("hallo" alone is clear evidence), except the
  international "hi"/"hey" (1 point: Germans and Spaniards say "hi" too);
- letters only one language uses (ß ä ö ü; ñ ¿ ¡ á í ó ú; ç œ à è ê â î ô û ë ï ù) add 1
  point to that language, once per message, so a name like "Müller" alone never switches;
- a word listed for more than one language ("no", "la", "die"/"was" in de and en...) is
  dropped from every list when the tables are built: shared words carry no evidence, and
  neither do words on no list ("ok", "taxi", "hotel", "app", "ETF", "IBAN", "Tesla", names);
- whitespace-separated chunks holding a digit, "@", "/" or "_" (IBANs, amounts, phone
  numbers, emails, links) are skipped.

``guess_language`` reports the winner's lead over the runner-up. ``conversation_language``
switches from the current language only on a clear lead (``SWITCH_LEAD`` points, and at
least twice the runner-up's points): a greeting or a sentence, never one ordinary word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "SUPPORTED",
    "SWITCH_LEAD",
    "LanguageGuess",
    "conversation_language",
    "guess_language",
    "plain",
]

SUPPORTED: tuple[str, ...] = ("en", "de", "fr", "es")

SWITCH_LEAD = 2.0
"""Points by which another language must lead before a conversation switches to it."""


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_WORDS: dict[str, str] = {
    "en": """
        i you he she we they it my your our their mine him her us them the and or but to of
        for with from on at by about this that these those is are were be been being am do
        does did have has had can could would should shall may might must not what how when
        where why which who whose want need like please thanks thank yes yeah yep nope
        morning afternoon evening good account open fees fee money invest investing
        investment savings transfer card loan fund funds stocks shares much many cost costs
        price there here just get know if i'm don't dont can't cant it's what's whats i'd
        i'll that's doesn't won't isn't any some you're hi hey hello
    """,
    "de": """
        ich er sie wir ihr mein meine meinen meinem meiner mich mir dich dir ist sind bin
        bist hat habe haben hast kann kannst konnen konnte mochte mochten moechte moechten
        wollen muss brauche der die das den dem ein eine einen einem einer und oder aber
        nicht kein keine keinen mit fur von zu zum zur auf bei nach wie wann wo warum wieso
        weshalb welche welcher welches wer wieviel viel kostet kosten gibt geht gehts geht's
        gibt's ja nein doch bitte danke dank gut tag morgen abend gruss gott tschuss konto
        eroffnen gebuhren geld anlegen investieren sparen uberweisung karte kredit aktien
        depot zinsen auch noch schon sehr gerne jetzt hallo moin servus guten gruezi
    """,
    "fr": """
        je il elle nous vous ils elles mon ma mes ton ta tes votre vos notre nos le les une
        et ou mais donc car pour avec sans dans sur chez par est suis sont ai avons avez ont
        fait peux peut pouvez voudrais veux voulez aimerais souhaite souhaiterais ce cette
        ces ca cela qui quoi quand comment pourquoi combien quel quelle quels quelles oui
        non merci svp stp s'il plait compte ouvrir frais argent banque investir placer
        epargne virement carte pret actions cout coute coutent aussi encore ici maintenant
        c'est j'ai qu'est pas ne bonjour bonsoir salut coucou
    """,
    "es": """
        yo el ella nosotros usted ustedes mi mis su sus los las una unos unas del al y o
        pero porque para por con sin sobre soy eres esta estoy estan tengo tiene tienen hay
        puedo puede pueden quiero quisiera necesito gustaria como cuando donde cual cuales
        quien cuanto cuanta cuantos cuantas cuesta cuestan gracias favor buen dias tardes
        noches cuenta abrir comisiones dinero banco invertir ahorro ahorros transferencia
        tarjeta prestamo acciones muy tambien aqui ahora esto eso este ese ya hola buenas
        buenos
    """,
}
# Words common to several of the languages, named here so that nobody adds them back to a
# list: they carry no evidence.
_SHARED = _word_set(
    "no si la de un tu du es en me te se que was will an in so hier entre mal son bien tres"
    " ok taxi hotel app bank"
)
_GREETINGS = _word_set(
    "hello hallo moin servus guten gruezi bonjour bonsoir salut coucou hola buenas buenos"
)
# French elisions ("j'ai", "l'argent", "qu'il"): the prefix is French even when the rest
# is not on the list.
_ELISIONS = _word_set("j l d qu n c s m t jusqu lorsqu puisqu")

_HINTS: dict[str, frozenset[str]] = {
    "de": frozenset("äöüß"),
    "es": frozenset("ñ¿¡áíóú"),
    "fr": frozenset("çœàèêâîôûëïù"),
}


def _build_table() -> dict[str, tuple[str, float]]:
    listed: dict[str, set[str]] = {}
    for language, block in _WORDS.items():
        for word in _word_set(block):
            listed.setdefault(word, set()).add(language)
    return {
        word: (languages.pop(), 2.0 if word in _GREETINGS else 1.0)
        for word, languages in listed.items()
        if len(languages) == 1 and word not in _SHARED
    }


_TABLE = _build_table()
_COMBINING = re.compile(r"[\u0300-\u036f]")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "´": "'", "`": "'"})
_SKIP_CHUNK = re.compile(r"[\d@/_]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


@dataclass(frozen=True)
class LanguageGuess:
    """The best-supported language of one message.

    ``score`` is the winner's lead over the runner-up in points (see the module docstring);
    ``language`` is None when no language leads (no evidence, or a tie).
    """

    language: str | None
    score: float
    runner_up: str | None


def plain(text: str) -> str:
    """``text`` case-folded, without accents and with straight apostrophes ("Grüß" -> "gruss")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_APOSTROPHES))
    return _COMBINING.sub("", decomposed)


def _words(text: str) -> Iterator[str]:
    for chunk in plain(text).split():
        if _SKIP_CHUNK.search(chunk) is None:
            yield from _WORD.findall(chunk)


def _points(text: str, candidates: Sequence[str]) -> list[tuple[str, float]]:
    """(language, points) for each candidate, best first; ties keep the candidates' order."""
    points = dict.fromkeys(candidates, 0.0)
    for word in _words(text):
        hit = _TABLE.get(word)
        if hit is None and "'" in word:
            prefix, _, rest = word.partition("'")
            if prefix in _ELISIONS and "fr" in points:
                points["fr"] += 1.0
            hit = _TABLE.get(rest)
        if hit is not None and hit[0] in points:
            points[hit[0]] += hit[1]
    letters = set(text.casefold())
    for language, hints in _HINTS.items():
        if language in points and not letters.isdisjoint(hints):
            points[language] += 1.0
    return sorted(points.items(), key=lambda item: -item[1])


def guess_language(text: str, candidates: Sequence[str] = SUPPORTED) -> LanguageGuess:
    """The language ``text`` is most likely written in, among ``candidates``.

    Languages without word lists (anything outside ``SUPPORTED``) never win.
    """
    return _guess(_points(text, candidates))


def _guess(ranked: list[tuple[str, float]]) -> LanguageGuess:
    if not ranked or ranked[0][1] == 0.0:
        return LanguageGuess(None, 0.0, None)
    best_language, best = ranked[0]
    second_language, second = ranked[1] if len(ranked) > 1 else (None, 0.0)
    if best == second:
        return LanguageGuess(None, 0.0, None)
    runner_up = second_language if second > 0.0 else None
    return LanguageGuess(best_language, best - second, runner_up)


def conversation_language(
    current: str | None,
    text: str,
    *,
    default: str = "en",
    candidates: Sequence[str] = SUPPORTED,
) -> str:
    """The language to use after this message.

    Before any language is known, any evidence decides ("hi" -> en). Once there is one, a
    message without evidence, or a short ambiguous one ("ok", "no", "taxi", a name, an
    IBAN, "danke"), keeps it; only a clear lead switches ("hallo" after English does: a
    greeting is clear evidence). With no evidence and no current language: ``default``.
    """
    ranked = _points(text, candidates)
    guess = _guess(ranked)
    if guess.language is None:
        return current if current is not None else default
    if current is None or guess.language == current:
        return guess.language
    best, second = ranked[0][1], ranked[1][1] if len(ranked) > 1 else 0.0
    if guess.score >= SWITCH_LEAD and second * 2 <= best:
        return guess.language
    return current

"""The keyword commands a prospect can type in any state: STOP/START, "a person", "a new link".

Text is compared case-, accent-, punctuation- and emoji-insensitively: "Stop.", "STOP!!",
"arrêt", "ARRET" and "Baja 🙏" all read as their plain words.

Opt-out (``OPT_OUT``) and opt-in (``OPT_IN``) only count when they are the WHOLE message,
optionally with a politeness word ("stop please", "STOP SVP", "baja por favor"), so "please
don't stop", "can I cancel my order?" and "stop loss order" are ordinary messages.

- opt-out: Twilio's default SMS keywords STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT and
  OPT OUT (also "optout", "opt-out"); German STOPP, ABMELDEN, ABBESTELLEN, AUFHÖREN; French
  STOP (what French regulators and carriers use), ARRÊT, ARRÊTER, DÉSABONNER,
  DÉSINSCRIRE, DÉSINSCRIPTION, DÉSABONNEMENT; Spanish BAJA (the usual SMS word in Spain),
  DAR DE BAJA, DARME DE BAJA, CANCELAR SUSCRIPCIÓN. Left out on purpose: "alto" and "parar"
  (not usual, and "alto" answers "how much risk?"). Beware: "baja" and "cancel" also answer
  questions ("¿riesgo alto o bajo?" -> "baja"): flows should not ask questions whose
  one-word answer is an opt-out keyword.
- opt-in: START, UNSTOP (Twilio's defaults without YES: "yes" is consent, not opt-in),
  SUBSCRIBE, OPT IN; German STARTEN; French RÉABONNER; Spanish ALTA, DAR DE ALTA, DARME DE
  ALTA. "start" or "alta" also occur as ordinary answers, so callers act on ``OPT_IN``
  only for an opted-out number and treat it as ordinary text otherwise.

A request for a person (``HUMAN``) or a new invite link (``NEW_INVITE``) may appear
anywhere in a short message (at most ``SHORT_MESSAGE_WORDS`` words), unless a negation
("don't", "nicht", "ne ... pas", "no") comes just before it in the same clause. A bare noun
phrase ("agent", "real person please", "Mitarbeiter bitte", "un humain svp", "asesor
humano") counts only as the whole message, so "are you a person?" (a challenge to the bot,
in any language) and "my husband is an agent" do not. "Call me" counts as asking for a
person (only a person can call), but "call me Max" does not.

The language of a match is the language of its phrase; None for words several languages
share ("stop", "agent").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.language import plain

__all__ = ["SHORT_MESSAGE_WORDS", "Command", "CommandMatch", "parse_command"]

SHORT_MESSAGE_WORDS = 30
"""Longer messages tell a story ("my advisor told me to talk to a person at..."), not a request."""


class Command(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HUMAN = "human"
    NEW_INVITE = "new_invite"


@dataclass(frozen=True)
class CommandMatch:
    """A recognised command; ``phrase`` is the words matched, lower case and without accents."""

    command: Command
    language: str | None
    phrase: str


# --- whole-message keywords --------------------------------------------------------------

_OPT_OUT: dict[str, str | None] = {
    "stop": None,
    "stopall": None,
    "stop all": None,
    "unsubscribe": "en",
    "cancel": "en",
    "end": "en",
    "quit": "en",
    "optout": "en",
    "opt out": "en",
    "stopp": "de",
    "abmelden": "de",
    "abbestellen": "de",
    "aufhoren": "de",
    "arret": "fr",
    "arreter": "fr",
    "desabonner": "fr",
    "se desabonner": "fr",
    "me desabonner": "fr",
    "desabonnement": "fr",
    "desinscrire": "fr",
    "me desinscrire": "fr",
    "desinscription": "fr",
    "baja": "es",
    "dar de baja": "es",
    "darme de baja": "es",
    "cancelar suscripcion": "es",
}
_OPT_IN: dict[str, str | None] = {
    "start": None,
    "unstop": "en",
    "subscribe": "en",
    "optin": "en",
    "opt in": "en",
    "starten": "de",
    "reabonner": "fr",
    "me reabonner": "fr",
    "alta": "es",
    "dar de alta": "es",
    "darme de alta": "es",
}
_POLITE: dict[str, str] = {
    "please": "en",
    "pls": "en",
    "plz": "en",
    "thanks": "en",
    "thank you": "en",
    "bitte": "de",
    "danke": "de",
    "svp": "fr",
    "stp": "fr",
    "s il vous plait": "fr",
    "s il te plait": "fr",
    "merci": "fr",
    "por favor": "es",
    "porfa": "es",
    "gracias": "es",
}
# Leading polite words: "please stop" -> "stop". The trailing ones are found by
# ``_polite_edges`` without a regular expression: "(.*?)(?: polite)*$" tries the whole
# tail again at every word, quadratic in a long message of polite words.
_POLITE_LEAD = re.compile(rf"(?:({'|'.join(_POLITE)}) )*")

# --- phrases inside a short message -----------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    command: Command
    language: str
    pattern: re.Pattern[str]


def _rules(command: Command, language: str, *patterns: str) -> list[_Rule]:
    return [_Rule(command, language, re.compile(rf"\b(?:{p})\b")) for p in patterns]


def _any(choices: str) -> str:
    """A regex group of comma-separated ``choices`` (which may be phrases or regexes)."""
    return "(?:" + "|".join(choice.strip() for choice in choices.split(",")) + ")"


def _maybe(choices: str) -> str:
    """An optional word from ``choices`` followed by a space."""
    return f"(?:{_any(choices)} )?"


def _whole(fillers: str, adjectives: str, nouns: str, after: str) -> str:
    """A message that is only a person-noun, with fillers around it ("un humain svp")."""
    fill = _any(fillers)
    return rf"^(?:{fill} )*{_maybe(adjectives)}{_any(nouns)}(?: {_any(after)})?(?: {fill})*$"


# Determiners, adjectives and nouns of "a real person"; *_ANYONE adds words that only make
# sense after a verb ("talk to someone"), never alone or after "I need" ("I need someone to").
_EN_ART = _maybe("a, an, the, some, your, any, one of your")
_EN_ADJ = _maybe("real, actual, live, human, financial, personal, investment, customer")
_EN_PERSON = (
    "person, human, human being, agent, advis[eo]r, representative, operator, consultant, banker"
)
_EN_ANYONE = _any(
    f"{_EN_PERSON}, people, rep, someone, somebody, anyone, anybody, staff, employee,"
    " member of staff, manager, expert, specialist, support"
)
_DE_ART = _maybe("einem, einer, einen, eine, ein, dem, der, den, ihrem, ihren, ihrer, eurem, euren")
_DE_ADJ = _maybe(
    "echten, echter, echte, echtem, richtigen, richtiger, realen, realer, menschlichen,"
    " menschlicher, personlichen"
)
_DE_PERSON = (
    "menschen, mensch, mitarbeiter, mitarbeiterin, berater, beraterin, kundenberater,"
    " kundenberaterin, anlageberater, ansprechpartner, ansprechpartnerin, agenten, experten,"
    " expertin, betreuer, betreuerin, person"
)
_DE_ANYONE = _any(f"{_DE_PERSON}, jemandem, jemanden, jemand, kundenservice, support")
_FR_ART = _maybe("un, une, le, la, l, votre, un de vos, une de vos")
_FR_ADJ = _maybe("vrai, vraie, veritable")
_FR_PERSON = (
    "humain, humaine, etre humain, conseiller, conseillere, agent, agente, operateur,"
    " operatrice, interlocuteur, interlocutrice, banquier, banquiere"
)
_FR_ANYONE = _any(
    f"{_FR_PERSON}, personne, quelqu un, employe, employee, expert, collaborateur,"
    " collaboratrice, service client"
)
_ES_ART = _maybe("un, una, el, la, algun, alguna, su, uno de sus, una de sus")
_ES_ADJ = _maybe("verdadero, verdadera")
_ES_PERSON = (
    "persona, humano, ser humano, agente, asesor, asesora, operador, operadora, ejecutivo,"
    " ejecutiva, representante, gestor, gestora"
)
_ES_ANYONE = _any(
    f"{_ES_PERSON}, alguien, empleado, empleada, especialista, experto, atencion al cliente"
)
# "call me" asks for a person unless a name follows ("call me Max").
_EN_AFTER_CALL_ME = _any(
    "back, please, pls, plz, asap, now, today, tomorrow, later, tonight, on, at, about, when,"
    " if, this, right"
)

_HUMAN_RULES = [
    *_rules(
        Command.HUMAN,
        "en",
        _any("talk, speak, chat, connect me, put me through, transfer me")
        + f" {_any('to, with')} {_EN_ART}{_EN_ADJ}{_EN_ANYONE}",
        _any("want, need, like, get, have, prefer")
        + f" (?:to {_any('have, get')} )?{_EN_ART}{_EN_ADJ}{_any(_EN_PERSON)}",
        f"{_any('is, are')} there {_EN_ART}{_EN_ADJ}{_any(_EN_PERSON)}",
        rf"{_any('call, ring, phone')} me(?= {_EN_AFTER_CALL_ME}\b|$)",
        f"give me a {_any('call, ring')}",
    ),
    *_rules(
        Command.HUMAN,
        "de",
        f"mit {_DE_ART}{_DE_ADJ}{_DE_ANYONE}"
        + r"(?: \w+){0,4}? "
        + _any("sprechen, reden, telefonieren, chatten, schreiben, verbinden"),
        _any("sprechen, reden, telefonieren, chatten, verbinden sie mich, verbinde mich")
        + f" mit {_DE_ART}{_DE_ADJ}{_DE_ANYONE}",
        f"{_any('einen, eine, den, die')} {_DE_ADJ}{_any(_DE_PERSON)}" + r"(?: \w+){0,2}? sprechen",
        _any("will, mochte, moechte, brauche, hatte gerne?, wunsche")
        + f" {_maybe('bitte, gerne?')}{_DE_ART}{_DE_ADJ}{_any(_DE_PERSON)}",
        _any("ruf, rufen sie, ruft, rufen") + r" mich(?: \w+){0,2}? " + _any("zuruck, an"),
        r"mich(?: \w+){0,2}? " + _any("anrufen, zuruckrufen"),
        "ruckruf",
    ),
    *_rules(
        Command.HUMAN,
        "fr",
        _any("parler, discuter, echanger, communiquer, en relation")
        + f" {_any('a, avec')} {_FR_ART}{_FR_ADJ}{_FR_ANYONE}",
        _any("veux, voudrais, souhaite, souhaiterais, aimerais, besoin d, demande")
        + f" {_FR_ART}{_FR_ADJ}{_any(_FR_PERSON + ', une (?:vraie )?personne')}",
        _any("appelez, appelle, rappelez, rappelle") + " moi",
        f"{_any('m, me')} {_any('appeler, rappeler')}",
        "etre rappelee?",
    ),
    *_rules(
        Command.HUMAN,
        "es",
        _any("hablar, conversar, chatear, comunicarme, contactar")
        + f" {_maybe('con, a')}{_ES_ART}{_ES_ADJ}{_ES_ANYONE}",
        _any(
            "quiero, necesito, quisiera, prefiero, me gustaria, pasame con, paseme con,"
            " pasadme con, ponme con, pongame con"
        )
        + f" {_ES_ART}{_ES_ADJ}{_any(_ES_PERSON)}",
        _any("llamame, llameme, llamenme, llamadme, que me llamen, me llamas"),
        f"me {_any('puede, pueden, podeis, podrias, podria, podrian')} llamar",
    ),
    *_rules(
        Command.HUMAN,
        "en",
        _whole(
            "a, an, the, please, pls, plz, i want, i need, id like, i d like, get me, give me,"
            " can i have, can i get, just, hi, hello, now, asap, thanks",
            "real, actual, live, human",
            f"{_EN_PERSON}, live chat, customer service",
            "please",
        ),
    ),
    *_rules(
        Command.HUMAN,
        "de",
        _whole(
            "bitte, danke, gerne, gern, einen, eine, einem, ein, mit, ich will, ich mochte,"
            " ich brauche, hallo, jetzt, sofort, nur, mal",
            "echter, echten, echte, richtiger, menschlicher",
            "mensch, menschen, mitarbeiter, mitarbeiterin, berater, beraterin, kundenberater,"
            " ansprechpartner, kundenservice",
            "bitte",
        ),
    ),
    *_rules(
        Command.HUMAN,
        "fr",
        _whole(
            "svp, stp, s il vous plait, s il te plait, merci, un, une, le, la, je veux,"
            " je voudrais, avec, a, bonjour, maintenant",
            "vrai, vraie, veritable",
            f"{_FR_PERSON}, vraie personne, personne reelle, personne physique, service client",
            "humain, humaine, reel, reelle",
        ),
    ),
    *_rules(
        Command.HUMAN,
        "es",
        _whole(
            "por favor, porfa, porfavor, gracias, un, una, con, quiero, necesito, hola, ahora, ya",
            "verdadero, verdadera",
            f"{_ES_PERSON}, persona real",
            "humano, humana, real, de verdad",
        ),
    ),
]

_EN_LINK = _any("link, invite, invitation")
_DE_LINK = _any("link, einladung, einladungslink, zugangslink")
_FR_LINK = _any("lien, invitation")
_ES_LINK = _any("enlace, link, vinculo, invitacion")

_INVITE_RULES = [
    *_rules(
        Command.NEW_INVITE,
        "en",
        _any("new, another, fresh, different, working, valid")
        + f" {_maybe('secure, invite, invitation, access, login')}{_any('link, invite, invitation, code')}",  # noqa: E501
        f"resend (?:me )?{_maybe('the, my, a')}{_EN_LINK}",
        f"{_any('send, give')} (?:me )?{_maybe('the, my, a')}{_EN_LINK} again",
        f"{_EN_LINK} {_maybe('has, had, is, was')}{_any('expired, broken, invalid, dead')}",
        f"{_EN_LINK} "
        + _any(
            _any("doesnt, does not, didnt, did not, isnt, is not, wont, will not, dont")
            + f" {_any('work, working, open')}, not working"
        ),
        f"expired {_EN_LINK}",
    ),
    *_rules(
        Command.NEW_INVITE,
        "de",
        _any("neuer, neuen, neue, neues, anderen, anderer, frischen, gultigen, funktionierenden")
        + f" {_any('link, einladung, einladungslink, zugangslink, code, zugangscode')}",
        f"{_DE_LINK} {_maybe('ist, war')}{_maybe('schon, bereits, leider')}"
        + _any("abgelaufen, ungultig, kaputt, defekt"),
        f"{_DE_LINK} {_any('funktioniert, geht, klappt')}" + r"(?: \w+)? nicht",
        _DE_LINK + r"(?: \w+){0,2}? " + _any("nochmal, noch einmal, erneut"),
        _any("nochmal, noch einmal, erneut") + r"(?: \w+){0,2}? " + _DE_LINK,
    ),
    *_rules(
        Command.NEW_INVITE,
        "fr",
        f"{_any('nouveau, nouvel, nouvelle, autre')} {_any('lien, invitation, code')}",
        f"{_FR_LINK} {_maybe('a, est, semble')}(?:deja )?"
        + _any("expire, expiree, perime, perimee, invalide, casse, mort"),
        f"{_FR_LINK} {_maybe('ne, n')}{_any('marche, fonctionne, s ouvre')}" + r"(?: \w+)? pas",
        _any("renvoyer, renvoyez, renvoie, reenvoyer, redonner, redonnez")
        + f"(?: moi| nous)? {_maybe('le, un, l, mon')}{_FR_LINK}",
    ),
    *_rules(
        Command.NEW_INVITE,
        "es",
        f"{_any('nuevo, otro, nueva, otra')} {_any('enlace, link, vinculo, invitacion, codigo')}",
        f"{_ES_LINK} {_any('nuevo, nueva')}",
        f"{_ES_LINK} {_maybe('ha, se ha, esta, ya')}"
        + _any(
            "caducado, caducada, expirado, expirada, vencido, vencida, caduco, expiro, vencio,"
            " invalido"
        ),
        f"{_ES_LINK} no {_any('funciona, sirve, abre, va')}",
        r"reenvi\w*(?: (?:otra vez|de nuevo))? " + f"{_maybe('el, un, la, otro')}{_ES_LINK}",
    ),
]

# A negation among the few words before a request cancels it ("I don't want to talk to a
# person"); further back it usually belongs to something else ("not sure, can I talk...").
_NEGATIONS: dict[str, frozenset[str]] = {
    "en": frozenset(["not", "dont", "doesnt", "didnt", "wont", "never", "without"]),
    "de": frozenset(["nicht", "kein", "keine", "keinen", "keinem", "nie", "niemals"]),
    "fr": frozenset(["ne", "n", "pas", "jamais"]),
    "es": frozenset(["no", "nunca", "ni"]),
}
_NEGATION_WINDOW = 3

_CONTRACTION = re.compile(r"n't\b")
_CLAUSE_BREAK = re.compile(r"[.,;:!?¿¡\n]+")
_NOT_WORD = re.compile(r"[\W_]+")


def _words_only(text: str) -> str:
    """Lower-case words separated by single spaces: no accents, punctuation or emoji."""
    return " ".join(_NOT_WORD.sub(" ", text).split())


def _keyword(message: str, table: dict[str, str | None]) -> tuple[str, str | None] | None:
    """The keyword ``message`` consists of, with its language, allowing politeness around it."""
    lead, keyword, trail = _polite_edges(message)
    if keyword not in table:
        return None
    polite = lead or trail
    language = table[keyword] or (_POLITE[polite] if polite else None)
    return keyword, language


def _polite_edges(message: str) -> tuple[str | None, str, str | None]:
    """``message`` split into its last leading polite word, what is between the polite
    words at either edge, and its last trailing one (None where there is none).

    The middle is the shortest one after the leading polite words such that the rest is
    polite words only, each after a space; the trailing polite words are read as the
    first of ``_POLITE`` that fits, in order, leaving a tail that is polite words too.
    One pass from the end finds every such tail, so the split is linear in the message.
    """
    lead = _POLITE_LEAD.match(message)
    assert lead is not None  # the pattern matches the empty string
    start = lead.end()
    # tail[i]: the first polite word of a split of message[i:] into " polite" parts, ""
    # at the end, None where there is no such split.
    size = len(message)
    tail: list[str | None] = [None] * (size + 1)
    tail[size] = ""
    for i in range(size - 1, start - 1, -1):
        if message[i] != " ":
            continue
        for word in _POLITE:
            after = i + 1 + len(word)
            if message.startswith(word, i + 1) and tail[after] is not None:
                tail[i] = word
                break
    middle_end = next(i for i in range(start, size + 1) if tail[i] is not None)
    trail: str | None = None
    i = middle_end
    while i < size:
        trail = tail[i]
        assert trail is not None
        i += 1 + len(trail)
    return lead.group(1), message[start:middle_end], trail


def _negated(clause: str, start: int, language: str) -> bool:
    before = clause[:start].split()[-_NEGATION_WINDOW:]
    return not _NEGATIONS[language].isdisjoint(before)


def _find(clauses: list[str], rules: list[_Rule]) -> CommandMatch | None:
    languages: list[str] = []
    phrase = ""
    for clause in clauses:
        for rule in rules:
            found = rule.pattern.search(clause)
            if found is None or _negated(clause, found.start(), rule.language):
                continue
            if rule.language not in languages:
                languages.append(rule.language)
            phrase = phrase or found.group(0)
        if languages:
            language = languages[0] if len(languages) == 1 else None
            return CommandMatch(rules[0].command, language, phrase)
    return None


def parse_command(text: str) -> CommandMatch | None:
    """The command ``text`` gives, if any; opt-out wins over everything else."""
    folded = _CONTRACTION.sub("nt", plain(text))
    message = _words_only(folded)
    for command, table in ((Command.OPT_OUT, _OPT_OUT), (Command.OPT_IN, _OPT_IN)):
        keyword = _keyword(message, table)
        if keyword is not None:
            return CommandMatch(command, keyword[1], keyword[0])
    if not message or len(message.split()) > SHORT_MESSAGE_WORDS:
        return None
    clauses = [_words_only(part) for part in _CLAUSE_BREAK.split(folded)]
    clauses = [clause for clause in clauses if clause]
    return _find(clauses, _HUMAN_RULES) or _find(clauses, _INVITE_RULES)

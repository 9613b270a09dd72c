"""Qualifying a prospect: the questions marketing asks, and reading the answers out of
what the prospect writes.

The bot asks, in flow order, what the prospect is interested in (``product``), whether
they are already a client, where they live, which language they prefer and when they
would like to be contacted. Prospects do not answer like a form: they say several
things at once ("a mortgage, I live in Spain"), answer a question before it is asked,
change their mind, or ask something else instead. So:

- A product, a country, a language or a contact time is recognised in any message,
  whichever question was asked: by the flow's words for products and contact times, by
  country and language names (``bot.domain.place_names``), whole words, ignoring case
  and accents. The names of the conversation's language always count; when the question
  asked is the country (language), the names in every flow language count too, so
  "Alemania" answers an English prospect asked where they live, while "Island" in an
  English sentence is not Iceland.
- A bare yes or no (the flow's words, or Rasa's ``affirm``/``deny``) means nothing on
  its own, so it answers only the question asked: existing_client -> yes/no; country ->
  yes is the number's country; language -> yes is the conversation's language. A no to
  the country or the language answers nothing: the question is asked again.
- A skip word ("rather not say") skips an optional question; a required one is not
  skipped (``refused_skip``), so the bot can say why it needs the answer.
- A general question (fees, opening hours, "are you a bot?") is not an answer even if it
  names a product: the caller passes Rasa's intent and such intents give nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bot.domain.flows import fold
from bot.domain.phone_country import COUNTRY_CODES
from bot.domain.place_names import country_name, country_names, language_name, language_names

__all__ = [
    "GENERAL_INTENTS",
    "SKIPPED",
    "SLOTS",
    "TEXT_KEYS",
    "WORD_KINDS",
    "ContactTime",
    "Parsed",
    "Qualification",
    "Question",
    "is_complete",
    "next_question",
    "parse_answers",
]

SLOTS: tuple[str, ...] = ("product", "existing_client", "country", "language", "contact_time")
SKIPPED = "skipped"
# ignore: phrases read past before anything else ("good morning" is no contact time).
# filler: the small words around an answer ("please", "I live in"); they answer nothing,
# and a message made of answers and fillers alone is an answer (see answer_only).
WORD_KINDS: tuple[str, ...] = ("yes", "no", "skip", "ignore", "filler")
# required: a required question was skipped; changed: an answer was changed; done: every
# question is answered; no_contact_time: what {contact_time} says when none was given.
TEXT_KEYS: tuple[str, ...] = ("required", "changed", "done", "no_contact_time")
# Rasa intents of messages that ask something rather than answer: nothing is read in them.
GENERAL_INTENTS = frozenset(
    {
        "ask_fees",
        "ask_open_account",
        "ask_opening_hours",
        "bot_challenge",
        "request_human",
        "ask_invite_status",
        "goodbye",
        "thank",
        "out_of_scope",
    }
)
_YES_INTENT, _NO_INTENT, _SKIP_INTENT = "affirm", "deny", "skip_question"
# lexicon()'s language for a word kind's phrases in all the flow's languages together.
_EVERY_LANGUAGE = "*"
_ASK_PREFIX, _TEXT_PREFIX = "utter_ask_", "utter_qualification_"


@dataclass(frozen=True)
class Question:
    slot: str
    required: bool
    ask: Mapping[str, str]  # language -> wording
    # Only for the country: the wording when the number's country is not known.
    ask_unknown: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContactTime:
    say: Mapping[str, str]  # language -> how the bot says it ("in the morning")
    words: Mapping[str, tuple[str, ...]]  # language -> what prospects write


def _alternation(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for all ``phrases`` (already folded), longest first, so that at any
    place the longest phrase wins ("papua new guinea" over "guinea")."""
    parts = sorted({" ".join(p.split()) for p in phrases if p.strip()}, key=len, reverse=True)
    if not parts:
        return None
    body = "|".join(r"\s+".join(map(re.escape, p.split())) for p in parts)
    return re.compile(r"(?<!\w)(?:" + body + r")(?!\w)")


@dataclass(frozen=True)
class _Lexicon:
    """Folded phrase -> value, and the pattern finding the phrases in folded text."""

    values: Mapping[str, str]
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, values: Mapping[str, str]) -> _Lexicon:
        folded = {" ".join(fold(k)[0].split()): v for k, v in values.items()}
        return cls(folded, _alternation(folded))

    def find(self, folded_text: str) -> list[str]:
        """The values named in the text, in the order they are written."""
        if self.pattern is None:
            return []
        found = self.pattern.finditer(folded_text)
        return [self.values[" ".join(m.group(0).split())] for m in found]


@dataclass(frozen=True)
class Qualification:
    """The flow's ``qualification`` section."""

    questions: tuple[Question, ...]
    products: Mapping[str, Mapping[str, tuple[str, ...]]]  # product -> language -> words
    contact_times: Mapping[str, ContactTime]
    words: Mapping[str, Mapping[str, tuple[str, ...]]]  # yes | no | skip -> language -> words
    texts: Mapping[str, Mapping[str, str]]  # TEXT_KEYS -> language -> wording
    _lexicons: dict[tuple[str, str], _Lexicon] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(q.slot for q in self.questions)

    def question(self, slot: str) -> Question | None:
        return next((q for q in self.questions if q.slot == slot), None)

    def lexicon(self, kind: str, language: str) -> _Lexicon:
        """Phrases of one kind (product, contact_time, yes, no, skip, country,
        language) in one language, compiled once."""
        key = (kind, language)
        if key not in self._lexicons:
            values: dict[str, str]
            if kind == "product":
                values = _by_phrase(self.products, language)
            elif kind == "contact_time":
                values = _by_phrase({k: t.words for k, t in self.contact_times.items()}, language)
            elif kind == "country":
                values = country_names(language)
            elif kind == "language":
                values = language_names(language)
            elif language == _EVERY_LANGUAGE:
                values = {w: kind for ws in self.words.get(kind, {}).values() for w in ws}
            else:
                values = {w: kind for w in self.words.get(kind, {}).get(language, ())}
            self._lexicons[key] = _Lexicon.of(values)
        return self._lexicons[key]

    def response_names(self) -> frozenset[str]:
        """The Rasa responses this section words: ``utter_ask_<slot>`` for each question,
        ``utter_qualification_required``, ``_changed`` and ``_done``."""
        texts = (f"{_TEXT_PREFIX}{key}" for key in TEXT_KEYS if key != "no_contact_time")
        return frozenset({*(f"{_ASK_PREFIX}{slot}" for slot in self.slots), *texts})

    def wording(
        self,
        name: str,
        language: str,
        *,
        number_country: str | None = None,
        contact_time: str | None = None,
    ) -> str | None:
        """Response ``name`` in ``language`` (one of the flow's), placeholders filled:
        {number_country} the name, in ``language``, of the number's country (ISO code;
        unknown: the question's ``ask_unknown``), {language_name} the language's own
        name, {contact_time} how the bot says the contact time the prospect chose
        (``no_contact_time`` when none). None when the section does not word ``name``."""
        when = self.contact_times.get(contact_time or "")
        country = country_name(number_country, language) if number_country else None
        values = {
            "number_country": country or "",
            "language_name": language_name(language),
            "contact_time": when.say[language] if when else self.texts["no_contact_time"][language],
        }
        if name.startswith(_ASK_PREFIX):
            question = self.question(name.removeprefix(_ASK_PREFIX))
            if question is None:
                return None
            use_unknown = question.ask_unknown and country is None
            template = (question.ask_unknown if use_unknown else question.ask)[language]
        elif name in self.response_names():
            template = self.texts[name.removeprefix(_TEXT_PREFIX)][language]
        else:
            return None
        return template.format_map(values)

    def answer_only(self, text: str) -> bool:
        """True when ``text`` is made of nothing but this section's answer words, in any
        of the flow's languages: products, countries, languages, contact times, yes, no,
        skip and fillers ("English please", "Spain, mornings", "nope").

        Such a message answers a question and can disclose nothing, so the learned
        sensitivity model, which never saw answers to these questions and reads "English
        please" as close to "buy please", is not asked about it. A digit, or any word
        not in the section, makes it a message like any other.
        """
        folded = fold(text)[0]
        answers = ("product", "contact_time", "country", "language", "yes", "no", "skip", "ignore")
        for language in self.languages:
            for kind in answers:
                pattern = self.lexicon(kind, language).pattern
                if pattern is not None:
                    folded = pattern.sub(" ", folded)
        # The fillers of every language at once, longest first: German "in" must not
        # break up English "i live in".
        fillers = self.lexicon("filler", _EVERY_LANGUAGE).pattern
        if fillers is not None:
            folded = fillers.sub(" ", folded)
        return bool(text.strip()) and re.search(r"\w", folded) is None

    @property
    def languages(self) -> tuple[str, ...]:
        found = {lang for q in self.questions for lang in q.ask}
        return tuple(sorted(found))


def _by_phrase(
    entries: Mapping[str, Mapping[str, tuple[str, ...]]], language: str
) -> dict[str, str]:
    return {word: key for key, langs in entries.items() for word in langs.get(language, ())}


@dataclass(frozen=True)
class Parsed:
    answers: dict[str, str]  # slot -> value found in this message
    refused_skip: bool = False


def _first(found: list[str]) -> str | None:
    return found[0] if found else None


def parse_answers(
    q: Qualification,
    text: str,
    language: str | None,
    intent: str | None,
    requested_slot: str | None,
    number_country: str | None,
) -> Parsed:
    """The answers in one message (see the module's docstring for the rules).

    ``language`` is the conversation's (None: not known yet, every flow language is
    used), ``requested_slot`` the question the bot asked last (None: none), and
    ``number_country`` the ISO code of the prospect's number (None: unknown).
    """
    if intent in GENERAL_INTENTS:
        return Parsed({})
    all_langs = q.languages
    own = (language,) if language in all_langs else all_langs
    folded = fold(text)[0]
    for lang in all_langs:
        ignored = q.lexicon("ignore", lang).pattern
        folded = folded if ignored is None else ignored.sub(" ", folded)
    slots = set(q.slots)
    answers: dict[str, str] = {}

    def look(kind: str, wide: bool) -> str | None:
        for langs in (own, all_langs) if wide else (own,):
            for lang in langs:
                found = _first(q.lexicon(kind, lang).find(folded))
                if found is not None:
                    return found
        return None

    for slot in ("product", "contact_time"):
        if slot in slots and (value := look(slot, True)) is not None:
            answers[slot] = value
    if "country" in slots:
        value = look("country", requested_slot == "country")
        if value is None and not any(look(w, False) for w in ("yes", "no", "skip")):
            value = _iso_code(text, requested_slot)  # "no" is a no, not Norway
        if value is not None:
            answers["country"] = value
    if "language" in slots and (value := look("language", requested_slot == "language")):
        answers["language"] = value
    if requested_slot is None or requested_slot not in slots or requested_slot in answers:
        return Parsed(answers)
    # Short words are read in the conversation's language only: Spanish "y" is no "yes".
    if intent == _SKIP_INTENT or look("skip", False) is not None:
        question = q.question(requested_slot)
        if question is not None and question.required:
            return Parsed(answers, refused_skip=True)
        return Parsed({**answers, requested_slot: SKIPPED})
    said = {w for w in ("yes", "no") if look(w, False) is not None}
    if not said:
        said = {"yes"} if intent == _YES_INTENT else {"no"} if intent == _NO_INTENT else set()
    if len(said) != 1:  # nothing, or both: not an answer
        return Parsed(answers)
    yes = said == {"yes"}
    value = None
    if requested_slot == "existing_client":
        value = "yes" if yes else "no"
    elif requested_slot == "country" and yes:
        value = number_country
    elif requested_slot == "language" and yes:
        value = language
    return Parsed(answers if value is None else {**answers, requested_slot: value})


_CODE = re.compile(r"(?<![\w.])([A-Za-z]{2})(?![\w])")


def _iso_code(text: str, requested_slot: str | None) -> str | None:
    """An ISO code written for the country: the whole answer to the country question
    ("de", "UK"), or a code in capitals within it ("I'm in the US"). A lower-case
    code inside a sentence is a word ("es", "in", "no"), never a country."""
    if requested_slot != "country":
        return None
    words = re.sub(r"[^\w\s]", " ", text).split()
    if len(words) == 1 and len(words[0]) == 2:
        code = words[0].upper()
        code = "GB" if code == "UK" else code
        return code if code in COUNTRY_CODES else None
    for m in _CODE.finditer(text):
        code = m.group(1)
        if code.isupper():
            code = "GB" if code == "UK" else code
            if code in COUNTRY_CODES:
                return code
    return None


def next_question(q: Qualification, answers: Mapping[str, str | None]) -> str | None:
    """The first question (flow order) neither answered nor skipped; None when done."""
    return next((s for s in q.slots if answers.get(s) is None), None)


def is_complete(q: Qualification, answers: Mapping[str, str | None]) -> bool:
    return next_question(q, answers) is None

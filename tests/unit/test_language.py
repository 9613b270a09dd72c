"""The bot's language: detected from the prospect's messages, switched only on clear evidence."""

from __future__ import annotations

import time

import pytest

from bot.domain.language import (
    SUPPORTED,
    LanguageGuess,
    conversation_language,
    guess_language,
    plain,
)

GREETINGS_AND_SENTENCES = [
    ("hi", "en"),
    ("Hello!", "en"),
    ("I want to open an account", "en"),
    ("How much does it cost?", "en"),
    ("hallo", "de"),
    ("Guten Tag", "de"),
    ("moin", "de"),
    ("ich möchte ein konto eröffnen", "de"),
    ("was kostet das?", "de"),
    ("bonjour", "fr"),
    ("salut", "fr"),
    ("coucou", "fr"),
    ("je voudrais ouvrir un compte", "fr"),
    ("combien ça coûte", "fr"),
    ("j'ai une question", "fr"),
    ("hola", "es"),
    ("buenas", "es"),
    ("buenos dias", "es"),
    ("Buenos días", "es"),
    ("quiero abrir una cuenta", "es"),
    ("cuánto cuesta", "es"),
    ("¿Puedo abrir una cuenta?", "es"),
]

NO_EVIDENCE = [
    "ok",
    "OK!",
    "👍",
    "12345",
    "no",
    "taxi",
    "hotel",
    "app",
    "ETF",
    "IBAN",
    "Tesla",
    "Maria",
    "DE89370400440532013000",
    "GB82 WEST 1234 5698 7654 32",
    "max@example.com",
    "+44 7700 900123",
    "https://example.com/konto",
    "",
]

SHORT_AMBIGUOUS = ["ok", "no", "taxi", "Maria", "ES9121000418450200051332", "👍", "42", "hotel"]


@pytest.mark.parametrize(("text", "language"), GREETINGS_AND_SENTENCES)
def test_greetings_and_sentences_are_recognised(text: str, language: str) -> None:
    """A greeting or a simple sentence in any of the four languages is recognised."""
    assert guess_language(text).language == language


@pytest.mark.parametrize(("text", "language"), GREETINGS_AND_SENTENCES)
def test_first_message_sets_the_conversation_language(text: str, language: str) -> None:
    """The prospect's first message with any evidence decides the conversation language."""
    assert conversation_language(None, text) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("ICH MÖCHTE EIN KONTO ERÖFFNEN", "de"),
        ("ich mochte ein konto eroffnen", "de"),
        ("CUANTO CUESTA", "es"),
        ("COMBIEN CA COUTE", "fr"),
        ("i want to open an account", "en"),
    ],
)
def test_case_and_accents_do_not_matter(text: str, language: str) -> None:
    """Prospects typing in capitals or without accents are still recognised."""
    assert guess_language(text).language == language


@pytest.mark.parametrize("text", NO_EVIDENCE)
def test_shared_words_names_numbers_and_identifiers_carry_no_evidence(text: str) -> None:
    """Words common to several languages, brands, names, numbers and IBANs say nothing."""
    assert guess_language(text) == LanguageGuess(None, 0.0, None)


@pytest.mark.parametrize("current", SUPPORTED)
@pytest.mark.parametrize("text", SHORT_AMBIGUOUS)
def test_short_ambiguous_messages_keep_the_current_language(current: str, text: str) -> None:
    """An "ok", a "no", a name or an IBAN never moves the conversation to another language."""
    assert conversation_language(current, text) == current


@pytest.mark.parametrize(
    ("current", "text"),
    [
        ("de", "hi"),
        ("de", "thanks"),
        ("en", "danke"),
        ("es", "merci"),
        ("fr", "gracias"),
        ("en", "Müller"),
        ("fr", "Muñoz"),
    ],
)
def test_one_ordinary_word_does_not_switch(current: str, text: str) -> None:
    """A lone "hi", "thanks" or a name with an umlaut is a hint, not a switch."""
    assert conversation_language(current, text) == current


@pytest.mark.parametrize(
    ("current", "text", "switched_to"),
    [
        ("en", "hallo", "de"),
        ("en", "moin", "de"),
        ("de", "bonjour", "fr"),
        ("es", "salut", "fr"),
        ("fr", "hola", "es"),
        ("de", "buenas", "es"),
        ("es", "Hello", "en"),
        ("es", "I want to open an account", "en"),
        ("en", "ich möchte ein konto eröffnen", "de"),
        ("de", "je voudrais ouvrir un compte", "fr"),
        ("fr", "quiero abrir una cuenta", "es"),
        ("de", "hallo, I want to open an account", "en"),
    ],
)
def test_a_clear_message_in_another_language_switches(
    current: str, text: str, switched_to: str
) -> None:
    """A greeting or a sentence in another language switches the conversation to it."""
    assert conversation_language(current, text) == switched_to


@pytest.mark.parametrize("text", ["ok", "👍", "12345", "DE89370400440532013000"])
def test_no_evidence_and_no_language_yet_gives_the_default(text: str) -> None:
    """Before the prospect has written a word of any language, the flow's default is used."""
    assert conversation_language(None, text) == "en"
    assert conversation_language(None, text, default="de") == "de"


def test_the_same_language_keeps_the_conversation() -> None:
    """A message in the conversation's own language keeps it."""
    assert conversation_language("fr", "merci beaucoup") == "fr"


def test_only_candidate_languages_are_detected() -> None:
    """A flow that declares only some languages never switches to another one."""
    assert guess_language("hola", candidates=("en", "de")).language is None
    assert conversation_language("en", "quiero abrir una cuenta", candidates=("en", "de")) == "en"
    assert guess_language("hallo", candidates=("en", "de", "it")).language == "de"


def test_the_guess_names_the_runner_up_and_the_lead() -> None:
    """A mixed message reports the winner, how far it leads and which language came second."""
    guess = guess_language("hallo, I want to open an account")
    assert guess == LanguageGuess("en", 3.0, "de")


def test_a_tie_is_no_guess() -> None:
    """Two greetings in two languages leave the language open."""
    assert guess_language("hallo hola").language is None


def test_text_is_compared_without_case_or_accents() -> None:
    """Capitals, umlauts, accents and curly apostrophes are compared plainly."""
    assert plain("Grüß Gott, ÇA coûte j’ai") == "gruss gott, ca coute j'ai"


def test_guessing_is_fast() -> None:
    """Detection costs well under 0.2 ms per message, so it never slows the pipeline."""
    messages = [text for text, _ in GREETINGS_AND_SENTENCES] * 50
    start = time.perf_counter()
    for text in messages:
        conversation_language("en", text)
    per_message = (time.perf_counter() - start) / len(messages)
    assert per_message < 0.0002

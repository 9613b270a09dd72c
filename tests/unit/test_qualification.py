"""Reading qualification answers out of what prospects write, in the four languages of
the shipped flow: in any order, changed, skipped, confirmed with a yes, and never out of
a general question."""

from __future__ import annotations

import pytest

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.domain.qualification import (
    SKIPPED,
    Parsed,
    Qualification,
    is_complete,
    next_question,
    parse_answers,
)
from bot.domain.qualification_display import in_plain_words


@pytest.fixture(scope="module")
def q() -> Qualification:
    flow = load_flow(DEFAULT_FLOW_PATH)
    assert flow.qualification is not None
    return flow.qualification


def read(
    q: Qualification,
    text: str,
    language: str = "en",
    asked: str | None = None,
    intent: str | None = None,
    number_country: str | None = "DE",
) -> Parsed:
    return parse_answers(q, text, language, intent, asked, number_country)


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en", "a mortgage, I live in Spain", {"product": "mortgage", "country": "ES"}),
        (
            "de",
            "Ich wohne in Österreich und möchte eine Baufinanzierung",
            {"product": "mortgage", "country": "AT"},
        ),
        (
            "fr",
            "j'habite en Belgique et je voudrais investir",
            {"product": "investments", "country": "BE"},
        ),
        (
            "es",
            "vivo en Francia, me interesa una hipoteca",
            {"product": "mortgage", "country": "FR"},
        ),
        (
            "en",
            "call me in the evening please, about my pension",
            {"product": "pension", "contact_time": "evening"},
        ),
        ("de", "lieber auf Englisch, und abends", {"language": "en", "contact_time": "evening"}),
        ("fr", "plutôt le matin, en espagnol", {"language": "es", "contact_time": "morning"}),
        (
            "es",
            "un plan de pensiones, por la tarde",
            {"product": "pension", "contact_time": "afternoon"},
        ),
    ],
)
def test_answers_in_any_order_in_one_message(
    q: Qualification, language: str, text: str, expected: dict[str, str]
) -> None:
    assert read(q, text, language, asked="product").answers == expected


@pytest.mark.parametrize(
    ("language", "text", "product"),
    [
        ("en", "I'd like a savings account", "savings"),
        ("en", "INVESTING in ETFs", "investments"),
        ("de", "ein Girokonto", "current_account"),
        ("de", "Tagesgeld", "savings"),
        ("fr", "un compte épargne", "savings"),
        ("fr", "un PRET IMMOBILIER", "mortgage"),
        ("es", "una cuenta corriente", "current_account"),
        ("es", "inversion", "investments"),
    ],
)
def test_products_are_whole_words_ignoring_case_and_accents(
    q: Qualification, language: str, text: str, product: str
) -> None:
    assert read(q, text, language).answers == {"product": product}


def test_a_word_inside_another_is_no_product(q: Qualification) -> None:
    assert read(q, "I'm saved, thanks", "en").answers == {}


@pytest.mark.parametrize(
    ("language", "yes", "no"),
    [("en", "yes", "no"), ("de", "ja", "nein"), ("fr", "oui", "non"), ("es", "sí", "no")],
)
def test_yes_and_no_answer_only_the_question_asked(
    q: Qualification, language: str, yes: str, no: str
) -> None:
    assert read(q, yes, language, asked="existing_client").answers == {"existing_client": "yes"}
    assert read(q, no, language, asked="existing_client").answers == {"existing_client": "no"}
    # The number's country, offered to confirm, and the conversation's language.
    assert read(q, yes, language, asked="country").answers == {"country": "DE"}
    assert read(q, yes, language, asked="language").answers == {"language": language}
    # A no to those answers nothing: the question is asked again.
    assert read(q, no, language, asked="country").answers == {}
    assert read(q, no, language, asked="language").answers == {}
    # Without a question asked, or for the product, a yes means nothing.
    assert read(q, yes, language).answers == {}
    assert read(q, yes, language, asked="product").answers == {}


def test_rasa_affirm_and_deny_count_as_yes_and_no(q: Qualification) -> None:
    assert read(q, "yup, that's me", asked="existing_client", intent="affirm").answers == {
        "existing_client": "yes"
    }
    assert read(q, "nah", asked="existing_client", intent="deny").answers == {
        "existing_client": "no"
    }


def test_no_to_the_country_then_the_country_by_name(q: Qualification) -> None:
    assert read(q, "no", asked="country").answers == {}
    assert read(q, "Portugal", asked="country").answers == {"country": "PT"}
    assert read(q, "No, I live in Portugal", asked="country").answers == {"country": "PT"}
    assert read(q, "nein, in Portugal", "de", asked="country").answers == {"country": "PT"}


def test_a_yes_to_the_country_needs_the_numbers_country(q: Qualification) -> None:
    assert read(q, "yes", asked="country", number_country=None).answers == {}


def test_country_names_of_other_languages_count_when_the_country_is_asked(
    q: Qualification,
) -> None:
    assert read(q, "Alemania", "en", asked="country").answers == {"country": "DE"}
    # Not otherwise: "Island" is Iceland in German, but an island in English.
    assert read(q, "I live on an island", "en").answers == {}


@pytest.mark.parametrize(
    ("text", "country"), [("DE", "DE"), ("uk", "GB"), ("I'm in the US", "US"), ("USA", "US")]
)
def test_iso_codes_answer_the_country_question(q: Qualification, text: str, country: str) -> None:
    assert read(q, text, asked="country").answers == {"country": country}


def test_lower_case_codes_inside_a_sentence_are_words(q: Qualification) -> None:
    assert read(q, "it is in my plans", asked="country").answers == {}


@pytest.mark.parametrize(
    ("language", "skip"),
    [
        ("en", "I'd rather not say"),
        ("de", "möchte ich nicht sagen"),
        ("fr", "je préfère ne pas le dire"),
        ("es", "prefiero no decirlo"),
    ],
)
def test_skip_passes_an_optional_question_but_not_a_required_one(
    q: Qualification, language: str, skip: str
) -> None:
    assert read(q, skip, language, asked="existing_client") == Parsed(
        {"existing_client": "skipped"}
    )
    assert read(q, skip, language, asked="product") == Parsed({}, refused_skip=True)


@pytest.mark.parametrize(
    "intent",
    ["ask_fees", "ask_open_account", "ask_opening_hours", "bot_challenge", "request_human"],
)
def test_general_questions_are_no_answers(q: Qualification, intent: str) -> None:
    text = "what are your fees for a mortgage in Spain, mornings?"
    assert read(q, text, asked="product", intent=intent).answers == {}


def test_rasas_skip_intent_skips_an_optional_question_only(q: Qualification) -> None:
    assert read(q, "meh", asked="contact_time", intent="skip_question").answers == {
        "contact_time": SKIPPED
    }
    refused = read(q, "meh", asked="product", intent="skip_question")
    assert refused.answers == {} and refused.refused_skip


def test_a_greeting_is_no_contact_time(q: Qualification) -> None:
    assert read(q, "Good morning, I want to invest").answers == {"product": "investments"}
    assert read(q, "Buenas tardes, una hipoteca", "es").answers == {"product": "mortgage"}


def test_next_question_follows_the_flow_order(q: Qualification) -> None:
    answers: dict[str, str | None] = {"country": "ES", "product": "mortgage"}
    assert next_question(q, answers) == "existing_client"
    answers.update(existing_client="skipped", language="es", contact_time="anytime")
    assert next_question(q, answers) is None
    assert is_complete(q, answers)


def test_wording_fills_the_numbers_country_in_the_prospects_language(q: Qualification) -> None:
    assert q.wording("utter_ask_country", "de", number_country="ES") == (
        "Ihre Nummer stammt aus diesem Land: Spanien. Wohnen Sie dort? "
        "Falls nicht, sagen Sie mir einfach, wo Sie wohnen."
    )
    assert q.wording("utter_ask_country", "en", number_country=None) == (
        "Which country do you live in?"
    )
    assert "Continuons-nous en français" in str(q.wording("utter_ask_language", "fr"))
    assert "le soir" in str(q.wording("utter_qualification_done", "fr", contact_time="evening"))
    assert "lo antes posible" in str(q.wording("utter_qualification_done", "es"))
    assert q.wording("utter_greet", "en") is None


@pytest.mark.parametrize(
    "text",
    [
        "English please",
        "in English please",
        "Deutsch bitte",
        "en français svp",
        "por la tarde, gracias",
        "investing, and I live in Austria",
        "nope",
        "actually a mortgage rather",
    ],
)
def test_answers_and_fillers_alone_are_answers(q: Qualification, text: str) -> None:
    assert q.answer_only(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "English please, buy 100 shares",
        "a mortgage, I earn 4000 net",
        "Spain, my IBAN is ES91 2100 0418 4502 0005 1332",
        "should I move my pension?",
        "mortgage 12345",
    ],
)
def test_anything_beyond_answers_is_a_message_like_any_other(q: Qualification, text: str) -> None:
    assert not q.answer_only(text)


def test_answers_in_plain_words_for_advisors() -> None:
    rows = in_plain_words(
        {
            "product": "current_account",
            "existing_client": "skipped",
            "country": "DE",
            "language": "fr",
            "contact_time": None,
            "complete": False,
        }
    )
    assert rows == [
        ("Interested in", "current account"),
        ("Already a client", "rather not say"),
        ("Lives in", "Germany (DE)"),
        ("Prefers to talk in", "French"),
        ("Best time to contact", "not answered yet"),
        ("All questions answered", "not yet"),
    ]
    assert in_plain_words(None) == []

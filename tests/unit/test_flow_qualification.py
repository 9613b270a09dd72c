"""The flow's qualification section as marketing edits it: each mistake is reported with
its file, line and what to change, and the questions' wording satisfies the Rasa domain."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, FlowError, validate_file, validate_files

SHIPPED = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")


def edited(tmp_path: Path, old: str, new: str) -> Path:
    assert SHIPPED.count(old) == 1, old
    path = tmp_path / "flow.yml"
    path.write_text(SHIPPED.replace(old, new), encoding="utf-8")
    return path


def errors(path: Path, domain: Path | None = None) -> list[FlowError]:
    return [e for e in validate_file(path, domain) if e.severity == "error"]


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_an_unknown_question_is_refused_at_its_line(tmp_path: Path) -> None:
    path = edited(tmp_path, "    - slot: existing_client\n", "    - slot: existing_customer\n")
    [error] = errors(path)
    assert error.line == line_of(path, "existing_customer")
    assert "`existing_customer` is not a question" in error.message
    assert "did you mean `existing_client`" in error.message


def test_a_question_without_a_language_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, '        es: "¿Ya es cliente de Example Bank?"\n', "")
    [error] = errors(path)
    assert "has no `es` wording" in error.message


def test_a_placeholder_a_text_cannot_fill_is_refused(tmp_path: Path) -> None:
    path = edited(tmp_path, '      en: "Noted, thanks."', '      en: "Noted, {name}."')
    [error] = errors(path)
    assert error.line == line_of(path, "Noted, {name}.")
    assert "{name}, which this text cannot fill" in error.message


def test_the_country_question_must_offer_the_numbers_country(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        '"Your number is from this country: {number_country}. Do you live there? '
        'If not, just tell me where you live."',
        '"Where do you live?"',
    )
    [error] = errors(path)
    assert "must contain {number_country}" in error.message


def test_a_word_for_two_products_is_refused(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        '      en: ["pension", "pensions", "retirement", "retire"]',
        '      en: ["pension", "pensions", "retirement", "retire", "mortgage"]',
    )
    [error] = errors(path)
    assert "'mortgage' also means `pension`" in error.message


def test_an_empty_word_list_is_refused(tmp_path: Path) -> None:
    path = edited(
        tmp_path,
        '      es: ["saltar", "prefiero no decirlo", "siguiente", "siguiente pregunta", '
        '"paso", "prefiero no contestar"]',
        "      es: []",
    )
    [error] = errors(path)
    assert "`qualification.words.skip.es` is empty" in error.message


def test_qualified_products_must_be_routing_products(tmp_path: Path) -> None:
    path = edited(tmp_path, "    pension:\n      en:", "    retirement_plan:\n      en:")
    out = tmp_path / "out.txt"
    with out.open("w") as stream:
        code = validate_files([path], stream, None, frozenset({"mortgage", "savings"}))
    assert code == 1
    assert "`qualification.products.retirement_plan` is not one of the routing file's" in (
        out.read_text()
    )


def test_the_questions_word_the_domains_utter_ask_responses(tmp_path: Path) -> None:
    """The Rasa form's questions are worded by the section, not under `responses`."""
    domain = tmp_path / "domain.yml"
    names = [
        "utter_greet",
        "utter_ask_product",
        "utter_ask_country",
        "utter_qualification_required",
        "utter_qualification_done",
    ]
    domain.write_text(
        "responses:\n" + "".join(f"  {n}:\n    - text: x\n" for n in names), encoding="utf-8"
    )
    assert errors(DEFAULT_FLOW_PATH, domain) == []
    twice = edited(
        tmp_path,
        "responses:\n  utter_greet:\n",
        'responses:\n  utter_ask_product:\n    en: "a"\n    de: "a"\n    fr: "a"\n    es: "a"\n'
        "  utter_greet:\n",
    )
    [error] = errors(twice, domain)
    assert "`responses.utter_ask_product` is worded in the `qualification` section" in (
        error.message
    )

"""The shipped sensitivity evaluation set and its loader."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bot.adapters.eval_set import EvalSetError, load_eval_set
from bot.domain.evaluation import EVAL_LANGUAGES, HARD_CATEGORIES, LabelledMessage
from bot.domain.levels import Level

SHIPPED = Path(__file__).resolve().parents[2] / "eval" / "sensitivity.yml"

# Country code, two check digits, then groups of four letters or digits with optional
# single spaces, the last group possibly short: the way people paste an IBAN.
IBAN_LIKE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", re.I)
IBAN_LENGTHS = {"AT": 20, "BE": 16, "CH": 21, "DE": 22, "ES": 24, "FR": 27, "GB": 22, "IE": 22,
                "IT": 27, "LU": 20, "NL": 18, "PT": 25}  # fmt: skip
# 13 to 19 digits with optional single spaces or dashes, not part of a longer number.
CARD_LIKE = re.compile(r"(?<![\d-])(?<!\d )\d(?:[ -]?\d){12,18}(?![ -]?\d)")


def iban_valid(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def iban_tokens(text: str) -> list[str]:
    """IBAN-shaped tokens, compacted; a word typed after the IBAN is not part of it."""
    found = []
    for match in IBAN_LIKE.finditer(text):
        expected = IBAN_LENGTHS.get(match.group()[:2].upper(), 0)
        if not expected:
            continue  # an ISIN or ticker, not an IBAN country
        compact = ""
        for group in match.group().upper().split():
            if len(compact) >= expected:
                break
            compact += group
        if len(compact) == expected:
            found.append(compact)
    return found


def card_tokens(text: str) -> list[str]:
    without_ibans = IBAN_LIKE.sub(" ", text)
    return [re.sub(r"\D", "", m.group()) for m in CARD_LIKE.finditer(without_ibans)]


@pytest.fixture(scope="module")
def shipped() -> list[LabelledMessage]:
    return load_eval_set(SHIPPED)


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "set.yml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD_ITEM = '- text: "hi"\n  language: en\n  level: public\n  hard: false\n'


def test_checksum_helpers_tell_real_identifiers_from_lookalikes() -> None:
    """The test's own IBAN and Luhn checks accept the documented examples and reject typos."""
    assert iban_valid("DE89370400440532013000")
    assert not iban_valid("DE88370400440532013000")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_tokens("my iban is de89 3704 0044 0532 0130 00 ok") == ["DE89370400440532013000"]
    assert iban_tokens("a ES91 2100 0418 4502 0005 1332 porfa") == ["ES9121000418450200051332"]
    assert card_tokens("card 3782 822463 10005 thanks") == ["378282246310005"]
    assert card_tokens("iban DE89 3704 0044 0532 0130 00") == []


def test_shipped_set_is_big_enough_in_every_language(shipped: list[LabelledMessage]) -> None:
    """The set has at least 360 messages, at least 90 in each of en, de, fr and es."""
    per_language = Counter(m.language for m in shipped)
    assert len(shipped) >= 360
    assert set(per_language) == set(EVAL_LANGUAGES)
    assert all(n >= 90 for n in per_language.values()), per_language


def test_every_level_appears_in_every_language(shipped: list[LabelledMessage]) -> None:
    """Each language has public, identity, financial, advice and order messages."""
    present = {(m.language, m.level) for m in shipped}
    missing = [(lang, lvl.label) for lang in EVAL_LANGUAGES for lvl in Level
               if (lang, lvl) not in present]  # fmt: skip
    assert missing == []


def test_public_is_about_two_fifths_of_each_language(shipped: list[LabelledMessage]) -> None:
    """Public messages are 35-45% of each language and each other level 10-20%."""
    for language in EVAL_LANGUAGES:
        items = [m for m in shipped if m.language == language]
        shares = {lvl: sum(m.level == lvl for m in items) / len(items) for lvl in Level}
        assert 0.35 <= shares[Level.PUBLIC] <= 0.45, (language, shares)
        assert all(0.10 <= s <= 0.20 for lvl, s in shares.items() if lvl != Level.PUBLIC)


def test_a_third_of_the_set_is_hard_and_every_hard_kind_is_there(
    shipped: list[LabelledMessage],
) -> None:
    """At least a third of the items are hard, each tagged, each category at least 4 times."""
    hard = [m for m in shipped if m.hard]
    assert len(hard) * 3 >= len(shipped)
    assert all(m.category in HARD_CATEGORIES and m.why for m in hard)
    per_category = Counter(m.category for m in hard)
    assert all(per_category[c] >= 4 for c in HARD_CATEGORIES), per_category


def test_hard_categories_carry_the_level_they_are_about(shipped: list[LabelledMessage]) -> None:
    """Look-alikes and refusals are public; advice and order categories carry those levels."""
    expected = {
        "not_identifier": {Level.PUBLIC},
        "mentions_without_disclosing": {Level.PUBLIC},
        "refusal": {Level.PUBLIC},
        "indirect_disclosure": {Level.IDENTITY, Level.FINANCIAL},
        "advice_without_word": {Level.ADVICE},
        "order_without_verb": {Level.ORDER},
    }
    wrong = [m.line for m in shipped if m.hard and m.level not in expected[str(m.category)]]
    assert wrong == []


def test_no_text_appears_twice(shipped: list[LabelledMessage]) -> None:
    """Every message text is unique, ignoring case and spacing."""
    texts = Counter(" ".join(m.text.casefold().split()) for m in shipped)
    assert [t for t, n in texts.items() if n > 1] == []


def test_ibans_are_real_exactly_where_the_label_says_so(shipped: list[LabelledMessage]) -> None:
    """IBANs in financial-or-higher items pass mod-97; those in public items fail it."""
    for m in shipped:
        for token in iban_tokens(m.text):
            if m.level >= Level.FINANCIAL:
                assert iban_valid(token), (m.line, token)
            elif m.level == Level.PUBLIC:
                assert not iban_valid(token), (m.line, token)
    assert any(iban_tokens(m.text) for m in shipped if m.level == Level.FINANCIAL)
    assert any(iban_tokens(m.text) for m in shipped if m.level == Level.PUBLIC)


def test_card_numbers_are_real_exactly_where_the_label_says_so(
    shipped: list[LabelledMessage],
) -> None:
    """Card-length numbers in financial-or-higher items pass Luhn; those in public items fail."""
    for m in shipped:
        for digits in card_tokens(m.text):
            if m.level >= Level.FINANCIAL:
                assert luhn_valid(digits), (m.line, digits)
            elif m.level == Level.PUBLIC:
                assert not luhn_valid(digits), (m.line, digits)
    assert any(card_tokens(m.text) for m in shipped if m.level == Level.FINANCIAL)
    assert any(card_tokens(m.text) for m in shipped if m.level == Level.PUBLIC)


def test_items_keep_their_line_numbers(tmp_path: Path) -> None:
    """Each loaded message knows the line its item starts on, for the report's miss list."""
    path = write(tmp_path, "# comment\n" + GOOD_ITEM + GOOD_ITEM.replace('"hi"', '"hello"'))
    messages = load_eval_set(path)
    assert [(m.text, m.line, m.level, m.hard, m.why) for m in messages] == [
        ("hi", 2, Level.PUBLIC, False, None),
        ("hello", 6, Level.PUBLIC, False, None),
    ]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("- text: x\n  language: en\n  level: secret\n", "unknown level 'secret'"),
        ("- text: x\n  language: it\n  level: public\n", "unknown language 'it'"),
        ("- language: en\n  level: public\n", "missing text"),
        ('- text: "  "\n  language: en\n  level: public\n', "missing text"),
        ("- text: x\n  language: en\n  level: order\n  hard: true\n", "hard item without why"),
        ("- text: x\n  language: en\n  level: public\n  hard: maybe\n", "hard must be true"),
        ("- text: x\n  language: en\n  levle: public\n", "unknown field 'levle'"),
        (
            "- text: x\n  language: en\n  level: public\n  hard: true\n  why: y\n  category: odd\n",
            "unknown category 'odd'",
        ),
        (
            "- text: x\n  language: en\n  level: public\n  category: refusal\n",
            "category is only for hard items",
        ),
        ("- just a string\n", "an item should be a mapping"),
        ('- text: "hi"\n  language: de\n  level: public\n', "already the item at line 1"),
    ],
)
def test_a_bad_item_is_reported_with_file_line_and_reason(
    tmp_path: Path, item: str, reason: str
) -> None:
    """A wrong item stops the load with an error naming the file, its line and the problem."""
    path = write(tmp_path, GOOD_ITEM + item)
    with pytest.raises(EvalSetError) as caught:
        load_eval_set(path)
    assert caught.value.line == 5
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}:5: ")


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    """A YAML syntax error names the line the parser stopped on."""
    path = write(tmp_path, GOOD_ITEM + '- text: "unclosed\n  language: en\n')
    with pytest.raises(EvalSetError) as caught:
        load_eval_set(path)
    assert caught.value.line is not None and caught.value.line >= 5
    assert "not valid YAML" in caught.value.reason


@pytest.mark.parametrize("body", ["", "text: hi\n"])
def test_a_file_that_is_not_a_list_is_refused(tmp_path: Path, body: str) -> None:
    """An empty file or a single mapping is refused with line 1."""
    with pytest.raises(EvalSetError) as caught:
        load_eval_set(write(tmp_path, body))
    assert caught.value.line == 1


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    """The set is parsed safely: a Python object tag is an error, never executed."""
    body = GOOD_ITEM + "- text: !!python/object/apply:os.system ['true']\n  language: en\n"
    with pytest.raises(EvalSetError) as caught:
        load_eval_set(write(tmp_path, body))
    assert caught.value.line == 5


def test_a_missing_file_is_an_eval_set_error(tmp_path: Path) -> None:
    """Pointing at a file that does not exist gives EvalSetError naming it."""
    path = tmp_path / "nope.yml"
    with pytest.raises(EvalSetError, match=r"nope\.yml"):
        load_eval_set(path)


# The 2026-12 sets: checked for their shape only. Assertion messages name counts and line
# numbers, never a message: the blind set's texts stay unread, even on a failure.
SETS_2026_12 = {
    "blind": (SHIPPED.parent / "blind-2026-12.yml", 150),
    "dev": (SHIPPED.parent / "dev-2026-12.yml", 120),
}


@pytest.mark.parametrize("name", sorted(SETS_2026_12))
def test_the_2026_12_sets_are_big_hard_and_cover_every_level_and_language(name: str) -> None:
    """Each language has its share of messages, 40% of them hard, every level present."""
    path, per_language = SETS_2026_12[name]
    messages = load_eval_set(path)
    counts = Counter(m.language for m in messages)
    assert all(counts[lang] >= per_language for lang in EVAL_LANGUAGES), dict(counts)
    for lang in EVAL_LANGUAGES:
        items = [m for m in messages if m.language == lang]
        assert sum(m.hard for m in items) >= 0.4 * len(items), lang
        assert {m.level for m in items} == set(Level), lang
    wrong = [m.line for m in messages if m.hard and m.category not in HARD_CATEGORIES]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(SETS_2026_12))
def test_the_2026_12_sets_use_real_checksums_exactly_where_labelled(name: str) -> None:
    """IBANs and card numbers pass their checks at financial or above, fail them in public."""
    path, _ = SETS_2026_12[name]
    wrong = []
    for m in load_eval_set(path):
        checks = [iban_valid(t) for t in iban_tokens(m.text)]
        checks += [luhn_valid(d) for d in card_tokens(m.text)]
        if (m.level >= Level.FINANCIAL and not all(checks)) or (
            m.level == Level.PUBLIC and any(checks)
        ):
            wrong.append(m.line)
    assert wrong == []

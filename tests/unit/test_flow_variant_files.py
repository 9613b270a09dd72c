"""The flow file's `governance`, `base_weight` and `variants` settings: read, and every
mistake reported as file:line in plain words."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot.adapters.flow_files import (
    DEFAULT_DOMAIN_PATH,
    DEFAULT_FLOW_PATH,
    load_flow,
    validate_file,
    validate_files,
)
from bot.domain.levels import Level

VARIANTS = """
base_weight: 60
variants:
  - name: short-invite
    weight: 40
    transition_at: financial
    timers:
      consent_reminder: 5m
    texts:
      invite:
        en: "Your secure link: {link}"
        de: "Ihr sicherer Link: {link}"
        fr: "Votre lien sécurisé : {link}"
        es: "Su enlace seguro: {link}"
    responses:
      utter_greet:
        en: "Hi, Example Bank here."
        de: "Hallo, hier ist die Example Bank."
        fr: "Bonjour, ici Example Bank."
        es: "Hola, aquí Example Bank."
  - name: old-wording
    weight: 10
    stopped: true
"""


def write(tmp_path: Path, extra: str, replace: tuple[str, str] = ("", "")) -> Path:
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    if replace[0]:
        text = text.replace(*replace)
    path = tmp_path / "flow.yml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """The last line holding ``needle`` (the variants come last in the file)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return max(n for n, line in enumerate(lines, start=1) if needle in line)


def test_the_shipped_flow_is_governed() -> None:
    assert load_flow(DEFAULT_FLOW_PATH).governance == "required"


def test_variants_are_read(tmp_path: Path) -> None:
    flow = load_flow(write(tmp_path, VARIANTS), DEFAULT_DOMAIN_PATH)
    short, old = flow.variants
    assert (short.name, short.weight, short.stopped) == ("short-invite", 40, False)
    assert short.transition_at is Level.FINANCIAL
    assert short.texts["invite"]["de"] == "Ihr sicherer Link: {link}"
    assert short.responses["utter_greet"]["es"] == "Hola, aquí Example Bank."
    assert (old.name, old.stopped) == ("old-wording", True)
    assert flow.base_weight == 60


@pytest.mark.parametrize(
    ("extra", "needle", "message"),
    [
        (VARIANTS.replace("weight: 40", "weight: 0"), "weight: 0", "should be a number above 0"),
        (
            VARIANTS.replace('        es: "Su enlace seguro: {link}"\n', ""),
            "      invite:",
            "no `es` wording",
        ),
        (
            VARIANTS.replace("    stopped: true", "    paused: true"),
            "paused",
            "`paused` is not a setting",
        ),
        (
            VARIANTS.replace('{link}"\n        de', 'now"\n        de'),
            "Your secure link",
            "must contain {link}",
        ),
        (
            VARIANTS.replace("utter_greet:", "utter_hello:"),
            "utter_hello",
            "`utter_hello` is not a setting",
        ),
        (
            VARIANTS.replace("name: old-wording", "name: short-invite"),
            "- name: short-invite",
            "named twice",
        ),
        (VARIANTS.replace("5m", "soon"), "soon", "is not a duration"),
        (
            VARIANTS.replace("consent_reminder: 5m", "invite_reminder: 2d"),
            "- name: short-invite",
            "must be shorter than its invite_expiry (1d)",
        ),
    ],
)
def test_variant_mistakes_name_their_line(
    tmp_path: Path, extra: str, needle: str, message: str
) -> None:
    path = write(tmp_path, extra)
    errors = [e for e in validate_file(path, DEFAULT_DOMAIN_PATH) if e.severity == "error"]
    assert any(message in e.message for e in errors), errors
    wrong = next(e for e in errors if message in e.message)
    assert wrong.line == line_of(path, needle)


def test_governance_must_be_required_or_none(tmp_path: Path) -> None:
    path = write(tmp_path, "", ("governance: required", "governance: optional"))
    [error] = [e for e in validate_file(path) if e.severity == "error"]
    assert error.line == line_of(path, "governance: optional")
    assert "write `required`" in error.message


def test_gangway_flows_validate_checks_variants(tmp_path: Path) -> None:
    good, bad = write(tmp_path, VARIANTS), tmp_path / "bad.yml"
    bad.write_text(good.read_text(encoding="utf-8").replace("weight: 40", "weight: -1"))
    out = io.StringIO()
    assert validate_files([good], out, DEFAULT_DOMAIN_PATH) == 0
    assert validate_files([bad], out, DEFAULT_DOMAIN_PATH) == 1
    assert f"bad.yml:{line_of(bad, 'weight: -1')}: `variants.short-invite.weight`" in out.getvalue()


def test_the_example_ab_test_is_the_shipped_flow_plus_a_valid_variant() -> None:
    example = DEFAULT_FLOW_PATH.parent / "examples" / "ab-invite-wording.yml"
    assert DEFAULT_FLOW_PATH.read_text(encoding="utf-8") in example.read_text(encoding="utf-8")
    flow = load_flow(example, DEFAULT_DOMAIN_PATH)
    [variant] = flow.variants
    assert variant.name == "short-invite" and set(variant.texts) == {"consent_question", "invite"}

"""`gangway classify` against the real Rasa server with the trained model."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from bot.entrypoints.classify_cli import classify
from bot.entrypoints.eval_cli import eval_
from tests.e2e.conftest import Rasa

app = typer.Typer()
app.command("classify")(classify)
app.command("eval")(eval_)


def test_classify_with_real_rasa_finds_identity_and_financial_data(rasa: Rasa) -> None:
    """A passport number is identity and an IBAN financial, through Rasa and the detectors."""
    lines = [
        "my passport number is 532016781",
        json.dumps({"text": "meine IBAN ist DE89 3704 0044 0532 0130 00", "language": "de"}),
        "what are your opening hours?",
    ]
    result = CliRunner().invoke(
        app,
        ["classify", "--rasa-url", rasa.url],
        input="\n".join(lines) + "\n",
        env={"RASA_TOKEN": rasa.token},
    )
    assert result.exit_code == 0, result.output
    passport, iban, hours = (json.loads(line) for line in result.stdout.splitlines())
    assert passport["level"] == "identity"
    assert "passport_number" in {e["name"] for e in passport["evidence"]}
    assert iban["level"] == "financial"
    assert "iban" in {e["name"] for e in iban["evidence"]}
    assert hours["level"] == "public"
    assert hours["intent"] == "ask_opening_hours"

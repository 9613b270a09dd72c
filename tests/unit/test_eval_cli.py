"""`gangway classify` and `gangway eval` against a small Rasa on loopback.

The fake Rasa is a real HTTP server on 127.0.0.1 answering ``GET /version``,
``GET /status`` and ``POST /model/parse`` the way Rasa 3.6 does, so the commands run
through the real RasaClient, classifier and flow.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from bot.entrypoints.classify_cli import classify
from bot.entrypoints.eval_cli import eval_
from tests.fakes.flows import flow_with_intents
from tests.fakes.models import tiny_model_file

app = typer.Typer()
app.command("classify")(classify)
app.command("eval")(eval_)

IBAN = "GB82 WEST 1234 5698 7654 32"  # the documented example IBAN, valid check digits
# What the fake NLU understands: a phrase anywhere in the text -> (intent, confidence).
UNDERSTOOD = {
    "call me maybe": ("share_identity", 0.91),
    "the usual please": ("place_order", 0.88),
}


class FakeRasa(ThreadingHTTPServer):
    """Answers like `rasa run --enable-api` with a model loaded (or without one)."""

    def __init__(self, *, model_loaded: bool = True) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model_loaded = model_loaded
        self.parsed: list[str] = []
        self.broken = False  # answer 500 to every parse, as a crashing Rasa would

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeRasa

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _no_agent(self) -> None:
        self._answer(
            409,
            {
                "version": "3.6.21",
                "status": "failure",
                "message": "No agent loaded. To continue processing, a model of a trained "
                "agent needs to be loaded.",
                "reason": "Conflict",
                "details": {},
                "help": None,
                "code": 409,
            },
        )

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/version":
            self._answer(200, {"version": "3.6.21", "minimum_compatible_version": "3.5.0"})
        elif path == "/status" and self.server.model_loaded:
            self._answer(
                200,
                {"model_file": "models/m.tar.gz", "model_id": "abc", "num_active_training_jobs": 0},
            )
        elif path == "/status":
            self._no_agent()
        else:
            self._answer(404, {"status": "failure", "reason": "NotFound", "message": path})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/model/parse":
            self._answer(404, {"status": "failure", "reason": "NotFound", "message": self.path})
            return
        if not self.server.model_loaded:
            self._no_agent()
            return
        text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
        if self.server.broken:
            self._answer(500, {"status": "failure", "reason": "ServerError", "message": "boom"})
            return
        self.server.parsed.append(text)
        intent, confidence = next(
            (found for phrase, found in UNDERSTOOD.items() if phrase in text.lower()),
            ("greet", 0.7),
        )
        ranking = [{"name": intent, "confidence": confidence}]
        if intent != "greet":
            ranking.append({"name": "greet", "confidence": round(1 - confidence, 2)})
        self._answer(
            200,
            {
                "text": text,
                "intent": {"name": intent, "confidence": confidence},
                "entities": [],
                "intent_ranking": ranking,
            },
        )


def _serve(server: FakeRasa) -> Iterator[FakeRasa]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def rasa() -> Iterator[FakeRasa]:
    yield from _serve(FakeRasa())


@pytest.fixture
def rasa_without_model() -> Iterator[FakeRasa]:
    yield from _serve(FakeRasa(model_loaded=False))


@pytest.fixture
def closed_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Settings come from the environment: keep a developer's .env or RASA_* out of the tests.
ENV = {"RASA_URL": "http://127.0.0.1:9", "RASA_TOKEN": ""}


@pytest.fixture(scope="module", autouse=True)
def sensitivity_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every command here loads a tiny model, as the service loads the trained one."""
    path = tiny_model_file(tmp_path_factory.mktemp("model"))
    ENV["GANGWAY_SENSITIVITY_MODEL"] = str(path)
    yield path
    del ENV["GANGWAY_SENSITIVITY_MODEL"]


def run(args: list[str], stdin: str = "") -> Result:
    return CliRunner().invoke(app, args, input=stdin, env=ENV)


def answers(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


# --- gangway classify ------------------------------------------------------------------


def test_classify_writes_one_json_answer_per_plain_line(rasa: FakeRasa) -> None:
    """Each plain line gets its level, language and evidence; an IBAN is financial."""
    result = run(
        ["classify", "--rasa-url", rasa.url],
        f"hi there\nmy iban is {IBAN}\nbonjour, quels sont vos horaires ?\n",
    )
    assert result.exit_code == 0, result.output
    hi, iban, bonjour = answers(result)
    assert (hi["line"], hi["level"], hi["evidence"], hi["intent"]) == (1, "public", [], "greet")
    assert iban["level"] == "financial"
    assert ("detector", "iban") in {(e["source"], e["name"]) for e in iban["evidence"]}
    assert bonjour["language"] == "fr"
    assert rasa.parsed == ["hi there", f"my iban is {IBAN}", "bonjour, quels sont vos horaires ?"]


def test_classify_never_echoes_the_message(rasa: FakeRasa) -> None:
    """The answer names rules and spans, not the IBAN itself."""
    result = run(["classify", "--rasa-url", rasa.url], f"my iban is {IBAN}\n")
    assert result.exit_code == 0
    assert "WEST" not in result.stdout


def test_classify_takes_json_lines_with_a_language(rasa: FakeRasa) -> None:
    """A JSON object's text is classified in the language it names."""
    lines = [
        json.dumps({"text": "hallo", "language": "es"}),
        json.dumps({"text": "meine email ist max@example.com"}),
    ]
    result = run(["classify", "--no-model", "--rasa-url", rasa.url], "\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    first, second = answers(result)
    assert first["language"] == "es"
    assert (second["language"], second["level"]) == ("de", "identity")


def test_classify_counts_what_the_nlu_understood(rasa: FakeRasa, tmp_path: Path) -> None:
    """An intent the flow lists for a level raises the message to it, as evidence."""
    flow = str(flow_with_intents(tmp_path))
    result = run(
        ["classify", "--flow", flow, "--no-model", "--rasa-url", rasa.url],
        "call me maybe\nthe usual please\n",
    )
    assert result.exit_code == 0
    identity, order = answers(result)
    assert identity["level"] == "identity"
    assert identity["evidence"][0]["source"] == "intent"
    assert identity["evidence"][0]["name"] == "share_identity"
    assert (order["level"], order["intent"]) == ("order", "place_order")


def test_classify_reports_unusable_lines_and_goes_on(rasa: FakeRasa) -> None:
    """Bad JSON or a JSON line without a string text gets an error naming its line; the
    other lines are still classified, blank lines skipped, and the exit code is 1."""
    stdin = "\n".join(
        [
            '{"text": "hi"',
            "",
            '{"txt": "hi"}',
            '{"text": 42}',
            '{"text": "hi", "language": "it"}',
            "hello",
        ]
    )
    result = run(["classify", "--rasa-url", rasa.url], stdin + "\n")
    assert result.exit_code == 1
    got = answers(result)
    assert [a["line"] for a in got] == [1, 3, 4, 5, 6]
    assert all("error" in a for a in got[:4])
    assert "not valid JSON" in got[0]["error"]
    assert '"text"' in got[1]["error"] and '"text"' in got[2]["error"]
    assert "'it'" in got[3]["error"]
    assert got[4]["level"] == "public"


def test_classify_without_rasa_exits_2_before_reading(closed_url: str) -> None:
    """Rasa unreachable: a plain message naming the URL and how to start it, exit 2,
    and no input is classified."""
    result = run(["classify", "--rasa-url", closed_url], "hi\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert closed_url in result.stderr
    assert "gangway up" in result.stderr and "make up" in result.stderr
    assert "Traceback" not in result.output


def test_classify_stops_with_exit_2_when_rasa_fails_midway(rasa: FakeRasa) -> None:
    """Rasa failing while classifying: a plain message naming it on stderr, exit 2."""
    rasa.broken = True
    result = run(["classify", "--rasa-url", rasa.url], "hi\nhello\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"Rasa at {rasa.url} stopped answering" in result.stderr
    assert "Traceback" not in result.output


def test_classify_with_rasa_without_model_exits_2(rasa_without_model: FakeRasa) -> None:
    """A Rasa that answers but has no model cannot parse: exit 2 saying so."""
    result = run(["classify", "--rasa-url", rasa_without_model.url], "hi\n")
    assert result.exit_code == 2
    assert "no model" in result.stderr
    assert rasa_without_model.url in result.stderr


def test_classify_no_nlu_uses_rules_alone(closed_url: str, rasa: FakeRasa) -> None:
    """--no-nlu needs no Rasa and asks none; the detectors still work."""
    result = run(["classify", "--no-nlu", "--no-model", "--rasa-url", rasa.url], "call me maybe\n")
    assert result.exit_code == 0
    assert rasa.parsed == []
    (answer,) = answers(result)
    assert (answer["level"], answer["intent"]) == ("public", None)

    result = run(["classify", "--no-nlu", "--no-model", "--rasa-url", closed_url], f"iban {IBAN}\n")
    assert result.exit_code == 0
    assert answers(result)[0]["level"] == "financial"


def test_classify_says_when_it_runs_without_rasa(closed_url: str) -> None:
    """--no-nlu works with no Rasa running and says so on stderr, not in the answers."""
    result = run(["classify", "--no-nlu", "--rasa-url", closed_url], "hello\n")
    assert result.exit_code == 0, result.output
    assert "without Rasa's NLU (--no-nlu)" in result.stderr
    assert "sensitivity model" in result.stderr
    assert answers(result)[0]["level"] == "public"


def test_classify_gives_the_models_scores_and_evidence(closed_url: str) -> None:
    """The answer carries the model's score per level, and its evidence when a score
    reaches the flow's min_score."""
    result = run(["classify", "--no-nlu", "--rasa-url", closed_url], "should i invest my savings\n")
    assert result.exit_code == 0, result.output
    (answer,) = answers(result)
    assert set(answer["model_scores"]) == {"identity", "financial", "advice", "order"}
    scores = answer["model_scores"]
    assert scores["identity"] >= scores["financial"] >= scores["advice"] >= scores["order"]
    (model,) = [e for e in answer["evidence"] if e["source"] == "model"]
    assert model["name"] == "sensitivity_model"
    assert model["confidence"] == scores[model["level"]]


def test_classify_without_a_model_exits_2_saying_how_to_train_it(
    closed_url: str, tmp_path: Path
) -> None:
    """No model file: exit 2 naming `make model` and --no-model, before reading input."""
    env = {**ENV, "GANGWAY_SENSITIVITY_MODEL": str(tmp_path / "missing.json.gz")}
    result = CliRunner().invoke(app, ["classify", "--no-nlu"], input="hi\n", env=env)
    assert result.exit_code == 2
    assert "make model" in result.stderr and "--no-model" in result.stderr
    assert result.stdout == ""


def test_classify_judges_a_follow_up_with_its_context(closed_url: str) -> None:
    """A follow-up given with the messages before it gets at least their level; the same
    words without context, or after a public question, stay public."""
    lines = [
        json.dumps({"text": "yes do it", "context": [f"my iban is {IBAN}"]}),
        json.dumps({"text": "yes do it"}),
        json.dumps({"text": "yes do it", "context": "what are your opening hours"}),
        json.dumps({"text": "what are your opening hours", "context": [f"my iban is {IBAN}"]}),
    ]
    result = run(["classify", "--no-nlu", "--no-model", "--rasa-url", closed_url],
                 "\n".join(lines) + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    after_iban, alone, after_question, standalone = answers(result)
    assert after_iban["level"] == "financial"
    assert ("context", "follow_up:proceed") in {
        (e["source"], e["name"]) for e in after_iban["evidence"]
    }
    assert alone["level"] == after_question["level"] == standalone["level"] == "public"


def test_classify_with_a_broken_flow_exits_2(rasa: FakeRasa, tmp_path: Path) -> None:
    """A flow that does not validate is named on stderr, exit 2."""
    flow = tmp_path / "broken.yml"
    flow.write_text("flow: broken\nlanguages: [en]\n")
    result = run(["classify", "--flow", str(flow), "--rasa-url", rasa.url], "hi\n")
    assert result.exit_code == 2
    assert str(flow) in result.stderr


# --- gangway eval ----------------------------------------------------------------------


def write_set(path: Path, items: list[tuple[str, str, str]]) -> Path:
    path.write_text(
        "\n".join(
            f"- text: {json.dumps(text)}\n  language: {language}\n  level: {level}"
            for text, language, level in items
        )
        + "\n"
    )
    return path


GOOD_ITEMS = [
    ("hi, what are your opening hours?", "en", "public"),
    ("sign me up, my email is jane.doe@example.com", "en", "identity"),
    (f"my iban is {IBAN}", "en", "financial"),
    ("call me maybe", "en", "identity"),  # only the (fake) NLU sees this one
    ("the usual please", "en", "order"),
]


def test_eval_exits_0_when_the_targets_are_met(rasa: FakeRasa, tmp_path: Path) -> None:
    """A set the classifier gets right: the table, the matrix, the targets, exit 0."""
    eval_set = write_set(tmp_path / "set.yml", GOOD_ITEMS)
    flow = str(flow_with_intents(tmp_path))
    result = run(
        ["eval", "--set", str(eval_set), "--flow", flow, "--no-model", "--rasa-url", rasa.url]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "precision" in out and "recall" in out
    assert "confusion matrix" in out
    assert "FAIL" not in out
    assert "recall for order is 1.000" in out


def test_eval_exits_1_when_a_target_is_missed(rasa: FakeRasa, tmp_path: Path) -> None:
    """Without the NLU the disclosure only Rasa understands is missed: exit 1."""
    eval_set = write_set(tmp_path / "set.yml", GOOD_ITEMS)
    result = run(["eval", "--set", str(eval_set), "--no-nlu", "--no-model"])
    assert result.exit_code == 1
    assert "FAIL recall for identity is 0.500" in result.stdout
    assert 'expected identity  got public    "call me maybe"' in result.stdout


def test_eval_json_report(rasa: FakeRasa, tmp_path: Path) -> None:
    """--json prints one JSON object with the per-level figures and the targets."""
    eval_set = write_set(tmp_path / "set.yml", GOOD_ITEMS)
    result = run(["eval", "--set", str(eval_set), "--no-nlu", "--no-model", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["messages"] == 5
    assert report["levels"]["identity"]["recall"] == 0.5
    assert report["levels"]["financial"]["precision"] == 1.0
    assert report["confusion"]["rows_expected_columns_predicted"][1] == [1, 1, 0, 0, 0]
    assert report["targets_met"] is False
    assert [m["line"] for m in report["misses"]] == [10, 13]


def test_eval_without_rasa_exits_2(closed_url: str, tmp_path: Path) -> None:
    """Rasa unreachable: exit 2 with the URL and how to start it, no report."""
    eval_set = write_set(tmp_path / "set.yml", GOOD_ITEMS)
    result = run(["eval", "--set", str(eval_set), "--rasa-url", closed_url])
    assert result.exit_code == 2
    assert closed_url in result.stderr and "gangway up" in result.stderr
    assert result.stdout == ""


def test_eval_can_hide_the_messages_of_a_blind_set(rasa: FakeRasa, tmp_path: Path) -> None:
    """--hide-messages counts misses and false alarms but never prints a message."""
    eval_set = write_set(tmp_path / "set.yml", GOOD_ITEMS)
    result = run(["eval", "--set", str(eval_set), "--no-nlu", "--no-model", "--hide-messages"])
    assert result.exit_code == 1
    assert "misses (predicted below the label: compliance failures): 2" in result.stdout
    assert "judged below their level (compliance failures): 2" in result.stdout
    for text, _, _ in GOOD_ITEMS:
        assert text not in result.stdout


def test_eval_with_an_unusable_set_exits_2(tmp_path: Path) -> None:
    """A set with an unknown level is refused with its file and line, exit 2."""
    eval_set = write_set(tmp_path / "set.yml", [("hi", "en", "secret")])
    result = run(["eval", "--set", str(eval_set), "--no-nlu"])
    assert result.exit_code == 2
    assert f"{eval_set}:1" in result.stderr


def test_eval_shows_progress_on_stderr_for_long_runs(tmp_path: Path) -> None:
    """A long run reports progress on stderr, leaving stdout to the report."""
    items = [(f"what does fund number {i} cost?", "en", "public") for i in range(120)]
    eval_set = write_set(tmp_path / "set.yml", [*GOOD_ITEMS[1:3], *items])
    result = run(["eval", "--set", str(eval_set), "--no-nlu"])
    assert "100 of 122 messages classified" in result.stderr
    assert "classified" not in result.stdout

"""`gangway flows propose|pending|approve|reject|versions` against a real database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_FLOW_PATH
from bot.adapters.vault import Vault
from bot.entrypoints.cli import app
from bot.service_layer import flow_governance
from tests.fakes.keys import keys_env

SHIPPED = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
GREETING = "Hi! I'm the virtual assistant of Example Bank."


def gangway(database_url: str, vault: Vault, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, list(args), env={"DATABASE_URL": database_url, **keys_env(vault.keyring)}
    )
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def statuses(sessions: SessionFactory) -> list[str]:
    return [v.status for v in flow_governance.version_history(sessions)]


def test_propose_pending_approve_and_the_history(
    database_url: str, vault: Vault, sessions: SessionFactory, tmp_path: Path
) -> None:
    live = write(tmp_path / "default.yml", SHIPPED)
    assert gangway(database_url, vault, "flows", "propose", str(live), "--by", "ops")[0] == 0
    code, out, _ = gangway(database_url, vault, "flows", "approve", "1", "--by", "carla")
    assert code == 0 and "version default:1 is live" in out

    changed = write(
        tmp_path / "new.yml",
        SHIPPED.replace(GREETING, "Hello.").replace(
            "transition_at: identity", "transition_at: financial"
        ),
    )
    code, out, _ = gangway(database_url, vault, "flows", "propose", str(changed), "--by", "mo")
    assert code == 0 and "version default:2 is pending" in out
    code, out, _ = gangway(database_url, vault, "flows", "pending")
    assert code == 0
    [header, row] = out.splitlines()
    assert header.split()[:3] == ["VERSION", "FLOW", "SHA256"]
    assert row.split()[:2] == ["2", "default"] and " mo " in row
    assert "1 text (utter_greet); transition_at" in row

    code, _, err = gangway(database_url, vault, "flows", "reject", "2", "--comment", " ")
    assert code == 1 and "needs a comment" in err
    code, out, _ = gangway(
        database_url, vault, "flows", "approve", "default:2", "--by", "carla", "--comment", "ok"
    )
    assert code == 0 and statuses(sessions) == ["retired", "live"]
    code, out, _ = gangway(database_url, vault, "flows", "versions")
    assert code == 0 and [line.split()[3] for line in out.splitlines()[1:]] == ["retired", "live"]
    code, out, _ = gangway(database_url, vault, "flows", "pending")
    assert out.strip() == "no flow change is pending"


def test_an_invalid_file_is_refused_with_its_line_and_nothing_stored(
    database_url: str, vault: Vault, sessions: SessionFactory, tmp_path: Path
) -> None:
    broken = write(
        tmp_path / "broken.yml", SHIPPED.replace("governance: required", "governance: maybe")
    )
    code, _, err = gangway(database_url, vault, "flows", "propose", str(broken))
    line = SHIPPED.splitlines().index("governance: required") + 1
    assert code == 1 and f"broken.yml:{line}: `governance` is `maybe`" in err
    assert "nothing was proposed" in err
    assert statuses(sessions) == []


def test_unknown_and_decided_versions_are_refused_plainly(
    database_url: str, vault: Vault, tmp_path: Path
) -> None:
    code, _, err = gangway(database_url, vault, "flows", "approve", "7")
    assert code == 1 and "there is no flow version 7" in err
    live = write(tmp_path / "default.yml", SHIPPED)
    gangway(database_url, vault, "flows", "propose", str(live))
    gangway(database_url, vault, "flows", "approve", "1")
    code, _, err = gangway(database_url, vault, "flows", "reject", "1", "--comment", "no")
    assert code == 1 and "version default:1 is live, not pending" in err
    code, _, err = gangway(database_url, vault, "flows", "approve", "first")
    assert code == 1 and "names no version" in err

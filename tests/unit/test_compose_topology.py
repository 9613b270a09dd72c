"""deploy/compose.yaml keeps the production shape README.md promises: Rasa and the action
server unreachable from outside, a health check on everything that keeps running, two
of gangway and of Rasa, migrations before the service, every variable one that some part
of gangway reads, and no secret written into the file."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Settings
from bot.entrypoints.supervisor import ACTIONS_ENV, RASA_ENV, RASA_STORE_ENV

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
INTERNAL_ONLY = ("rasa", "actions", "postgres", "redis", "migrate")
ONE_OFF = ("migrate",)
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+)(:?[-?])?([^}]*)\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY|KEYS|AUTH")


def _networks(service: str) -> set[str]:
    # A list of names, or a mapping of names to settings: its keys either way.
    return set(SERVICES[service].get("networks", ["default"]))


def _environment(service: str) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in SERVICES[service]["environment"].items()}


def _long_running() -> list[str]:
    return [name for name in SERVICES if name not in ONE_OFF]


def test_rasa_and_the_action_server_are_on_the_internal_network_only() -> None:
    """Nothing outside the stack reaches Rasa, the action server or the databases, and
    none of them publishes a port."""
    internal = {n for n, spec in COMPOSE["networks"].items() if (spec or {}).get("internal")}
    assert internal == {"internal"}
    for name in INTERNAL_ONLY:
        assert _networks(name) == internal, name
        assert "ports" not in SERVICES[name], name


def test_gangway_is_on_both_networks_and_published() -> None:
    assert _networks("gangway") == {"edge", "internal"}
    assert SERVICES["gangway"]["ports"]


@pytest.mark.parametrize("name", _long_running())
def test_every_long_running_service_has_a_health_check(name: str) -> None:
    check = SERVICES[name].get("healthcheck")
    assert check and check.get("test") and not check.get("disable"), name


def test_gangway_and_rasa_run_two_replicas() -> None:
    for name in ("gangway", "rasa"):
        assert SERVICES[name]["deploy"]["replicas"] == 2, name


def test_the_migration_job_runs_before_gangway_starts() -> None:
    """`gangway db upgrade` as the owner role must have finished, successfully."""
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["restart"] == "no"
    assert "gangway_owner" in _environment("migrate")["GANGWAY_MIGRATION_DATABASE_URL"]
    gate = SERVICES["gangway"]["depends_on"]["migrate"]
    assert gate["condition"] == "service_completed_successfully"
    # The service never holds the owner's credentials.
    assert "GANGWAY_MIGRATION_DATABASE_URL" not in _environment("gangway")


def test_rasa_gets_the_stores_that_gangway_up_gives_its_replicas() -> None:
    """The same variables the shared endpoints file names, pointing at the stack's
    PostgreSQL and Redis, with Rasa's own database role, never gangway's."""
    rasa = _environment("rasa")
    assert set(RASA_STORE_ENV) | set(RASA_ENV) <= set(rasa)
    assert rasa["GANGWAY_RASA_TRACKER_HOST"] == "postgres"
    assert rasa["GANGWAY_RASA_LOCK_HOST"] == "redis"
    assert rasa["GANGWAY_RASA_TRACKER_USER"] != "gangway"
    assert set(ACTIONS_ENV) <= set(_environment("actions"))


def test_the_service_logs_json_in_production_mode() -> None:
    for name in ("gangway", "migrate"):
        assert _environment(name)["GANGWAY_LOG_FORMAT"] == "json"
    assert _environment("gangway")["GANGWAY_ENV"] == "production"


def _known_variables() -> set[str]:
    """What gangway, Rasa and the action server read, and what .env.example lists."""
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"\b((?:GANGWAY|RASA)_[A-Z0-9_]+)\b", example))
    settings = {name.upper() for name in Settings.model_fields}
    return settings | listed | set(RASA_ENV) | set(RASA_STORE_ENV) | set(ACTIONS_ENV)


def test_every_gangway_and_rasa_variable_is_one_gangway_knows() -> None:
    """A misspelt variable would be ignored in silence; each one set or referenced
    here exists in bot/config.py or .env.example."""
    used = set()
    for name in SERVICES:
        used |= set(SERVICES[name].get("environment", {}))
    used |= {m.group(1) for m in REFERENCE.finditer((REPO / "deploy" / "compose.yaml").read_text())}
    ours = {v for v in used if v.startswith(("GANGWAY_", "RASA_"))}
    assert ours
    assert ours - _known_variables() == set()


def _literal_secrets(services: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for service, spec in services.items():
        for name, value in (spec.get("environment") or {}).items():
            value = "" if value is None else str(value)
            if SECRET_NAME.search(name) and not name.endswith("__FILE"):
                ref = REFERENCE.fullmatch(value)
                # Empty, or taken from the environment (required, or empty by default).
                if value and not (ref and (ref.group(2) in (None, ":?") or not ref.group(3))):
                    found.append(f"{service}.{name}")
            # Credentials in a URL: the password part must come from the environment.
            for userinfo in re.findall(r"://([^@/]+)@", value):
                if ":" in userinfo and not REFERENCE.fullmatch(userinfo.split(":", 1)[1]):
                    found.append(f"{service}.{name} (URL)")
    return found


def test_no_secret_is_written_in_the_file() -> None:
    assert _literal_secrets(SERVICES) == []


def test_the_secret_check_finds_a_literal_one() -> None:
    """The check above can fail: a key, a default password or a URL's password written
    into the file is found."""
    services = copy.deepcopy(SERVICES)
    services["gangway"]["environment"]["GANGWAY_AUDIT_KEY"] = "c2VjcmV0"
    services["gangway"]["environment"]["RASA_TOKEN"] = "${RASA_TOKEN:-changeme}"
    services["migrate"]["environment"]["DATABASE_URL"] = "postgresql://gangway:hunter2@db/x"
    assert sorted(_literal_secrets(services)) == [
        "gangway.GANGWAY_AUDIT_KEY",
        "gangway.RASA_TOKEN",
        "migrate.DATABASE_URL (URL)",
    ]

"""`gangway up` gives each child process only the environment it needs: Rasa and the
action server never see Twilio's credentials, the database or the record keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.server import is_authorised, secret_problem
from bot.entrypoints.supervisor import action_server_argv, child_environments, rasa_server_argv

# What the operator's shell holds: every secret gangway knows of, and some it does not.
ENVIRON = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/operator",
    "LANG": "C.UTF-8",
    "DATABASE_URL": "postgresql+psycopg://gangway:pw@db.example.com/gangway",
    "GANGWAY_MASTER_KEYS": "2026-12:bWFzdGVy",
    "GANGWAY_LOOKUP_KEY": "bG9va3Vw",
    "GANGWAY_AUDIT_KEY": "YXVkaXQ=",
    "GANGWAY_INVITE_SECRET": "invite-secret-0123456789abcdef",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "real-looking-auth-token",
    "RASA_TOKEN": "rasa-auth-token",
    "AWS_SECRET_ACCESS_KEY": "not-ours-at-all",
    "RASA_TELEMETRY_ENABLED": "false",
    "GANGWAY_LOG_FORMAT": "json",
}
RUN = {
    "GANGWAY_SERVICE_TOKEN": "service-token",
    "GANGWAY_ACTION_SECRET": "action-secret-0123456789",
    "RASA_TOKEN": "rasa-auth-token",
    "GANGWAY_URL": "http://127.0.0.1:8000",
    "GANGWAY_ACTION_SERVER_URL": "http://127.0.0.1:5055",
    "GANGWAY_NLG_URL": "http://127.0.0.1:8000/nlg",
}
RECORD_SECRETS = (
    "DATABASE_URL",
    "GANGWAY_MASTER_KEYS",
    "GANGWAY_LOOKUP_KEY",
    "GANGWAY_AUDIT_KEY",
    "GANGWAY_INVITE_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
)
BASE = {"PATH", "HOME", "LANG", "PYTHONUNBUFFERED"}


@pytest.fixture
def envs() -> dict[str, dict[str, str]]:
    return child_environments(ENVIRON, RUN)


def test_rasa_gets_its_endpoints_and_no_other_secret(envs: dict[str, dict[str, str]]) -> None:
    """Rasa gets the action server's URL and secret, the NLG URL and token, and nothing of
    Twilio, the database, the keys or the operator's other variables."""
    assert set(envs["rasa"]) == BASE | {
        "GANGWAY_ACTION_SERVER_URL",
        "GANGWAY_ACTION_SECRET",
        "GANGWAY_NLG_URL",
        "GANGWAY_SERVICE_TOKEN",
        "RASA_TELEMETRY_ENABLED",
    }


def test_action_server_gets_gangway_url_token_and_its_secret(
    envs: dict[str, dict[str, str]],
) -> None:
    """The action server gets only where gangway is, the service token and its secret."""
    assert set(envs["actions"]) == BASE | {
        "GANGWAY_URL",
        "GANGWAY_SERVICE_TOKEN",
        "GANGWAY_ACTION_SECRET",
    }
    assert envs["actions"]["GANGWAY_ACTION_SECRET"] == RUN["GANGWAY_ACTION_SECRET"]


def test_sandbox_gets_twilio_credentials_but_not_the_records(
    envs: dict[str, dict[str, str]],
) -> None:
    """The sandbox shares gangway's Twilio credentials, never the database or its keys."""
    sandbox = envs["sandbox"]
    assert sandbox["TWILIO_AUTH_TOKEN"] == ENVIRON["TWILIO_AUTH_TOKEN"]
    assert not {"DATABASE_URL", "GANGWAY_MASTER_KEYS", "GANGWAY_SERVICE_TOKEN"} & set(sandbox)
    assert "AWS_SECRET_ACCESS_KEY" not in sandbox


def test_the_service_and_the_sandbox_log_in_the_format_set(
    envs: dict[str, dict[str, str]],
) -> None:
    assert envs["gangway"]["GANGWAY_LOG_FORMAT"] == envs["sandbox"]["GANGWAY_LOG_FORMAT"] == "json"


def test_service_gets_its_settings_only(envs: dict[str, dict[str, str]]) -> None:
    """gangway gets its own settings (database, keys, Twilio, Rasa's token) and this run's
    values, but not the action server's secret nor variables that are not its settings."""
    service = envs["gangway"]
    for name in RECORD_SECRETS:
        assert service[name] == ENVIRON[name]
    assert service["GANGWAY_SERVICE_TOKEN"] == RUN["GANGWAY_SERVICE_TOKEN"]
    assert service["RASA_TOKEN"] == RUN["RASA_TOKEN"]
    assert not {"GANGWAY_ACTION_SECRET", "AWS_SECRET_ACCESS_KEY", "GANGWAY_URL"} & set(service)


def test_no_child_but_gangway_and_sandbox_sees_record_secrets(
    envs: dict[str, dict[str, str]],
) -> None:
    """Neither Rasa nor the action server holds any of the secrets that open the records."""
    for child in ("rasa", "actions"):
        assert not set(RECORD_SECRETS) & set(envs[child]), child


def test_run_values_take_precedence_over_the_environment() -> None:
    """A value this run made (e.g. a fresh service token) replaces an inherited one."""
    envs = child_environments({**ENVIRON, "GANGWAY_SERVICE_TOKEN": "stale"}, RUN)
    assert {envs[c]["GANGWAY_SERVICE_TOKEN"] for c in ("gangway", "rasa", "actions")} == {
        "service-token"
    }


def test_rasa_never_starts_without_an_auth_token() -> None:
    """Rasa's HTTP API is always started with --auth-token; an empty token is refused."""
    argv = rasa_server_argv(Path("model.tar.gz"), host="127.0.0.1", port=5005, token="t0k3n")
    assert "--auth-token=t0k3n" in argv
    with pytest.raises(ValueError):
        rasa_server_argv(Path("model.tar.gz"), host="127.0.0.1", port=5005, token="")


def test_action_server_listens_on_loopback_by_default() -> None:
    """The action server is bound to 127.0.0.1 unless a host is given."""
    argv = action_server_argv(5055)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "actions.server" in argv


def test_action_server_requires_the_shared_secret() -> None:
    """Every path but /health needs the exact secret; a missing or wrong one is refused."""
    secret = "action-secret-0123456789"
    assert is_authorised("/webhook", secret, secret)
    assert not is_authorised("/webhook", None, secret)
    assert not is_authorised("/webhook", "", secret)
    assert not is_authorised("/webhook", secret[:-1], secret)
    assert not is_authorised("/actions", "wrong", secret)
    assert is_authorised("/health", None, secret)


def test_action_server_refuses_to_start_without_a_usable_secret() -> None:
    """No secret, or one shorter than 16 characters, is a reason not to start."""
    assert secret_problem(None) and secret_problem("") and secret_problem("short")
    assert secret_problem("x" * 16) is None

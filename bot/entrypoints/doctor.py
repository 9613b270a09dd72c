"""`gangway doctor`: check each part of the stack and say in plain words what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from bot.adapters.db import make_engine
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, validate_file
from bot.adapters.migrate import current_revision, head_revision
from bot.adapters.model_files import (
    ModelFileError,
    load_model,
    model_in_use,
    read_metadata,
)
from bot.config import Settings
from bot.entrypoints.stack_file import rasa_token
from bot.service_layer.errors import IntegrationError
from bot.service_layer.key_rotation import keys_in_use
from integrations.rasa import RasaClient

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    part: str
    ok: bool
    detail: str


def _database(settings: Settings) -> Check:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        rev = current_revision(engine)
    except Exception as exc:
        return Check("database", False, f"cannot connect to {engine.url!r}: {exc}")
    finally:
        engine.dispose()
    head = head_revision()
    if rev != head:
        return Check(
            "database",
            False,
            f"schema is at {rev or 'nothing'}, not {head}: run `gangway db upgrade`",
        )
    return Check("database", True, f"{engine.url.get_backend_name()} reachable, schema {rev}")


def _rasa(settings: Settings, http: httpx.Client) -> Check:
    token = rasa_token(settings)
    client = RasaClient(settings.rasa_url, token=token, http=http)
    try:
        status = client.status()
    except IntegrationError as exc:
        return Check(
            "rasa",
            False,
            f"not usable at {settings.rasa_url}: {exc.message} (start the stack with `gangway up`)",
        )
    return Check(
        "rasa", True, f"model {status.get('model_file', '?')} loaded at {settings.rasa_url}"
    )


def _actions(settings: Settings, http: httpx.Client) -> Check:
    url = settings.gangway_action_server_url.rstrip("/") + "/health"
    try:
        resp = http.get(url)
    except httpx.HTTPError as exc:
        return Check("action server", False, f"not reachable at {url}: {exc}")
    if resp.status_code != 200:
        return Check("action server", False, f"{url} answered {resp.status_code}")
    return Check("action server", True, f"healthy at {settings.gangway_action_server_url}")


def _twilio(settings: Settings, http: httpx.Client) -> Check:
    if not settings.twilio_configured:
        url = f"http://127.0.0.1:{settings.gangway_sandbox_port}/sandbox/healthz"
        try:
            up = http.get(url).status_code == 200
        except httpx.HTTPError:
            up = False
        where = f"http://127.0.0.1:{settings.gangway_sandbox_port}/"
        if up:
            return Check(
                "whatsapp", True, f"no Twilio credentials: using the local sandbox at {where}"
            )
        return Check(
            "whatsapp",
            False,
            "no Twilio credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) and the local sandbox "
            f"is not running at {where}: start it with `gangway up`",
        )
    assert settings.twilio_account_sid and settings.twilio_auth_token
    url = (
        f"{settings.twilio_api_base_url.rstrip('/')}/2010-04-01/Accounts/"
        f"{settings.twilio_account_sid}.json"
    )
    try:
        resp = http.get(
            url, auth=(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
        )
    except httpx.HTTPError as exc:
        return Check("whatsapp", False, f"Twilio API not reachable at {url}: {exc}")
    if resp.status_code == 401:
        return Check(
            "whatsapp", False, "Twilio refused the credentials (TWILIO_ACCOUNT_SID/AUTH_TOKEN)"
        )
    if resp.status_code >= 400:
        return Check("whatsapp", False, f"Twilio answered {resp.status_code} for the account")
    return Check(
        "whatsapp", True, f"Twilio account reachable; sending as {settings.twilio_whatsapp_from}"
    )


def _flow(settings: Settings) -> Check:
    path = settings.gangway_flow
    if not path.exists():
        return Check("flow", False, f"{path} does not exist: set GANGWAY_FLOW to a flow file")
    errors = [e for e in validate_file(path, DEFAULT_DOMAIN_PATH) if e.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more; run `gangway flows validate`)" if errors[1:] else ""
        return Check("flow", False, f"{first}{more}")
    return Check("flow", True, f"{path} is valid")


def _model(settings: Settings) -> Check:
    path = model_in_use(settings.gangway_sensitivity_model)
    try:
        model = load_model(path)
        trained = read_metadata(path)
    except ModelFileError as exc:
        return Check("sensitivity model", False, str(exc))
    messages = trained.get("messages", "?")
    detail = f"{path.name}: {model.size} n-grams, trained on {messages} messages"
    return Check("sensitivity model", True, detail)


def _keys(settings: Settings) -> Check:
    """The records' keys are given, and unwrap every data key the database holds."""
    from bot.config import MissingConfiguration
    from bot.records_setup import open_records

    try:
        engine, sessions = open_records(settings, datetime.now(UTC))
    except MissingConfiguration as exc:
        return Check("keys", False, str(exc))
    try:
        in_use = keys_in_use(sessions)
        ring = sessions.kw["info"]["vault"].keyring
    except Exception as exc:
        return Check("keys", False, f"cannot read the data keys: {exc}")
    finally:
        engine.dispose()
    missing = {key_id: n for key_id, n in in_use.items() if key_id not in ring.master}
    if missing:
        listed = ", ".join(f"{key_id} ({n} conversations)" for key_id, n in missing.items())
        return Check(
            "keys",
            False,
            f"data keys are wrapped by master keys not given ({listed}): their records cannot "
            "be read; add those keys to GANGWAY_MASTER_KEYS or the key file",
        )
    old = sum(n for key_id, n in in_use.items() if key_id != ring.current_id)
    rotate = f"; {old} data keys on older master keys (`gangway keys rotate`)" if old else ""
    return Check("keys", True, f"from {ring.source}; current master key {ring.current_id}{rotate}")


def run_checks(settings: Settings, http: httpx.Client | None = None) -> list[Check]:
    own = http is None
    client = http or httpx.Client(timeout=5.0)
    checks: list[Callable[[], Check]] = [
        lambda: _database(settings),
        lambda: _keys(settings),
        lambda: _flow(settings),
        lambda: _model(settings),
        lambda: _rasa(settings, client),
        lambda: _actions(settings, client),
        lambda: _twilio(settings, client),
    ]
    try:
        return [check() for check in checks]
    finally:
        if own:
            client.close()

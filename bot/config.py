"""Settings, read from the environment and an optional `.env` file.

Nothing here is read at import time: `load_settings()` is called by the
entrypoints, and tests pass a plain mapping instead of the real environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.client_address import Network, parse_trusted_proxies
from bot.domain.group_roles import GroupRoles, parse_group_roles
from bot.domain.sender_rate import SenderRate, parse_sender_rate
from bot.domain.webhook_secrets import parse_webhook_secrets

__all__ = ["NO_TWILIO", "MissingConfiguration", "Settings", "load_settings"]

REPO_ROOT = Path(__file__).resolve().parent.parent

NO_TWILIO = (
    "No Twilio credentials: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "
    "or run `gangway up`, which starts the local WhatsApp sandbox for you."
)


class MissingConfiguration(RuntimeError):
    """Gangway cannot start with the configuration it was given."""


class Settings(BaseSettings):
    # Empty values (as in a copied .env.example) mean "use the default".
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_ignore_empty=True)

    # The base URL Twilio calls. Signatures are checked against it, never the Host header.
    gangway_public_url: str = "http://127.0.0.1:8000"
    gangway_host: str = "127.0.0.1"
    gangway_port: int = 8000
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{REPO_ROOT / 'var' / 'gangway.db'}"
    )
    # PostgreSQL: the role that runs the migrations and so owns the tables; the
    # service's role (DATABASE_URL) then gets only what it needs, and may not change
    # or remove audit records (README.md, "Database roles"). Unset: DATABASE_URL's
    # role migrates and owns the tables. Ignored on SQLite, which has no roles.
    gangway_migration_database_url: SecretStr | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    # The business's WhatsApp sender; the default is a fictional number (555-01xx).
    twilio_whatsapp_from: str = "whatsapp:+12025550100"
    twilio_api_base_url: str = "https://api.twilio.com"

    # Rasa's HTTP API; several replicas as comma-separated URLs (each conversation goes
    # to one, the next when it is down). `gangway up --rasa-replicas N` starts N from
    # this URL's port on, and sets the list for the service itself.
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: SecretStr | None = None
    rasa_python: str | None = None
    # Where Rasa replicas keep their conversation trackers, so that any replica can take
    # any turn: a PostgreSQL URL, best with a role of its own that may use only this
    # database. Set (or with `--rasa-replicas` above 1), `gangway up` gives Rasa this SQL
    # tracker store and the Redis lock store below. Unset: the database <DATABASE_URL's
    # database>_rasa on the same server, as DATABASE_URL's role, created if missing; only
    # when DATABASE_URL holds no password (Rasa must never get gangway's credentials).
    gangway_rasa_tracker_database_url: SecretStr | None = None
    # Redis for Rasa's lock store: one turn at a time per conversation across replicas.
    gangway_redis_url: str = "redis://127.0.0.1:6379/0"

    # Where Rasa's action server listens (started by `gangway up`, which binds it to this
    # URL's host: keep it on loopback unless Rasa runs on another machine).
    gangway_action_server_url: str = "http://127.0.0.1:5055"
    # The secret Rasa presents to the action server (header X-Gangway-Action-Secret); the
    # action server refuses every other caller. Unset: `gangway up` makes one per run.
    gangway_action_secret: SecretStr | None = None
    # Port of the local WhatsApp sandbox (only when no Twilio credentials are set).
    gangway_sandbox_port: int = 8001
    # Token the Rasa custom actions present when they call gangway's API.
    gangway_service_token: SecretStr | None = None
    # When set, GET /metrics asks for "Authorization: Bearer <this>"; unset, it is open
    # (scraped from inside the network: keep it off the public proxy).
    gangway_metrics_token: SecretStr | None = None
    # OpenTelemetry traces (FastAPI, httpx, SQLAlchemy) go over OTLP/HTTP to this
    # collector URL (e.g. http://otel-collector:4318); needs the `otel` extra.
    otel_exporter_otlp_endpoint: str | None = None
    # A prospect waiting longer than this (seconds) gets one short "one moment" message.
    gangway_holding_reply_after: float = 20.0
    # A message Rasa could not answer, or a reply Twilio refused for now, is tried again
    # after BASE seconds, the wait doubling with each failure up to CAP seconds; at least
    # as long as Twilio's Retry-After, if it sent one, but never longer than CAP.
    gangway_retry_base_seconds: float = Field(default=1.0, gt=0)
    gangway_retry_cap_seconds: float = Field(default=60.0, gt=0)
    # Per WhatsApp sender: at most COUNT messages are processed (screened, sent to Rasa,
    # answered) per WINDOW, e.g. "30/60s", "100/h"; "off" for no limit. Every message is
    # still recorded and acknowledged at once; a sender's excess ones are answered
    # later, in order, never dropped.
    gangway_sender_rate: str = "30/60s"
    # Conversations processed in parallel by one service process. More is not faster:
    # the work is CPU in one Python process, and on 2 cores bench/bench.py measured
    # 22.8 replies/s with 2, 28.1 with 4 and 25.6 with 8 (threads contend for the GIL).
    gangway_workers: int = 4
    # Identifies this process's leases on conversations; a restart with the same id
    # takes its own leases back at once instead of waiting for them to expire.
    gangway_instance_id: str | None = None
    gangway_lease_seconds: float = 60.0
    gangway_log_level: str = "INFO"
    # "text": human-readable lines on stderr (what `gangway up` shows); "json": one JSON
    # object per line (time, level, logger, message, request_id, conversation_id,
    # instance, pid, exc_info), for a deployment's log collector.
    gangway_log_format: Literal["text", "json"] = "text"
    # The flow in force (see flows/README.md); re-read when the file changes.
    gangway_flow: Path = REPO_ROOT / "flows" / "default.yml"
    # How often (seconds) each process looks for a newly live flow version and a changed
    # flow file.
    gangway_flow_poll_seconds: float = Field(default=2.0, gt=0)
    # The trained sensitivity model, loaded at start. Unset: the one `make model` trains
    # from data/sensitivity/ (var/models/sensitivity-<fingerprint>.json.gz).
    gangway_sensitivity_model: Path | None = None
    # Signs the secure-channel invite links (at least 16 bytes; `openssl rand -hex 32`).
    # Unset: a random one is made once and kept in the state directory (invite-secret),
    # so links survive a restart. Several service processes must share one.
    gangway_invite_secret: SecretStr | None = None
    # The keys that protect the records (see README "Keys"): master keys as
    # ID:BASE64 pairs, comma-separated, the first wrapping new data keys (make a key with
    # `openssl rand -base64 32`); the lookup key (keyed hashes of phone numbers) and the
    # audit key (the audit chain's HMAC). GANGWAY_KEY_FILE names a file holding them
    # instead. None of them set: a key file made once in the state directory (keys).
    gangway_master_keys: SecretStr | None = None
    gangway_lookup_key: SecretStr | None = None
    gangway_audit_key: SecretStr | None = None
    gangway_key_file: Path | None = None
    # Where the service writes the audit chain's checkpoints, outside the database (put it
    # on other, ideally append-only, storage), and how often (seconds; 0: never).
    # `gangway audit verify` checks the chain still holds each one. Unset: the state
    # directory's audit-checkpoints.
    gangway_audit_checkpoints: Path | None = None
    gangway_audit_checkpoint_seconds: float = 300.0
    # How often (seconds) the service looks whether the daily retention run is due (the
    # flow's `retention` periods; flows/README.md). 0: never (run `gangway retention run`).
    gangway_retention_check_seconds: float = 3600.0
    # How often (seconds) the durable timers (reminders, invite expiry) are checked.
    gangway_timer_interval: float = 1.0
    # Who gets a handoff (queues, licences, SLA; see flows/README.md "Routing").
    gangway_routing: Path = REPO_ROOT / "flows" / "routing.yml"
    # The firm's CRM: each handoff and status change is POSTed there as a Standard
    # Webhook (integrations/crm_webhook.py). Unset: no CRM push. The secret: `whsec_`
    # and base64, or (as before that format) any text, used as its bytes; several,
    # separated by commas or spaces, while it changes: each signs every push.
    gangway_crm_url: str | None = None
    gangway_crm_secret: SecretStr | None = None
    gangway_crm_timeout: float = 10.0
    gangway_crm_interval: float = 2.0
    # The secret the secure messenger signs its activation callbacks with, as a
    # Standard Webhook (POST /webhooks/secure-channel/activated), in the same form as
    # GANGWAY_CRM_SECRET; several: a callback signed with any one of them is taken.
    # Unset: such callbacks are refused.
    gangway_channel_webhook_secret: SecretStr | None = None
    # A secure messenger's REST API that makes the invites (integrations/secure_messenger.py).
    # Unset: gangway's built-in signed, one-time links. Set: GANGWAY_CHANNEL_WEBHOOK_SECRET
    # must be set too, for its activation callbacks.
    gangway_secure_messenger_url: str | None = None
    gangway_secure_messenger_auth_header: str = "Authorization"
    gangway_secure_messenger_auth_value: SecretStr | None = None  # e.g. "Bearer ..."
    gangway_secure_messenger_timeout: float = 10.0
    gangway_secure_messenger_retries: int = 2
    # Reconciliation with Twilio's message list (bot/service_layer/reconciliation.py):
    # the service checks every this many hours that each message to or from the
    # business number is in gangway's records and the other way round (0: never).
    gangway_reconcile_interval: float = Field(default=24.0, ge=0)
    # Minutes before now that a reconciliation stops, so messages in flight are not gaps.
    gangway_reconcile_grace: float = Field(default=10.0, ge=0)
    # The advisor console: a sign-in ends after this long unused (seconds), and this
    # long after signing in at most.
    gangway_console_idle_seconds: float = 1800.0
    gangway_console_session_seconds: float = 43200.0
    # Failed console sign-ins allowed per account, and per client address, within the
    # window (minutes); beyond either, sign-in answers 429 until the window slides on.
    # Counted in the database, so every service process shares the count.
    gangway_sign_in_account_limit: int = Field(default=5, ge=1)
    gangway_sign_in_address_limit: int = Field(default=20, ge=1)
    gangway_sign_in_window_minutes: float = Field(default=15.0, gt=0)
    # The reverse proxies in front of gangway (IPs or CIDR networks, comma-separated).
    # Only from these is X-Forwarded-For believed for the client's address; empty: the
    # connection's peer is the client.
    gangway_trusted_proxies: str = ""
    # Days an API token made by `gangway users token` works (`--days` overrides).
    gangway_api_token_days: int = Field(default=90, ge=1)
    # Sign-in through the firm's OpenID Connect identity provider (optional; all of
    # issuer, client id and secret, and the role groups set turn it on). The provider
    # must allow the redirect URI <GANGWAY_PUBLIC_URL>/console/oidc/callback.
    gangway_oidc_issuer: str | None = None
    gangway_oidc_client_id: str | None = None
    gangway_oidc_client_secret: SecretStr | None = None
    # Which of the provider's groups gives which role: role=group pairs, comma-separated,
    # e.g. advisor=gw-advisors,supervisor=gw-supervisors. A person in none is refused;
    # in several, the first listed pair wins.
    gangway_oidc_role_groups: str = ""
    # The ID token claims that hold the person's groups and (optional) team.
    gangway_oidc_groups_claim: str = "groups"
    gangway_oidc_team_claim: str | None = None
    # The name on the console's sign-in button: "Sign in with <name>".
    gangway_oidc_name: str = "your firm's account"
    # The built-in secure chat (/secure/chat): a prospect's device session ends after
    # this many minutes without a look at the page, and this many hours after it opened.
    gangway_secure_idle_minutes: float = Field(default=30.0, gt=0)
    gangway_secure_session_hours: float = Field(default=12.0, gt=0)
    # "production" turns off what only helps development: the interactive API
    # documentation (/docs, /redoc, /openapi.json). GANGWAY_API_DOCS=on|off overrides.
    gangway_env: Literal["development", "production"] = "development"
    gangway_api_docs: Literal["on", "off"] | None = None
    # The most bytes a request body may have, counted while it arrives (413 beyond):
    # webhooks, forms and JSON. Twilio's largest webhook (1,600 characters of text, ten
    # media URLs) is a few kilobytes.
    gangway_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # The same for the routes that take a file (secure chat attachments, at most 10 MB
    # each): the file and the form around it.
    gangway_max_upload_bytes: int = Field(default=10 * 1024 * 1024 + 64 * 1024, ge=1024)
    # The same for Rasa's NLG requests, which carry the conversation's whole tracker
    # (every event so far): about 3.5 kB a turn, so 64 kB was passed near turn 18.
    gangway_max_tracker_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # An inbound WhatsApp text longer than this many characters is recorded whole but
    # never screened or sent to Rasa: it counts as sensitive at the highest level, with
    # evidence "too_long". WhatsApp itself allows 4,096 characters per text message.
    gangway_max_inbound_chars: int = Field(default=4096, ge=1)
    # Local state of `gangway up`: logs of each part and stack.json (how local tools
    # reach the running stack). Default: var/ in the repository.
    gangway_state_dir: Path | None = None
    # Where `gangway flows test` writes its last results (the marketing page reads them).
    # Default: flow-tests/results.json in the state directory.
    gangway_flow_test_results: Path | None = None

    @field_validator("gangway_sender_rate")
    @classmethod
    def _valid_sender_rate(cls, value: str) -> str:
        """A typo in the rate stops the service at start instead of allowing anything."""
        parse_sender_rate(value)
        return value

    @property
    def sender_rate(self) -> SenderRate | None:
        """The per-sender processing rate, or None for no limit."""
        return parse_sender_rate(self.gangway_sender_rate)

    @property
    def state_dir(self) -> Path:
        return self.gangway_state_dir or REPO_ROOT / "var"

    @property
    def flow_test_results(self) -> Path:
        return self.gangway_flow_test_results or self.state_dir / "flow-tests" / "results.json"

    @property
    def migration_database_url(self) -> str | None:
        url = self.gangway_migration_database_url
        return url.get_secret_value() if url else None

    @property
    def audit_checkpoints(self) -> Path:
        return self.gangway_audit_checkpoints or self.state_dir / "audit-checkpoints"

    @field_validator("gangway_trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    # Read when the service is built, not by a validator: pydantic's error would quote
    # the value, and these are secrets.
    @property
    def crm_secrets(self) -> tuple[bytes, ...]:
        """The keys GANGWAY_CRM_SECRET holds (none when it is unset)."""
        return _webhook_keys("GANGWAY_CRM_SECRET", self.gangway_crm_secret)

    @property
    def channel_webhook_secrets(self) -> tuple[bytes, ...]:
        """The keys GANGWAY_CHANNEL_WEBHOOK_SECRET holds (none when it is unset)."""
        return _webhook_keys("GANGWAY_CHANNEL_WEBHOOK_SECRET", self.gangway_channel_webhook_secret)

    @field_validator("gangway_oidc_role_groups")
    @classmethod
    def _role_groups_parse(cls, value: str) -> str:
        parse_group_roles(value)
        return value

    @property
    def oidc_role_groups(self) -> GroupRoles:
        return parse_group_roles(self.gangway_oidc_role_groups)

    @property
    def trusted_proxies(self) -> tuple[Network, ...]:
        return parse_trusted_proxies(self.gangway_trusted_proxies)

    @property
    def oidc_configured(self) -> bool:
        return bool(
            self.gangway_oidc_issuer
            and self.gangway_oidc_client_id
            and self.gangway_oidc_client_secret
            and self.gangway_oidc_role_groups.strip()
        )

    @property
    def api_docs_enabled(self) -> bool:
        if self.gangway_api_docs is not None:
            return self.gangway_api_docs == "on"
        return self.gangway_env != "production"

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def instance_id(self) -> str:
        return self.gangway_instance_id or f"{os.uname().nodename}:{self.gangway_port}"


def _webhook_keys(name: str, secret: SecretStr | None) -> tuple[bytes, ...]:
    if secret is None:
        return ()
    try:
        return parse_webhook_secrets(secret.get_secret_value())
    except ValueError as exc:
        raise MissingConfiguration(f"{name}: {exc}") from None


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Settings from `environ` (default: the process environment) over `env_file`."""
    if environ is None:
        return Settings(_env_file=env_file)  # type: ignore[call-arg]
    values = {k.lower(): v for k, v in environ.items()}
    fields = Settings.model_fields
    return Settings.model_validate({k: v for k, v in values.items() if k in fields and v != ""})

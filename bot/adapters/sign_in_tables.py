"""Sign-in's own tables: failed sign-ins (the throttle's memory, shared by every
service process through the database) and sign-ins through the firm's identity
provider that have left for it and not yet come back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.adapters.schema_base import Base, UTCDateTime

__all__ = ["PendingOidcSignIn", "SignInFailure"]


class SignInFailure(Base):
    """One failed sign-in, counted against its account and its client address."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_account", "account_sha256", "failed_at"),
        Index("ix_sign_in_failures_address", "address", "failed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # SHA-256 of the normalised email as typed: people type passwords into the email
    # field, so the typed text is never stored. Emptied when the account signs in: the
    # failure then counts against its address only.
    account_sha256: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingOidcSignIn(Base):
    """A browser sent to the identity provider: what its return must match (state,
    nonce, PKCE verifier), found by the SHA-256 of a cookie only that browser holds."""

    __tablename__ = "pending_oidc_sign_ins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cookie_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

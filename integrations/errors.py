"""Errors raised by the adapters to the outside world.

    IntegrationError            anything that went wrong talking to a provider
     ├── TransientError         worth retrying later (timeouts, 429, 5xx, connection refused)
     └── PermanentError         retrying will not help (4xx other than 429, bad credentials)

Every error carries the provider's name, the HTTP status (if any), the
provider's own error code (if any) and whether it is retryable, so that the
service layer can decide without parsing messages.
"""

from __future__ import annotations

__all__ = ["IntegrationError", "PermanentError", "TransientError"]


class IntegrationError(Exception):
    retryable: bool = False

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.status = status
        self.code = code

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status={self.status!r}, "
            f"code={self.code!r}, message={self.message!r})"
        )


class TransientError(IntegrationError):
    retryable = True


class PermanentError(IntegrationError):
    retryable = False

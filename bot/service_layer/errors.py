"""What the adapters to the outside world raise through the service layer's ports.

    IntegrationError            anything that went wrong talking to a provider
     ├── TransientError         worth retrying later (timeouts, 429, 5xx, connection refused)
     └── PermanentError         retrying will not help (4xx other than 429, bad credentials)

Every error carries the provider's name, the HTTP status (if any), the
provider's own error code (if any), whether it is retryable and whether it is
ambiguous, and how long the provider asked us to wait before trying again (its
``Retry-After``, in seconds, if it said), so that the service layer can decide without
parsing messages.
The service layer owns this family, as it owns the ports: an adapter raises these,
and nothing here knows which adapters exist.
"""

from __future__ import annotations

__all__ = ["IntegrationError", "PermanentError", "TransientError"]


class IntegrationError(Exception):
    retryable: bool = False
    # True when the request may have taken effect anyway (a send that timed out after it
    # was written): the caller must look before it sends again, or risk sending twice.
    ambiguous: bool = False

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        status: int | None = None,
        code: int | str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.status = status
        self.code = code
        # Seconds the provider asked for before the next attempt (a 429's or 503's
        # Retry-After); None when it did not say.
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, status={self.status!r}, "
            f"code={self.code!r}, message={self.message!r}"
            + (f", retry_after={self.retry_after!r})" if self.retry_after is not None else ")")
        )


class TransientError(IntegrationError):
    retryable = True


class PermanentError(IntegrationError):
    retryable = False

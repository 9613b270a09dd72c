"""Password hashes: argon2id for every new hash, scrypt still read for older accounts.

New hashes are argon2id (``argon2-cffi``) at OWASP's password-storage guidance:
19 MiB of memory, two passes, one lane, in the PHC string format
(``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``) that records its own cost, so the cost
can be raised later and old hashes still verify. Hashes made before argon2id, stored
as ``scrypt$n$r$p$salt_b64$hash_b64``, still verify; ``needs_rehash`` says so, and
sign-in replaces them with argon2id while it holds the password in hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["ARGON2_MEMORY_KIB", "ARGON2_TIME_COST", "hash_password", "needs_rehash", "verify"]

ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
_HASHER = PasswordHasher(
    time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=1, hash_len=32
)


def hash_password(password: str) -> str:
    """A salted argon2id hash of ``password`` at the current cost."""
    return _HASHER.hash(password)


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (argon2id or an older scrypt hash);
    False, never an error, for a malformed hash."""
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` is weaker than a new hash would be: scrypt, or argon2 at a
    lower cost than today's."""
    if not stored.startswith("$argon2id$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    """Hashes made before argon2id: ``scrypt$n$r$p$salt_b64$hash_b64``."""
    try:
        _scheme, n, r, p, salt_b64, hash_b64 = stored.split("$")
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        # maxmem: scrypt needs 128 * n * r bytes; leave headroom above OpenSSL's default.
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=2**26,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)

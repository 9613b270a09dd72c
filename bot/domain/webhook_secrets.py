"""The shared secrets of the signed webhooks (the CRM's and the secure messenger's), as
an operator writes them in the settings.

A setting holds one secret or several, separated by commas or whitespace: several
while a secret is being changed, the old one and the new one side by side. Each is
either in the Standard Webhooks form, ``whsec_`` followed by the key in base64 (what
``echo "whsec_$(openssl rand -base64 32)"`` makes), or any other text, whose UTF-8
bytes are the key -- which is how secrets made before the Standard Webhooks format
(``openssl rand -hex 32``) keep signing and checking exactly as they did. A raw
secret therefore cannot hold a comma or whitespace, and cannot start with ``whsec_``.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["STANDARD_PREFIX", "parse_webhook_secrets"]

STANDARD_PREFIX = "whsec_"
_SEPARATORS = re.compile(r"[,\s]+")


def parse_webhook_secrets(text: str, *, min_bytes: int = 1) -> tuple[bytes, ...]:
    """The keys ``text`` holds, in its order, each at least ``min_bytes`` long.

    Raises ValueError, saying which one (by position, never its value) is wrong, when
    ``text`` holds none, a ``whsec_`` secret is not base64, or a key is too short.
    """
    parts = [part for part in _SEPARATORS.split(text) if part]
    if not parts:
        raise ValueError("no secret given")
    keys: list[bytes] = []
    for number, part in enumerate(parts, start=1):
        which = f"secret {number} of {len(parts)}" if len(parts) > 1 else "the secret"
        if part.startswith(STANDARD_PREFIX):
            encoded = part[len(STANDARD_PREFIX) :]
            try:
                # Unpadded base64 is common in the wild: pad it to a whole quantum.
                padded = encoded.rstrip("=") + "=" * (-len(encoded.rstrip("=")) % 4)
                key = base64.b64decode(padded, validate=True)
            except binascii.Error:
                raise ValueError(
                    f"{which} starts with {STANDARD_PREFIX} but what follows is not base64"
                ) from None
        else:
            key = part.encode("utf-8")
        if len(key) < min_bytes:
            raise ValueError(
                f"{which} is {len(key)} bytes long, fewer than {min_bytes} (secrets are "
                "separated by commas or spaces; make one with: "
                'echo "whsec_$(openssl rand -base64 32)")'
            )
        keys.append(key)
    return tuple(keys)

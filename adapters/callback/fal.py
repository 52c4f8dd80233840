"""fal's callbacks: ED25519 over `request_id \\n user_id \\n timestamp \\n sha256hex(body)`, hex
in `X-Fal-Webhook-Signature`, checked against the keys of fal's JWKS; the timestamp must be
within five minutes. The signed request id names the task and the delivery (fal sends one
notice per request and retries it as it was)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.callback.jwks import JwksCache
from adapters.callback.notice import MAX_ID, Notice, Unverified

TOLERANCE_S = 300
_HEADERS = ("request-id", "user-id", "timestamp", "signature")


class FalVerifier:
    def __init__(self, keys: JwksCache, wall: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._wall = wall

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        request_id, user_id, timestamp, signature = (
            headers.get(f"X-Fal-Webhook-{name}", "").strip() for name in _HEADERS
        )
        if not (request_id and user_id and timestamp.isdigit()) or len(request_id) > MAX_ID:
            raise Unverified
        if abs(self._wall() - int(timestamp)) > TOLERANCE_S:
            raise Unverified
        try:
            raw = bytes.fromhex(signature)
        except ValueError:
            raise Unverified from None
        digest = hashlib.sha256(body).hexdigest()
        message = "\n".join((request_id, user_id, timestamp, digest)).encode()
        for refresh in (False, True):  # a key fal rotated in since we last looked
            for key in await self._keys.keys(refresh):
                public = key.key
                if not isinstance(public, ed25519.Ed25519PublicKey):
                    continue
                try:
                    public.verify(raw, message)
                except InvalidSignature:
                    continue
                return Notice(request_id, (request_id,))
        raise Unverified

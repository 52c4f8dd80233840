"""Google's two ways of signing a callback. A per-request webhook (`webhook_config`) carries an
RS256 JWT signed by Google, checked against its published JWKS with the URL we gave as the
audience; sources put it in `webhook-signature` or in `Authorization: Bearer`, so both are read.
A static (project-level) webhook is Standard Webhooks HMAC with the `whsec_` secret."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import jwt

from adapters.callback.jwks import JwksCache
from adapters.callback.notice import Notice, Unverified, parse_json, task_ids
from adapters.callback.verify import StandardWebhooks

LEEWAY_S = 30  # clock skew between Google and us


class GoogleVerifier:
    def __init__(
        self, audiences: Sequence[str], keys: JwksCache, static: StandardWebhooks | None = None
    ) -> None:
        """`audiences`: the URLs a JWT may be addressed to (the callback URL we sent); `static`
        verifies HMAC-signed deliveries when a static webhook's secret is configured."""
        self._audiences = list(audiences)
        self._keys = keys
        self._static = static

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        token = _token(headers)
        if token is None:
            if self._static is None:
                raise Unverified
            return await self._static.verify(headers, body)
        claims = await self._claims(token)
        # Claims are signed; a body beside a JWT may not be, so its ids come second.
        ids = task_ids(claims) or task_ids(parse_json(body))
        delivery = headers.get("webhook-id") or str(claims.get("jti") or "")
        return Notice(delivery or hashlib.sha256(token.encode()).hexdigest(), ids)

    async def _claims(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unverified from None
        key = await self._keys.find(str(kid)) if kid else None
        if key is None or key.key_type != "RSA":
            raise Unverified
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self._audiences,
                options={"require": ["exp", "aud"]},
                leeway=LEEWAY_S,
            )
        except jwt.PyJWTError:
            raise Unverified from None
        return claims


def _token(headers: Mapping[str, str]) -> str | None:
    """The JWT a delivery carries, if any (an HMAC signature looks like `v1,<base64>`)."""
    signature = headers.get("webhook-signature", "").strip()
    if signature.count(".") == 2 and "," not in signature and " " not in signature:
        return signature
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip().count(".") == 2:
        return value.strip()
    return None

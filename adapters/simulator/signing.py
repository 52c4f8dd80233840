"""How each simulated provider signs its callbacks, with keys the tests know: Standard Webhooks
HMAC (Google's static webhooks, and the gateway extension), an RS256 JWT in `webhook-signature`
(Google's per-request `webhook_config`), ED25519 over fal's message, nothing (evolink). The
public halves are served as one JWKS at `/.well-known/jwks.json`."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm
from standardwebhooks import Webhook

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"videobot-simulator-webhook-key-01").decode()
GOOGLE_KID = "sim-google-1"
FAL_KID = "sim-fal-1"
FAL_USER_ID = "sim-user-0001"
JWT_ISSUER = "https://generativelanguage.googleapis.com"
JWT_LIFETIME = 300


@cache
def google_key() -> rsa.RSAPrivateKey:
    """The private key of the simulated Google's RS256 webhook JWTs (one per process)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def fal_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def jwks() -> dict[str, Any]:
    """The public keys, as a provider publishes them."""
    google = json.loads(RSAAlgorithm.to_jwk(google_key().public_key()))
    fal = json.loads(OKPAlgorithm.to_jwk(fal_key().public_key()))
    google.update(kid=GOOGLE_KID, alg="RS256", use="sig")
    fal.update(kid=FAL_KID, use="sig")
    return {"keys": [google, fal]}


def standard_headers(
    delivery_id: str, body: bytes, secret: str = WEBHOOK_SECRET, at: datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks: HMAC-SHA256 over `id.timestamp.body` with the `whsec_` secret."""
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(delivery_id, at, body.decode())
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def google_jwt_headers(
    delivery_id: str, audience: str, claims: dict[str, Any], at: datetime | None = None
) -> dict[str, str]:
    """Google's per-request webhooks: the same headers, `webhook-signature` an RS256 JWT
    (audience: the URL it was sent to)."""
    at = at or datetime.now(UTC)
    now = int(at.timestamp())
    payload = {
        **claims,
        "iss": JWT_ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + JWT_LIFETIME,
        "jti": delivery_id,
    }
    token = jwt.encode(payload, google_key(), algorithm="RS256", headers={"kid": GOOGLE_KID})
    return {"webhook-id": delivery_id, "webhook-timestamp": str(now), "webhook-signature": token}


def fal_headers(request_id: str, body: bytes, at: datetime | None = None) -> dict[str, str]:
    """fal: ED25519 over `request_id \\n user_id \\n timestamp \\n sha256hex(body)`, hex."""
    timestamp = str(int((at or datetime.now(UTC)).timestamp()))
    digest = hashlib.sha256(body).hexdigest()
    message = "\n".join((request_id, FAL_USER_ID, timestamp, digest)).encode()
    return {
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": FAL_USER_ID,
        "X-Fal-Webhook-Timestamp": timestamp,
        "X-Fal-Webhook-Signature": fal_key().sign(message).hex(),
    }

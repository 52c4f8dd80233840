"""Vertex AI's OAuth side, simulated: the token endpoint a service account's signed JWT is
traded at (RS256, checked against a trusted public key when a test gives one), the bearer
tokens it issues (each expiring on the simulator's clock), and their check on every call."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if TYPE_CHECKING:
    from adapters.simulator.google import GoogleSpeaker

TOKEN_PATH = "/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class TokenIssuer:
    def __init__(self, speaker: GoogleSpeaker) -> None:
        self.speaker = speaker
        self.tokens: dict[str, float] = {}  # token -> expiry, simulator time
        self.issued = 0

    def routes(self) -> list[web.RouteDef]:
        return [web.post(TOKEN_PATH, self._token)]

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        if form.get("grant_type") != JWT_GRANT:
            return _oauth_error("unsupported_grant_type", "Only the JWT bearer grant is served.")
        try:
            claims = self._verified(str(form.get("assertion", "")))
        except ValueError as err:
            return _oauth_error("invalid_grant", str(err))
        if SCOPE not in str(claims.get("scope", "")).split():
            return _oauth_error("invalid_scope", f"Ask for the scope {SCOPE}.")
        ttl = float(self.speaker.knobs["token_ttl"])
        token = f"ya29.sim-{secrets.token_urlsafe(24)}"
        self.tokens[token] = self.speaker.sim.clock() + ttl
        self.issued += 1
        return web.json_response(
            {"access_token": token, "expires_in": int(ttl), "token_type": "Bearer"}
        )

    def _verified(self, assertion: str) -> dict[str, Any]:
        try:
            head, body, signature = assertion.split(".")
            header = json.loads(_unb64(head))
            claims: dict[str, Any] = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            raise ValueError("The assertion is not a JWT.") from None
        if header.get("alg") != "RS256" or not claims.get("iss"):
            raise ValueError("The assertion must be RS256-signed by a service account.")
        if not str(claims.get("aud", "")).endswith("/token"):
            raise ValueError("The assertion's audience is not a token endpoint.")
        if float(claims.get("exp", 0)) < time.time():  # google-auth signs with the wall clock
            raise ValueError("The assertion has expired.")
        trusted = self.speaker.knobs["trusted_key"]
        if trusted:
            key = serialization.load_pem_public_key(str(trusted).encode())
            if not isinstance(key, rsa.RSAPublicKey):
                raise ValueError("The trusted key is not an RSA key.")
            try:
                key.verify(
                    _unb64(signature),
                    f"{head}.{body}".encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except InvalidSignature:
                raise ValueError("Invalid JWT Signature.") from None
        return claims

    def refusal(self, request: web.Request) -> web.Response | None:
        """Vertex AI wants one of our live tokens (401 in Google's older body otherwise)."""
        if not self.speaker.vertex:
            return None
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self.tokens.get(token.strip()) if scheme == "Bearer" else None
        if expires is None or self.speaker.sim.clock() >= expires:
            return self.speaker.old_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        return None

    def both_credentials(self, request: web.Request) -> bool:
        """The Gemini API refuses a key sent both as a header and as `?key=`."""
        return "key" in request.query and "x-goog-api-key" in request.headers


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _oauth_error(code: str, description: str) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=400)


def demo_service_account(token_uri: str, project: str = "videobot-demo") -> dict[str, Any]:
    """A throwaway service account key for the offline demo on `vertex`: a fresh RSA key whose
    tokens this simulator (trusting any signature while `trusted_key` is unset) hands out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "demo",
        "private_key": private,
        "client_email": f"demo@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }

"""The `Verifier` contract and the simple schemes: Standard Webhooks HMAC (Google's static
webhooks, and gateways that take a `callback_url` and sign that way) and none at all (evolink
signs nothing: its callbacks are taken at their word, which costs at most a poll)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Protocol

from standardwebhooks import Webhook, WebhookVerificationError

from adapters.callback.notice import Malformed, Notice, Unverified, parse_json, task_ids


class Verifier(Protocol):
    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """The notice a genuine callback carries. Raises CallbackRefused (Unverified,
        Malformed, KeysUnavailable) for anything else; never reads more than it is given."""
        ...


class StandardWebhooks:
    """HMAC-SHA256 over `webhook-id.webhook-timestamp.body` with a `whsec_` secret; the
    timestamp must be within five minutes (the library's window), and `webhook-id` is the
    delivery id (one per event, kept across the sender's retries)."""

    def __init__(self, secret: str) -> None:
        self._hook = Webhook(secret)

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        lowered = {name.lower(): value for name, value in headers.items()}
        try:
            data = self._hook.verify(body, lowered)
        except json.JSONDecodeError:  # signed, but the body is not JSON (checked after the HMAC)
            raise Malformed from None
        except (WebhookVerificationError, ValueError):  # a malformed header is a bad signature
            raise Unverified from None
        return Notice(lowered["webhook-id"], task_ids(data))


class Unsigned:
    """A provider that signs nothing: the body's digest stands in for a delivery id, so an
    exact repeat is still dropped."""

    async def verify(self, headers: Mapping[str, str], body: bytes) -> Notice:
        data = parse_json(body)
        return Notice(hashlib.sha256(body).hexdigest(), task_ids(data))

"""How the video API's HTTP answers read: a failed response becomes the ProviderError it means
(Retry-After included), a body becomes JSON, and a key the gateway echoes never gets through."""

from __future__ import annotations

import math
import re
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from adapters.provider.dialects.base import read_detail
from adapters.provider.redact import Redactor
from bot.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderForbidden,
    ProviderRejected,
    ProviderTransient,
    RateLimited,
    ResultExpired,
    SubmitAmbiguous,
    TaskNotFound,
)

MAX_RETRY_AFTER = 120.0
_UNKNOWN_ID = re.compile(r"invalid interaction name", re.IGNORECASE)


class AnswerReader:
    """Reads answers with the API key in mind: it is redacted from anything quoted back."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor

    def error(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        wire = wire_error(_json(response, quiet=True))
        message = self.redact(
            str(wire.get("message") or response.reason_phrase or f"HTTP {status}")
        )
        raw_code = wire.get("code") or response.headers.get("x-fal-error-type")
        code = clip(self.redact(str(raw_code)), 64) if raw_code is not None else None
        request_id = response.headers.get("x-request-id")
        request_id = clip(self.redact(request_id), 64) if request_id else None
        if "invalid apitype" in message.lower():
            message += " (VIDEO_API_URL points at a chat endpoint; use the gateway's task API root)"
        if status == 429:
            limited = RateLimited(
                clip(message), retry_after=retry_after(response.headers), code=code
            )
            limited.request_id = request_id
            return limited
        if status == 403:
            return ProviderForbidden(clip(message), code=code, request_id=request_id)
        if status == 401:
            return ProviderAuthError(clip(message), code=code, request_id=request_id)
        if status == 404 or (status == 400 and _UNKNOWN_ID.search(message)):
            # Google's Interactions API answers an id it does not know with 400 "Invalid
            # interaction name": a lost task, not a refusal of the request.
            return TaskNotFound(clip(message), code=code, request_id=request_id)
        if status >= 500 or status in (408, 409):
            # 409: a request with the same idempotency key is still being processed.
            suffix = f" (request id {request_id})" if request_id else ""
            return ProviderTransient(clip(message) + suffix, code=code, request_id=request_id)
        return ProviderRejected(clip(message), code=code, request_id=request_id)

    def body(self, response: httpx.Response) -> dict[str, Any]:
        try:
            return _json(response)
        except ProviderTransient as err:
            raise ProviderTransient(self.redact(str(err))) from None

    def redact(self, text: str) -> str:
        """A gateway may echo the key it refused, or quote a link carrying a credential; neither
        may reach a log, a user or the ledger."""
        return self._redactor.text(text)


def wire_error(body: dict[str, Any]) -> dict[str, Any]:
    """`message` and `code` of an error body, in each gateway's shape: `{"error": {...}}` (a
    word code preferred to a number: apimart sends `"code": 400` beside its `type`), a bare
    `error` string, fal's `{"detail": ..., "error_type"}`, a flat `{"code", "message"}`, or
    Google's older `[{"error": {...}}]` (a list, kept under `data` by _json)."""
    listed = body.get("data")
    if isinstance(listed, list) and listed and isinstance(listed[0], dict):
        body = listed[0]
    error = body.get("error")
    if isinstance(error, dict):
        code, kind = error.get("code"), error.get("type")
        word = code if isinstance(code, str) and code and not code.isdigit() else None
        status = error.get("status")  # Google's older bodies: {"code": 403, "status": "..."}
        return {
            "message": error.get("message") or error.get("msg"),
            "code": word or kind or status or code,
        }
    if error:
        return {"message": error, "code": body.get("error_type") or body.get("type")}
    if "detail" in body:
        detail = read_detail(body["detail"])
        return {"message": detail.message, "code": body.get("error_type") or detail.code}
    return {"message": body.get("message") or body.get("msg"), "code": None}


def outcome(err: ProviderError) -> str:
    """The metrics label for a failed exchange (ProviderError's tree, most specific first)."""
    if isinstance(err, RateLimited):
        return "rate_limited"
    if isinstance(err, ProviderTransient):
        return "transient"
    if isinstance(err, ProviderAuthError):
        return "auth"
    if isinstance(err, TaskNotFound | ResultExpired):
        return "not_found"
    if isinstance(err, SubmitAmbiguous):
        return "ambiguous"
    return "rejected"


def retry_after(headers: httpx.Headers) -> timedelta | None:
    if ms := headers.get("retry-after-ms"):
        try:
            if (parsed := _seconds(float(ms) / 1000)) is not None:
                return parsed
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return timedelta(seconds=max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER)))


def clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _json(response: httpx.Response, quiet: bool = False) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        if quiet:
            return {}
        raise ProviderTransient(f"not JSON: {clip(response.text)}") from None
    return data if isinstance(data, dict) else {"data": data}


def _seconds(value: float) -> timedelta | None:
    if not math.isfinite(value) or value < 0:
        return None
    return timedelta(seconds=min(value, MAX_RETRY_AFTER))

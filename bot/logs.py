"""Logging set-up: readable lines by default, and a filter on every handler that removes
secrets (tokens, keys, webhook and interaction URLs) from whatever a library decides to log."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

# A query parameter whose value is a credential whatever it holds: api_key, key, token,
# access_token, signature, sig, X-Amz-Signature, X-Goog-Credential, secret, password...
CREDENTIAL_NAME = re.compile(
    r"(key|token|sig|secret|passw|auth|credential|session|bearer)", re.IGNORECASE
)
_PATTERNS = (
    # Slack bot/user/config tokens, and the refresh tokens (xoxe-) of rotating installs
    re.compile(r"xox[abposre]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),  # Slack app-level tokens
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer|bot)\s+[^\s\"',}]+"),
    re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9._-]+"),  # Discord callback tokens
    re.compile(r"https://hooks\.slack\.com/[^\s\"']+"),
    re.compile(r"[MN][A-Za-z\d_-]{23,25}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}"),  # Discord bot token
    # A signed link's credentials (a result URL in an HTTP library's request line).
    re.compile(rf"([?&;][\w.%-]*(?:{CREDENTIAL_NAME.pattern})[\w.%-]*=)[^&;#\s\"']+", re.I),
)
REDACTED = "[redacted]"


class RedactingFilter(logging.Filter):
    """Rewrites each record's final text with every known secret and secret-shaped string cut."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        known = {s for s in secrets if s and len(s) >= 6}
        # A secret inside a URL (a provider's result link echoing its key) is percent-encoded.
        known |= {
            spell(s, safe=safe)
            for s in known
            for spell in (quote, quote_plus)
            for safe in ("", "/")
        }
        self._secrets = sorted(known, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(_keep_prefix, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = self.redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def _keep_prefix(match: re.Match[str]) -> str:
    groups = [g for g in match.groups() if g]
    if len(groups) >= 1 and match.re.groups >= 1 and match.group(1):
        return match.group(1) + REDACTED
    return REDACTED


def install(redactor: RedactingFilter) -> None:
    """Redact every record as it is created, so every handler (ours, a library's, a test's)
    only ever sees the cleaned text."""
    make = logging.getLogRecordFactory()
    if getattr(make, "videobot_redactor", None) is not None:
        make = make.videobot_inner  # type: ignore[attr-defined]

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redactor.filter(record)
        return record

    factory.videobot_redactor = redactor  # type: ignore[attr-defined]
    factory.videobot_inner = make  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


# Fields the core attaches with `extra=` (task reference, platform, transition, timing).
CONTEXT_FIELDS = ("task", "platform", "from_state", "to_state", "elapsed_s", "provider_task")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (VIDEOBOT_LOG_FORMAT=json)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if (value := getattr(record, name, None)) is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str, secrets: Iterable[str] = (), fmt: str = "human") -> RedactingFilter:
    """Root handler on stderr; redaction at record creation and again on the handler (which
    also cleans formatted tracebacks). Libraries log through the root."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    redactor = RedactingFilter(secrets)
    install(redactor)
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return redactor

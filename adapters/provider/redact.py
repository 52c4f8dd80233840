"""Provider-sourced text and links are untrusted: a gateway may echo the API key in an error
message (raw or URL-encoded) or hand out a result link carrying it, or another credential, in
its query. Everything the provider says is cleaned here before it is shown, logged or stored."""

from __future__ import annotations

import base64
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from adapters.provider.auth import Credentials
from bot.domain import MediaRef, VideoRequest
from bot.logs import CREDENTIAL_NAME

REDACTED = "[redacted]"
_URL = re.compile(r"""https?://[^\s"'<>]+""", re.IGNORECASE)
_MIN_SECRET = 4
_TOKENS_KEPT = 4
MAX_TEXT = 4000


class Redactor:
    def __init__(self, api_key: str) -> None:
        key = api_key.strip()
        self._key = key if len(key) >= _MIN_SECRET else ""
        self._tokens: list[str] = []
        self._pattern = _any_spelling(self._key) if self._key else None

    def learn(self, secret: str) -> None:
        """Cut `secret` too from now on: a credential that changes (Vertex AI's access token,
        refreshed hourly). The last few are remembered; an answer may quote an older one."""
        secret = secret.strip()
        if len(secret) < _MIN_SECRET or secret == self._key or secret in self._tokens:
            return
        self._tokens = [*self._tokens[-(_TOKENS_KEPT - 1) :], secret]
        spellings = [_any_spelling(s).pattern for s in (self._key, *self._tokens) if s]
        self._pattern = re.compile("|".join(spellings), re.IGNORECASE)

    def text(self, text: str) -> str:
        """A message from the provider, with the key (in any spelling we know) and every
        credential in a link it quotes cut out; past MAX_TEXT characters it is cut short
        (nobody reads more, and the scan runs on the event loop)."""
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT] + "…"
        text = storable(text)
        text = _URL.sub(lambda m: self.url(m.group(0)), text)
        return self._cut(text)

    def url(self, url: str) -> str:
        """The link with its user-info password and every credential-like or key-bearing
        query value replaced by [redacted]; the rest (scheme, host, path) stays readable."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self._cut(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
        query = "&".join(self._param(p) for p in parts.query.split("&")) if parts.query else ""
        fragment = self._param(parts.fragment) if "=" in parts.fragment else parts.fragment
        return self._cut(urlunsplit((parts.scheme, netloc, parts.path, query, fragment)))

    def has_key(self, text: str) -> bool:
        """Our own key is in `text`, in any spelling the redactor knows."""
        return self._cut(text) != text

    def carries_secret(self, url: str) -> bool:
        return self.url(url) != url

    def _param(self, pair: str) -> str:
        name, sep, value = pair.partition("=")
        if not sep:
            return self._cut(pair)
        plain = unquote_plus(value)
        secrets = (self._key, *self._tokens)
        if CREDENTIAL_NAME.search(unquote_plus(name)) or any(s and s in plain for s in secrets):
            return f"{name}={REDACTED}"
        return pair

    def _cut(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text


def storable(text: str) -> str:
    """Text a ledger can store and a terminal or chat shows as text: a lone UTF-16 surrogate (an
    emoji clipped in half) becomes U+FFFD instead of failing every write of the task, and
    control characters (ESC sequences, carriage returns, bells) go, newline and tab excepted."""
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def is_text(value: str) -> bool:
    """No lone surrogate: the value encodes as UTF-8 (a ledger can store it as it is)."""
    return _SURROGATE.search(value) is None


_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON pairs arrive combined: any left is alone
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _any_spelling(key: str) -> re.Pattern[str]:
    """The key with each character as itself or percent-encoded (either hex case, `+` for a
    space), in any mix, or whole in base64."""
    chars = []
    for char in key:
        escaped = "".join(f"%{byte:02x}" for byte in char.encode())
        options = [re.escape(char), escaped]
        if char == " ":
            options.append(r"\+")
        chars.append(f"(?:{'|'.join(options)})")
    encoded = key.encode()
    whole = {base64.b64encode(encoded).decode(), base64.urlsafe_b64encode(encoded).decode()}
    spellings = ["".join(chars), *(re.escape(w.rstrip("=")) for w in whole)]
    return re.compile("|".join(spellings), re.IGNORECASE)


class Taught:
    """Credentials whose every secret the redactor learns before it is sent anywhere."""

    def __init__(self, inner: Credentials, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    async def headers(self) -> Mapping[str, str]:
        headers = await self._inner.headers()
        for secret in self._inner.secrets():
            self._redactor.learn(secret)
        return headers

    def secrets(self) -> list[str]:
        return self._inner.secrets()


class ResultLinks:
    """A result link that carries a credential is stored and shown only redacted; the real one
    is kept here, in memory, for the download. After a restart it is gone: the download then
    reports the link expired and the deliverer polls the provider for a fresh one, so the
    secret never has to be written to the ledger."""

    def __init__(self, redactor: Redactor, keep: int = 1024) -> None:
        self._redactor = redactor
        self._real: OrderedDict[str, str] = OrderedDict()
        self._keep = keep

    def hide(self, url: str) -> str:
        shown = self._redactor.url(url)
        if shown != url:
            self._real[shown] = url
            self._real.move_to_end(shown)
            while len(self._real) > self._keep:
                self._real.popitem(last=False)
        return shown

    def reveal(self, url: str) -> str | None:
        """The URL to download from; None for a redacted link this process never saw."""
        if (real := self._real.get(url)) is not None:
            return real
        return None if REDACTED in url else url

    def shareable(self, url: str) -> str | None:
        """The real link for the requester (the fallback download link), never one with our
        key in it."""
        real = self.reveal(url)
        return None if real is None or self._redactor.has_key(real) else real

    async def revealed(
        self, request: VideoRequest, stage: Callable[[MediaRef], Awaitable[str]]
    ) -> VideoRequest:
        """The request with the real links of its staged media. A redacted link this process
        never saw (it restarted) is staged again: staging is free and repeatable."""
        media: list[MediaRef] = []
        for item in request.media:
            real = self.reveal(item.url) if item.url else item.url
            if real is None:
                real = self.reveal(await stage(replace(item, url=None)))
            media.append(replace(item, url=real))
        return request.with_media(tuple(media))

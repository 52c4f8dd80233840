"""`POST /callbacks/{provider}`: verify, drop repeats, and make the named task due for a poll
now. Answers at once and says nothing back: 200 for anything genuine (acted on or not), 401 or
400 for a bad signature or body, 404 for a provider this bot does not take callbacks from, 413
for a body over the cap, 503 when the keys or the ledger are out of reach (the sender retries).
Nothing a callback says reaches a task's state: the poll decides."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from adapters.callback.guard import Guard
from adapters.callback.notice import CallbackRefused
from adapters.callback.verify import Verifier
from bot.errors import LedgerUnavailable

log = logging.getLogger("videobot.callback")

MAX_BODY = 256 * 1024  # callbacks are thin: an id and a status
PATH = "/callbacks/{provider}"
Hurry = Callable[[str], Awaitable[bool]]
BODY_SECONDS = 10.0  # to send a callback's body (a few KB): a client that drips is cut off


class CallbackEndpoint:
    def __init__(
        self,
        verifiers: Mapping[str, Verifier],
        hurry: Hurry,
        *,
        guard: Guard | None = None,
        max_body: int = MAX_BODY,
        monotonic: Callable[[], float] = time.monotonic,
        body_seconds: float = BODY_SECONDS,
    ) -> None:
        """`verifiers`: provider name (the path segment) -> how its callbacks are signed.
        `hurry(provider_task_id)` makes that task due now; False if no live task has it."""
        self._verifiers = dict(verifiers)
        self._hurry = hurry
        self._guard = guard or Guard()
        self._max_body = max_body
        self._monotonic = monotonic
        self._body_seconds = body_seconds
        self._warned: dict[str, float] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.post(PATH, self.handle)]

    async def handle(self, request: web.Request) -> web.Response:
        provider = request.match_info["provider"]
        verifier = self._verifiers.get(provider)
        if verifier is None:
            return _answer(404, "unknown provider")
        try:
            async with asyncio.timeout(self._body_seconds):
                body = await _body(request, self._max_body)
        except TimeoutError:
            return _answer(408, "too slow")
        if body is None:
            return _answer(413, "too large")
        try:
            notice = await verifier.verify(request.headers, body)
        except CallbackRefused as refused:
            # A wrong secret looks exactly like this: say so, once a minute at most (forged
            # calls in a flood must not flood the log).
            now = self._monotonic()
            loud = now - self._warned.get(provider, -1e9) >= 60
            if loud:
                self._warned[provider] = now
            (log.warning if loud else log.debug)(
                "callback for %s refused (%s): if the provider really sent it, check "
                "VIDEOBOT_CALLBACK_SECRET and the key set settings",
                provider,
                refused.reason,
            )
            return _answer(refused.status, refused.reason)
        now = self._monotonic()
        delivery = f"{provider}:{notice.delivery_id}"
        if not self._guard.first_time(delivery, now):
            return _answer(200, "ok")  # delivered before (a retry, a duplicate, a replay)
        for provider_task_id in notice.task_ids:
            if not self._guard.may_hurry(provider_task_id, now):
                break  # hurried moments ago: its poll is due or under way
            try:
                hurried = await self._hurry(provider_task_id)
            except LedgerUnavailable:
                self._guard.forget(delivery)
                return _answer(503, "busy")
            if hurried:
                self._guard.hurried(provider_task_id, now)
                log.debug("callback for %s: task %s is due now", provider, provider_task_id)
                break
        return _answer(200, "ok")


async def _body(request: web.Request, cap: int) -> bytes | None:
    """The raw body (signatures cover its exact bytes), or None past `cap`."""
    if request.content_length is not None and request.content_length > cap:
        return None
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > cap:
            return None
    return bytes(data)


def _answer(status: int, word: str) -> web.Response:
    key = "ok" if status == 200 else "error"
    return web.json_response({key: True if status == 200 else word}, status=status)

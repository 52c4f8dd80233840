"""One HTTP exchange with the video API under a total time limit, with its answer read up to a
byte cap: a gateway that drips a byte every few seconds (each read is quick, so a per-read
time-out never fires) or sends a body that never ends can hold neither a worker nor memory.
An answer that may carry a video inline is read through a JsonSpill (spill.py) instead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from adapters.provider.spill import JsonSpill

_UNFRAMED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class TimeLimitExceeded(httpx.TimeoutException):
    """The exchange did not complete within its total time limit. `sent` says whether the
    request had begun to go out (then a submit may have created a task)."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


class AnswerTooLarge(Exception):
    """A successful answer was longer than the cap; reading stopped there."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"sent an answer too large to read (over {cap} bytes)")


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    limit: float,
    cap: int,
    on_send: Callable[[], Awaitable[None]] | None = None,
    spill: JsonSpill | None = None,
    spill_limit: float | None = None,
    **options: Any,
) -> httpx.Response:
    """Send one request and read its whole answer within `limit` seconds. A failed answer
    longer than `cap` is cut there (its status still says what went wrong); a successful one
    raises AnswerTooLarge. The returned response holds the (decoded) body in memory.
    `on_send` runs just before the request's first byte goes out (not at all if it never
    does); what it raises stops the request there. With `spill`, a successful answer's very
    long strings go to files as they arrive (the body keeps markers), and once one does the
    time limit becomes `spill_limit`: the answer is then a download."""
    sent = False

    async def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal sent
        # httpcore names it http11.send_request_headers.started (http2.... likewise): from
        # here on the provider may have the request.
        if event.endswith("send_request_headers.started"):
            if on_send is not None and not sent:
                await on_send()
            sent = True

    try:
        async with (
            asyncio.timeout(limit) as window,
            client.stream(method, url, extensions={"trace": trace}, **options) as response,
        ):
            if spill is not None and response.is_success:
                longer = limit if spill_limit is None else max(limit, spill_limit)
                body = await _read_spilling(response, cap, spill, window, longer)
            else:
                body = await _read(response, cap)
    except TimeoutError:
        raise TimeLimitExceeded(
            f"gave no complete answer within the {limit:g}s time limit", sent=sent
        ) from None
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _UNFRAMED]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body,
        request=response.request,
        extensions={"reason_phrase": response.extensions.get("reason_phrase", b"")},
    )


async def _read(response: httpx.Response, cap: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        room = cap - len(body)
        if len(chunk) > room:
            if response.is_success:
                raise AnswerTooLarge(cap)
            body += chunk[:room]
            break
        body += chunk
    return bytes(body)


async def _read_spilling(
    response: httpx.Response,
    cap: int,
    spill: JsonSpill,
    window: asyncio.Timeout,
    limit: float,
) -> bytes:
    body = bytearray()
    extended = False
    async for chunk in response.aiter_bytes():
        # The decoding and the file writes of a long string run off the event loop.
        if spill.heavy(chunk):
            kept = await asyncio.to_thread(spill.feed, chunk)
        else:
            kept = spill.feed(chunk)
        if not extended and (spill.spilled or spill.heavy(b"")):
            window.reschedule(asyncio.get_running_loop().time() + limit)
            extended = True
        body += kept
        if len(body) > cap:
            raise AnswerTooLarge(cap)
    body += await asyncio.to_thread(spill.finish)
    return bytes(body)

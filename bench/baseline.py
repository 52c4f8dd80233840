"""The baseline: what typical chat bots do, written honestly and with the same httpx client
type and connection limits videobot uses. The command handler submits inline (the user's ack
waits for the provider), then one coroutine per task sleeps a fixed 10 s between status polls
(the provider's own advice), downloads the finished video the usual way (`response.content`,
the whole file in memory) and uploads those bytes. No ledger: a restart forgets every task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

MODEL = "gemini_omni_flash"
Upload = Callable[[str, bytes], Awaitable[None]]


def client() -> httpx.AsyncClient:
    """The same client shape as videobot's composition root (bot/engine.py open_engine)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        trust_env=False,
    )


class TypicalBot:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        upload: Upload,
        poll_interval: float = 10.0,
        max_polls: int = 360,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._upload = upload
        self._interval = poll_interval
        self._max_polls = max_polls
        self.followers: set[asyncio.Task[None]] = set()
        self.known: dict[str, float] = {}  # provider task -> when a poll saw it done
        self.finished: set[str] = set()
        self.failed: set[str] = set()
        self.progress_edits = 0

    async def handle(self, line: str) -> str:
        """The `/video <prompt>` handler: the reply waits for the submit, as in most bots."""
        prompt = line.strip().removeprefix("/video").strip()
        if not prompt:
            return "Usage: /video <prompt>"
        body = {
            "model": MODEL,
            "mode": "text-to-video",
            "input": {
                "prompt": prompt,
                "duration": 6,
                "aspect_ratio": "16:9",
                "resolution": "720P",
            },
        }
        try:
            response = await self._http.post(
                f"{self._base}/v1/videos/generations", json=body, headers=self._headers
            )
            response.raise_for_status()
            task_id = str(response.json()["task_id"])
        except (httpx.HTTPError, KeyError, ValueError) as err:
            return f"Sorry, the video service failed: {err}"
        follower = asyncio.create_task(self._follow(task_id))
        self.followers.add(follower)
        follower.add_done_callback(self.followers.discard)
        return f"Working on it! (task {task_id})"

    async def _follow(self, task_id: str) -> None:
        for _ in range(self._max_polls):
            await asyncio.sleep(self._interval)
            try:
                response = await self._http.get(
                    f"{self._base}/v1/videos/generations/{task_id}", headers=self._headers
                )
                response.raise_for_status()
                data: dict[str, Any] = response.json()
            except (httpx.HTTPError, ValueError):
                continue  # try again next beat
            status = data.get("status")
            if status == "completed":
                self.known.setdefault(task_id, time.monotonic())
                await self._deliver(task_id, str(data["video_url"]))
                return
            if status == "failed":
                self.failed.add(task_id)
                return
            self.progress_edits += 1  # "Rendering… 42%" edit of the status message
        self.failed.add(task_id)

    async def _deliver(self, task_id: str, url: str) -> None:
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            data = response.content  # the whole video in memory, as typical bots do
            await self._upload(task_id, data)
        except httpx.HTTPError:
            self.failed.add(task_id)
            return
        self.finished.add(task_id)

    async def drain(self, limit: float) -> bool:
        """Wait (bounded) for every follower to end."""
        deadline = time.monotonic() + limit
        while self.followers and time.monotonic() < deadline:
            await asyncio.wait(set(self.followers), timeout=max(0.0, deadline - time.monotonic()))
        return not self.followers


def file_upload(out_dir: Path) -> Upload:
    """The console-equivalent upload: write the bytes to the output folder."""
    out_dir.mkdir(parents=True, exist_ok=True)

    async def upload(task_id: str, data: bytes) -> None:
        await asyncio.to_thread((out_dir / f"{task_id}.mp4").write_bytes, data)

    return upload

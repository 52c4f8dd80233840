"""Delivery: one 200 MB video relayed provider -> bot -> platform upload, after a small warm-up
delivery. Figure: how much the relay raises the side's peak RSS (VmHWM after minus VmHWM
before, in that side's own process). videobot runs its real path (worker, HttpProvider
streaming to a scratch file, SlackChat's three-step external upload against a fake Slack
upload URL that counts bytes); the baseline downloads with `response.content` and uploads the
bytes, as typical bots do."""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import baseline
from bench.common import SIM_KEY, Row, Sim, pair, proc_status_kb, run_side, side_main, videobot
from bench.simserver import BIG_MARK

BIG_BYTES = 200 * 1000 * 1000
_LIMIT = 180.0


async def _uploaded(slack_url: str) -> dict[str, int]:
    async with httpx.AsyncClient(trust_env=False) as http:
        return dict((await http.get(f"{slack_url}/_state")).json()["uploaded"])


async def videobot_side(params: dict[str, Any]) -> dict[str, Any]:
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack.chat import SlackChat
    from bot.domain import Mode, ReplyTarget, VideoRequest

    with tempfile.TemporaryDirectory(prefix="vb-bench-") as tmp:
        async with videobot(
            params["sim"],
            Path(tmp),
            first_poll=timedelta(seconds=1),
            poll_floor=timedelta(seconds=0.5),
        ) as stack:
            slack = SlackChat(
                AsyncWebClient(token="xoxb-bench-token", base_url=params["slack"] + "/api/")
            )
            stack.engine.chats["slack"] = slack
            target = ReplyTarget("slack", "T1", "C1", "U1", None, "bench")
            ledger, service = stack.engine.ledger, stack.engine.service

            async def deliver(prompt: str, key: str) -> str:
                request = VideoRequest(
                    prompt=prompt, mode=Mode.T2V, aspect_ratio="16:9", duration=6
                )
                task, _ = await service.accept(request, target, key)
                deadline = time.monotonic() + _LIMIT
                while time.monotonic() < deadline:
                    current = await ledger.get(task.task_id)
                    if current is not None and current.state.is_terminal:
                        return str(current.state.value)
                    await asyncio.sleep(0.1)
                return "timeout"

            warm = await deliver("warm-up clip", "warm")
            before = proc_status_kb("VmHWM")
            rss_before = proc_status_kb("VmRSS")
            started = time.perf_counter()
            big = await deliver(f"{BIG_MARK} relay", "big")
            took = time.perf_counter() - started
            after = proc_status_kb("VmHWM")
            scratch = stack.settings.data_dir / "tmp"
            leftovers = len(list(scratch.glob("*"))) if scratch.exists() else 0
            await slack.close()
    uploaded = await _uploaded(params["slack"])
    return {
        "warm": warm,
        "big": big,
        "hwm_before_mb": before / 1024,
        "rss_before_mb": rss_before / 1024,
        "hwm_after_mb": after / 1024,
        "delta_mb": (after - before) / 1024,
        "relay_s": took,
        "uploaded_max_mb": max(uploaded.values(), default=0) / 1e6,
        "temp_leftovers": leftovers,
    }


async def baseline_side(params: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="base-bench-"):
        async with baseline.client() as http:
            slack = params["slack"]

            async def upload(task_id: str, data: bytes) -> None:
                # files.getUploadURLExternal, POST the bytes, files.completeUploadExternal.
                got = (
                    await http.post(
                        f"{slack}/api/files.getUploadURLExternal",
                        data={"filename": f"{task_id}.mp4", "length": str(len(data))},
                    )
                ).json()
                (await http.post(got["upload_url"], content=data)).raise_for_status()
                await http.post(f"{slack}/api/files.completeUploadExternal", data={})

            bot = baseline.TypicalBot(http, params["sim"], SIM_KEY, upload)
            await bot.handle("/video warm-up clip")
            await bot.drain(_LIMIT)
            warm = "delivered" if bot.finished else "failed"
            before = proc_status_kb("VmHWM")
            rss_before = proc_status_kb("VmRSS")
            started = time.perf_counter()
            await bot.handle(f"/video {BIG_MARK} relay")
            await bot.drain(_LIMIT)
            took = time.perf_counter() - started
            after = proc_status_kb("VmHWM")
            big = "delivered" if len(bot.finished) == 2 else "failed"
    uploaded = await _uploaded(params["slack"])
    return {
        "warm": warm,
        "big": big,
        "hwm_before_mb": before / 1024,
        "rss_before_mb": rss_before / 1024,
        "hwm_after_mb": after / 1024,
        "delta_mb": (after - before) / 1024,
        "relay_s": took,
        "uploaded_max_mb": max(uploaded.values(), default=0) / 1e6,
        "temp_leftovers": 0,
    }


def rows() -> list[Row]:
    figures: dict[str, dict[str, Any]] = {}
    for side in ("videobot", "baseline"):
        sim = Sim.start(big_bytes=BIG_BYTES, render_seconds=2.0, queue_seconds=0.5)
        try:
            figures[side] = run_side(
                "bench.delivery", side, {"sim": sim.url, "slack": sim.slack_url}, timeout=600
            )
        finally:
            sim.stop()
    vb, base = figures["videobot"], figures["baseline"]
    name = "delivery 200 MB relay"
    met = None
    if vb:
        met = vb["delta_mb"] < 32 and vb["big"] == "delivered" and vb["temp_leftovers"] == 0
    leftovers_met = vb.get("temp_leftovers") == 0 if vb else None
    return [
        pair(name, "peak RSS rise", "delta_mb", vb, base, "MB", "{:.1f}", "< 32 MB", met),
        pair(name, "relay time", "relay_s", vb, base, "s", "{:.1f}"),
        pair(name, "bytes at the upload URL", "uploaded_max_mb", vb, base, "MB", "{:.0f}"),
        pair(name, "temp files left", "temp_leftovers", vb, base, "", "{:.0f}", "0", leftovers_met),
    ]

if __name__ == "__main__":
    side_main({"videobot": videobot_side, "baseline": baseline_side})

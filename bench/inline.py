"""Inline results: a 10 s 1080p video (24 MB) that Google hands back as base64 inside the poll
answer (32 MB of JSON), fetched and saved through the provider; beside it, the same bytes
downloaded from a URL. Figure: the peak RSS rise of each (VmHWM after minus before, in that
side's own process). videobot: `HttpProvider.fetch` (the answer streams through the spill
reader to a file) then `download` (the file moves into place); the baseline does what typical
clients do: `response.json()`, `base64.b64decode`, write (and `response.content` for the URL)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Row, pair, proc_status_kb, run_side, side_main

VIDEO_BYTES = 24 * 1000 * 1000  # 10 s of 1080p at ~19 Mbit/s
KEY = "bench-gemini-key"
_BLOCK = 3 * (1 << 18)  # a multiple of 3: each block encodes to base64 on its own


def _block(index: int) -> bytes:
    """The video's bytes, made on demand (an `ftyp` header, then noise that does not compress)."""
    data = bytearray(random_block())
    if index == 0:
        data[:16] = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00"
    return bytes(data)


_NOISE: bytes = b""


def random_block() -> bytes:
    global _NOISE  # noqa: PLW0603 (made once per process, reused for every block)
    if not _NOISE:
        _NOISE = os.urandom(_BLOCK)
    return _NOISE


def _blocks(size: int) -> list[int]:
    return [min(_BLOCK, size - start) for start in range(0, size, _BLOCK)]


# -- the server: a completed interaction with its video inline, and the same bytes at a URL ------
async def serve(size: int) -> None:
    from aiohttp import web

    async def interaction(request: web.Request) -> web.StreamResponse:
        small = request.match_info["id"] == "warm"
        total = 3000 if small else size
        head = json.dumps(
            {"id": request.match_info["id"], "object": "interaction", "status": "completed"}
        )[:-1]
        steps = ', "steps": [{"type": "model_output", "content": [{"type": "video", '
        steps += '"mime_type": "video/mp4", "data": "'
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write((head + steps).encode())
        for index, length in enumerate(_blocks(total)):
            await response.write(base64.b64encode(_block(index)[:length]))
        await response.write(b'"}]}], "usage": {"total_output_tokens": 57920}}')
        await response.write_eof()
        return response

    async def video(request: web.Request) -> web.StreamResponse:
        total = 3000 if request.match_info["id"] == "warm" else size
        response = web.StreamResponse(headers={"Content-Type": "video/mp4"})
        response.content_length = total
        await response.prepare(request)
        for index, length in enumerate(_blocks(total)):
            await response.write(_block(index)[:length])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1beta/interactions/{id}", interaction)
    app.router.add_get("/files/{id}.mp4", video)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"serving http://127.0.0.1:{port}", flush=True)
    await asyncio.Event().wait()


# -- the sides -------------------------------------------------------------------------------
async def videobot_side(params: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from adapters.fetch.fetcher import SafeFetcher
    from adapters.fetch.hop import FetchPolicy
    from adapters.provider.client import HttpProvider
    from adapters.provider.dialects.google import GoogleDialect

    url, how = params["url"], params["how"]
    with tempfile.TemporaryDirectory(prefix="vb-inline-") as tmp:
        async with (
            httpx.AsyncClient(trust_env=False) as http,
            SafeFetcher(FetchPolicy(allow_loopback=True, max_bytes=1 << 30)) as fetcher,
        ):
            provider = HttpProvider(
                http,
                GoogleDialect(),
                base_url=url,
                api_key=KEY,
                model="gemini-omni-1.1-flash",
                auth="x-goog-api-key",
                fetcher=fetcher,
                spill_dir=Path(tmp) / "spill",
            )

            async def fetch(name: str, dest: Path) -> int:
                if how == "url":
                    return await provider.download(f"{url}/files/{name}.mp4", dest, 1 << 30)
                status = await provider.fetch(name)
                return await provider.download(status.video_url or "", dest, 1 << 30)

            await fetch("warm", Path(tmp) / "warm.mp4")  # connections, imports, first spill
            before = proc_status_kb("VmHWM")
            started = time.perf_counter()
            size = await fetch("v1_big", Path(tmp) / "big.mp4")
            took = time.perf_counter() - started
            after = proc_status_kb("VmHWM")
            ok = size == VIDEO_BYTES and (Path(tmp) / "big.mp4").read_bytes()[4:8] == b"ftyp"
            left = len(list((Path(tmp) / "spill").glob("*")))
            await provider.aclose()
    return {"delta_mb": (after - before) / 1024, "seconds": took, "ok": ok, "left": left}


async def baseline_side(params: dict[str, Any]) -> dict[str, Any]:
    import httpx

    url, how = params["url"], params["how"]
    with tempfile.TemporaryDirectory(prefix="base-inline-") as tmp:
        async with httpx.AsyncClient(trust_env=False, timeout=120) as http:

            async def fetch(name: str, dest: Path) -> int:
                headers = {"x-goog-api-key": KEY}
                if how == "url":
                    data = (await http.get(f"{url}/files/{name}.mp4")).content
                else:
                    answer = await http.get(f"{url}/v1beta/interactions/{name}", headers=headers)
                    part = answer.json()["steps"][-1]["content"][0]
                    data = base64.b64decode(part["data"])
                dest.write_bytes(data)  # noqa: ASYNC240 (what a typical bot does)
                return len(data)

            await fetch("warm", Path(tmp) / "warm.mp4")
            before = proc_status_kb("VmHWM")
            started = time.perf_counter()
            size = await fetch("v1_big", Path(tmp) / "big.mp4")
            took = time.perf_counter() - started
            after = proc_status_kb("VmHWM")
    return {"delta_mb": (after - before) / 1024, "seconds": took, "ok": size == VIDEO_BYTES}


def rows() -> list[Row]:
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.inline", "serve", str(VIDEO_BYTES)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[-1]
        figures = {
            (side, how): run_side("bench.inline", side, {"url": url, "how": how}, timeout=300)
            for how in ("inline", "url")
            for side in ("videobot", "baseline")
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
    out: list[Row] = []
    for how, name in (("inline", "inline"), ("url", "by URL")):
        vb, base = figures[("videobot", how)], figures[("baseline", how)]
        met = None
        if vb:
            met = vb["delta_mb"] < 32 and vb["ok"] and vb.get("left", 0) == 0
        bench = f"Google 24 MB result, {name}"
        out += [
            pair(bench, "peak RSS rise", "delta_mb", vb, base, "MB", "{:.1f}", "< 32 MB", met),
            pair(bench, "fetch + save", "seconds", vb, base, "s", "{:.2f}"),
        ]
    return out


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    else:
        side_main({"videobot": videobot_side, "baseline": baseline_side})

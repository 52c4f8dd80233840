"""Results that arrive inside a poll answer (Google's inline base64 video): the spilled files
this process holds, by marker, until a download moves one into place. They live only in this
process: after a restart a marker names nothing, and the download asks for a fresh poll
(ResultExpired), as for a signed link that was never stored."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from adapters.provider.dialects.base import INLINE
from adapters.provider.spill import MARKER, JsonSpill, Spilled
from bot.domain import VideoRequest
from bot.errors import ProviderError, ResultExpired
from bot.ports import ProviderState, ProviderStatus

SPILL_THRESHOLD = 64 * 1024  # no JSON string but a video's base64 grows this long
KEEP = 16  # spilled videos held at once; an older one is dropped (its task polls again)
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")


class InlineResults:
    """`directory` holds the files (None: a private temporary directory, removed by
    `aclose`; a given one is this process's alone: what an earlier one left there is deleted);
    `cap` bounds one decoded video (the rest of a bigger one is read and dropped)."""

    def __init__(
        self,
        directory: Path | None,
        *,
        cap: int,
        threshold: int = SPILL_THRESHOLD,
        keep: int = KEEP,
    ) -> None:
        self._owned = directory is None
        self.directory = directory or Path(tempfile.mkdtemp(prefix="videobot-spill-"))
        for stale in self.directory.glob("*.bin"):  # an earlier process's: nobody holds them
            stale.unlink(missing_ok=True)
        self.cap = cap
        self.threshold = threshold
        self._keep = keep
        self._held: OrderedDict[str, Spilled] = OrderedDict()
        self._owners: dict[str, str] = {}  # provider task id -> the marker of its video

    @staticmethod
    def holds(url: str) -> bool:
        """`url` is a marker of ours, not a link."""
        return url.startswith(MARKER)

    def batch(self, owner: str = "") -> SpillBatch:
        """The spills of one request about task `owner` (a poll holds one video per task)."""
        return SpillBatch(self, owner=owner)

    def get(self, marker: str) -> Spilled | None:
        return self._held.get(marker)

    async def resolved(self, status: ProviderStatus) -> ProviderStatus:
        """`status` with its inline video held here under a marker: a short `data:` URL is
        written to a file; a video that was not base64, or a marker this process never made,
        is a failed render (nothing to deliver), not a success."""
        url = status.video_url
        if url and url.startswith("data:"):
            marker = await self.adopt(url)
            return replace(status, video_url=marker) if marker else _unreadable(status)
        if url and self.holds(url):
            held = self._held.get(url)
            if held is None or not held.valid:
                if held is not None:
                    del self._held[url]  # (its owner's entry just names nothing now)
                    await asyncio.to_thread(_delete, [held])
                return _unreadable(status)
        return status

    async def adopt(self, data_url: str) -> str | None:
        """A short `data:` URL result written to a file like a spilled one; its marker, or
        None when it is not base64 (the answer is then a failure, not a video)."""
        header, _, text = data_url.partition(",")
        if not header.endswith(";base64") or not _BASE64_TEXT.fullmatch(text):
            return None
        reader = JsonSpill(self.directory, threshold=0, cap=self.cap)
        batch = SpillBatch(self, [reader])
        await asyncio.to_thread(reader.feed, b'"' + text.encode("ascii") + b'"')
        spilled = reader.spilled[0] if reader.spilled else None
        kept = await batch.settle(spilled.marker if spilled and spilled.valid else None)
        return kept.marker if kept else None

    async def take(self, marker: str, dest: Path, max_bytes: int) -> int:
        """Move the video to `dest`; its size. ResultExpired when this process holds no such
        video (it restarted, or the video was taken already): poll again for it."""
        spilled = self._held.pop(marker, None)
        if spilled is None or not spilled.path.exists():
            raise ResultExpired("the inline video is no longer held here; asking for it again")
        if spilled.truncated or spilled.size > max_bytes:
            await asyncio.to_thread(spilled.path.unlink, True)
            raise ProviderError(
                f"the video is larger than {max_bytes >> 20} MB, the most I relay",
                code="too_large",
            )
        await asyncio.to_thread(shutil.move, spilled.path, dest)
        return spilled.size

    def keep(self, spilled: Spilled, owner: str = "") -> list[Spilled]:
        """Hold `spilled` (the video of task `owner`, whose earlier one it replaces); returns
        the ones it pushed out, for deletion."""
        dropped = []
        earlier = self._owners.pop(owner, "") if owner else ""
        if earlier in self._held:
            dropped.append(self._held.pop(earlier))
        if owner:
            self._owners[owner] = spilled.marker
        self._held[spilled.marker] = spilled
        while len(self._held) > self._keep:
            dropped.append(self._held.popitem(last=False)[1])
        return dropped

    async def aclose(self) -> None:
        held = list(self._held.values())
        self._held.clear()
        self._owners.clear()
        await asyncio.to_thread(_delete, held)
        if self._owned:
            await asyncio.to_thread(shutil.rmtree, self.directory, True)


class SpillBatch:
    """The spills of one logical request (each attempt reads the answer afresh): `settle`
    keeps the one the dialect claimed and deletes every other."""

    def __init__(
        self, results: InlineResults, readers: list[JsonSpill] | None = None, owner: str = ""
    ) -> None:
        self._results = results
        self._readers = readers or []
        self._owner = owner

    def reader(self) -> JsonSpill:
        results = self._results
        reader = JsonSpill(results.directory, threshold=results.threshold, cap=results.cap)
        self._readers.append(reader)
        return reader

    async def settle(self, claimed: str | None) -> Spilled | None:
        kept: Spilled | None = None
        for reader in self._readers:
            for spilled in reader.spilled:
                if kept is None and spilled.marker == claimed:
                    kept = spilled
        readers, self._readers = self._readers, []
        dropped = self._results.keep(kept, self._owner) if kept else []

        def clean() -> None:
            for reader in readers:
                reader.spilled[:] = [s for s in reader.spilled if s is not kept]
                reader.discard()
            _delete(dropped)

        if readers or dropped:
            await asyncio.to_thread(clean)
        return kept


def _delete(spills: list[Spilled]) -> None:
    for spilled in spills:
        spilled.path.unlink(missing_ok=True)


def _unreadable(status: ProviderStatus) -> ProviderStatus:
    return replace(
        status,
        state=ProviderState.FAILED,
        video_url=None,
        error_code="bad_inline",
        error_message="the video service sent an inline video that is not valid base64",
    )


async def inline_texts(request: VideoRequest) -> dict[str, str]:
    """The base64 text of every medium staged to travel inside the request."""
    inline = [m for m in request.media if m.url and m.url.startswith(INLINE) and m.path]
    texts = await asyncio.gather(*(asyncio.to_thread(_base64, Path(m.path)) for m in inline))
    return {m.url or "": text for m, text in zip(inline, texts, strict=True)}


def _base64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")

"""The console's Chat port: a status message is a thread header, each edit a line (or, on a
terminal, a progress bar per task redrawn in place); a video is saved under the output folder."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import TextIO

from adapters.console.bars import LiveBars
from bot.domain import ReplyTarget
from bot.messages import StatusView
from bot.ports import Checkpoint, Delivery


class ConsoleChat:
    """The Chat port on a terminal: a status message is a thread header, edits are lines (or,
    when `live`, one progress bar per task kept under the thread lines and redrawn in place)."""

    def __init__(self, out: TextIO, output_dir: Path, live: bool | None = None) -> None:
        self._out = out
        self._output_dir = output_dir
        self._count = 0
        self.finished: set[str] = set()  # ended: told here, or before this session began
        self._told: set[str] = set()  # final lines shown by this chat
        self.changed = asyncio.Event()
        # Scripts and tests read plain lines; control codes are for a person at a terminal.
        self.live = out.isatty() if live is None else live
        self._bars = LiveBars(out) if self.live else None

    def say(self, text: str) -> None:
        """One line of the transcript (above the progress bars when they are showing)."""
        if self._bars is not None:
            self._bars.say(text)
            return
        self._out.write(text + "\n")
        self._out.flush()

    async def post_status(self, target: ReplyTarget, view: StatusView, key: str) -> str:
        self._count += 1
        self.say(f"┌─ thread {view.ref} " + "─" * 40)
        self.say("│ " + view.summary)
        self._line(view)
        return f"console-{self._count}"

    async def update_status(self, target: ReplyTarget, message_id: str, view: StatusView) -> None:
        self._line(view)

    def _line(self, view: StatusView) -> None:
        if view.final and view.ref in self._told:
            return  # told already (the session saw it end elsewhere first): once is enough
        corner = "└" if view.final else "│"
        headline = view.headline
        if view.progress is not None and f"{view.progress}%" in view.detail:
            # The bar in the detail says the percentage; the headline need not say it too.
            headline = headline.removesuffix(f" {view.progress}%")
        line = f"{corner} {view.ref}  {headline}  {view.detail}".rstrip()
        if self._bars is None:
            self.say(line)
        elif view.final:
            self._bars.remove(view.ref)
            self.say(line)
        else:
            self._bars.show(view)
        if view.final:
            self._told.add(view.ref)
            self.finished.add(view.ref)
            self.changed.set()

    def use_bars(self, bars: LiveBars) -> None:
        """Draw the bars with `bars` from now on; the bars showing move across."""
        if self._bars is None:
            return
        for view in self._bars.views.values():
            bars.show(view)
        self._bars.close()
        self._bars = bars

    def close(self) -> None:
        """Take the bars off the screen (the thread lines stay)."""
        if self._bars is not None:
            self._bars.close()

    async def upload_video(
        self,
        target: ReplyTarget,
        status_message_id: str | None,
        delivery: Delivery,
        checkpoint: Checkpoint,
    ) -> str:
        dest = self._output_dir / delivery.filename
        if dest.exists():  # reconcile: posted before a crash; never post (or announce) twice
            return str(dest)
        self._output_dir.mkdir(parents=True, exist_ok=True)
        part = dest.with_suffix(".part")
        await asyncio.to_thread(shutil.copyfile, delivery.path, part)
        part.replace(dest)
        self.say(f"│ 🎞  {delivery.caption}\n│    saved: {dest}")
        return str(dest)

    async def post_link(
        self, target: ReplyTarget, status_message_id: str | None, text: str, key: str
    ) -> str:
        self.say(f"│ 🔗 {text}")
        return key

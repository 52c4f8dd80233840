"""The console demo's live view on a terminal: one rich progress bar per live task (reference,
prompt, percent, state), redrawn in place under the thread lines the chat prints."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from bot.messages import StatusView


class LiveBars:
    """One rich progress bar per live task, redrawn on each status edit (no refresh thread, so
    nothing moves while nothing changes). Started with the first bar, stopped with the last."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._console = Console(file=out, force_terminal=True, highlight=False, emoji=False)
        self._progress = Progress(
            # markup=False: a prompt like "a [/] sign" is text, not rich markup.
            TextColumn("{task.fields[ref]}", style="bold", markup=False),
            TextColumn("{task.fields[prompt]}", style="dim", markup=False),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("{task.fields[state]}", markup=False),
            console=self._console,
            auto_refresh=False,
            transient=True,
        )
        self._bars: dict[str, TaskID] = {}

    def say(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def typed(self, line: str) -> None:
        if not self._bars:
            return
        # The terminal echoed the line onto the last bar and Enter moved the cursor down one;
        # step back up so the redraw erases that line, then keep the command as a line.
        self._out.write("\x1b[1A")
        self.say(f"› {line.strip()}")

    def show(self, view: StatusView) -> None:
        prompt, state = _clip(view.prompt, 28), _state(view)
        total, done = _percent(view)
        bar = self._bars.get(view.ref)
        if bar is None:
            if not self._bars:
                self._progress.start()
            bar = self._bars[view.ref] = self._progress.add_task(
                "", total=total, ref=view.ref, prompt=prompt, state=state
            )
        self._progress.update(bar, total=total, completed=done, prompt=prompt, state=state)
        self._progress.refresh()

    def remove(self, ref: str) -> None:
        bar = self._bars.pop(ref, None)
        if bar is None:
            return
        self._progress.remove_task(bar)
        if self._bars:
            self._progress.refresh()
        else:
            self._progress.stop()

    def close(self) -> None:
        if self._bars:
            self._bars.clear()
            self._progress.stop()


def _percent(view: StatusView) -> tuple[float | None, float]:
    """(total, completed) for the bar: no total (a pulsing bar) until the provider gives a
    percentage; full once the video is rendered."""
    if view.progress is not None:
        return 100.0, float(view.progress)
    if view.state in ("succeeded", "delivering"):
        return 100.0, 100.0
    return None, 0.0


def _state(view: StatusView) -> str:
    # The percentage has its own column; "🎬 Rendering 40%" would say it twice.
    head, _, tail = view.headline.rpartition(" ")
    return head if head and tail.endswith("%") else view.headline


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"

"""The console demo's live view on a terminal: one rich progress bar per live task (reference,
prompt, percent, state) under the thread lines the chat prints. `LiveBars` redraws them in place
itself (nothing is typed: stdin is not a terminal); `PromptBars` hands them, as ANSI text, to
the input line's screen (adapters/console/prompt.py), which draws them above what is typed."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from bot.messages import StatusView


class LiveBars:
    """One rich progress bar per live task, redrawn on each status edit (no refresh thread, so
    nothing moves while nothing changes). Started with the first bar, stopped with the last."""

    def __init__(self, out: TextIO) -> None:
        self._console = Console(file=out, force_terminal=True, highlight=False, emoji=False)
        self._progress = _progress(self._console)
        self._bars: dict[str, TaskID] = {}
        self.views: dict[str, StatusView] = {}  # the last status of each bar, to hand them on

    def say(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True)

    def show(self, view: StatusView) -> None:
        prompt, state = _clip(view.prompt, 28), _state(view)
        total, done = _percent(view)
        self.views[view.ref] = view
        bar = self._bars.get(view.ref)
        if bar is None:
            if not self._bars:
                self._started()
            bar = self._bars[view.ref] = self._progress.add_task(
                "", total=total, ref=view.ref, prompt=prompt, state=state
            )
        self._progress.update(bar, total=total, completed=done, prompt=prompt, state=state)
        self._drawn()

    def remove(self, ref: str) -> None:
        bar = self._bars.pop(ref, None)
        self.views.pop(ref, None)
        if bar is None:
            return
        self._progress.remove_task(bar)
        if self._bars:
            self._drawn()
        else:
            self._stopped()

    def close(self) -> None:
        if self._bars:
            self._bars.clear()
            self.views.clear()
            self._stopped()

    def _started(self) -> None:
        self._progress.start()

    def _drawn(self) -> None:
        self._progress.refresh()

    def _stopped(self) -> None:
        self._progress.stop()


class PromptBars(LiveBars):
    """The bars as part of the input line's screen: `render` gives them as ANSI text, and each
    change asks that screen to redraw (`redraw`); transcript lines go to `write`, which prints
    them above it."""

    def __init__(
        self, write: Callable[[str], object], redraw: Callable[[], None], width: Callable[[], int]
    ) -> None:
        self._buffer = io.StringIO()
        super().__init__(self._buffer)
        self._write, self._redraw, self._width = write, redraw, width

    def say(self, text: str) -> None:
        self._write(text + "\n")

    def render(self) -> str:
        """The bars, one line each (empty when there are none), at the terminal's width."""
        if not self._bars:
            return ""
        self._console.width = max(40, self._width())
        with self._console.capture() as captured:
            self._console.print(self._progress.get_renderable())
        return captured.get()

    def _started(self) -> None:
        pass  # drawn by the input line's screen, never by rich's own live display

    def _drawn(self) -> None:
        self._redraw()

    def _stopped(self) -> None:
        self._redraw()


def _progress(console: Console) -> Progress:
    return Progress(
        # markup=False: a prompt like "a [/] sign" is text, not rich markup.
        TextColumn("{task.fields[ref]}", style="bold", markup=False),
        TextColumn("{task.fields[prompt]}", style="dim", markup=False),
        BarColumn(bar_width=24),
        TaskProgressColumn(),
        TextColumn("{task.fields[state]}", markup=False),
        console=console,
        auto_refresh=False,
        transient=True,
    )


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

"""The demo's input line on a terminal (prompt_toolkit): line editing and history, the live
progress bars drawn just above what is typed as part of the same screen, and every transcript
line printed above both (patch_stdout), so a redrawn bar never lands on the text being typed."""

from __future__ import annotations

import logging
import sys
from contextlib import ExitStack
from types import TracebackType
from typing import TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import ANSI
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout

from adapters.console.bars import PromptBars

PROMPT = "› "


class PromptLine:
    """Reads lines at the terminal while it is entered (`with`), drawing `bars` (handed to the
    chat by the caller) above the input line. A command once entered stays in the transcript."""

    def __init__(self) -> None:
        # erase_when_done: the bars and the input line leave the screen at Enter; the command
        # is printed back as a transcript line, and the next prompt draws the bars again.
        self._session: PromptSession[str] = PromptSession(
            history=InMemoryHistory(), erase_when_done=True
        )
        self._stack = ExitStack()
        self.bars = PromptBars(self._print, self._session.app.invalidate, self._width)
        self._out: TextIO | None = None

    def __enter__(self) -> PromptLine:
        self._stack.enter_context(patch_stdout())
        self._out = sys.stdout  # the proxy: it prints above whatever prompt is showing
        for handler in logging.getLogger().handlers:  # warnings too land above the prompt
            if isinstance(handler, logging.StreamHandler) and handler.stream is sys.__stderr__:
                handler.setStream(self._out)
                self._stack.callback(handler.setStream, sys.__stderr__)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._out = None
        self._stack.close()  # prints what is still queued, then gives sys.stdout back

    async def read(self) -> str | None:
        """The next line entered; None when the person pressed Ctrl-D or Ctrl-C (they leave)."""
        try:
            line = await self._session.prompt_async(self._message)
        except (EOFError, KeyboardInterrupt):
            return None
        if line.strip():
            self._print(f"{PROMPT}{line.strip()}\n")
        return line

    def _message(self) -> ANSI:
        return ANSI(self.bars.render() + PROMPT)

    def _print(self, text: str) -> None:
        out = self._out or sys.stdout
        out.write(text)
        out.flush()

    def _width(self) -> int:
        return self._session.app.output.get_size().columns

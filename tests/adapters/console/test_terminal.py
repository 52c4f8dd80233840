"""The real `videobot demo` in a pseudo-terminal, read through a VT100 screen (pyte) as a person
would see it: what is typed stays on its own input line while a progress bar above it redraws,
the arrow keys edit the line and recall history (never echoed as `^[[D`), and leaving says what
happens to the tasks still running."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyte
import pytest

COLUMNS, ROWS = 110, 40
LEFT, UP = "\x1b[D", "\x1b[A"


class Terminal:
    """A pseudo-terminal with a screen: what the program writes is drawn on `screen`, and the
    screen answers the program's cursor position requests as a terminal does."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.screen = _AnsweringScreen(COLUMNS, ROWS, master)
        self.stream = pyte.ByteStream(self.screen)

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_for(self, seen: Callable[[list[str]], object], what: str, seconds: float = 60) -> None:
        """Read the program's output until `seen(lines)` holds; fail after `seconds`."""
        deadline = time.monotonic() + seconds
        while not seen(self.lines()):
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"never saw {what}; the screen:\n" + "\n".join(self.lines()))
            if select.select([self.master], [], [], min(left, 0.5))[0]:
                try:
                    self.stream.feed(os.read(self.master, 65536))
                except OSError:  # the program ended and closed the terminal
                    pytest.fail(f"the demo ended before {what}:\n" + "\n".join(self.lines()))

    def input_line(self) -> str:
        return self.lines()[self.screen.cursor.y]


class _AnsweringScreen(pyte.Screen):
    def __init__(self, columns: int, rows: int, master: int) -> None:
        super().__init__(columns, rows)
        self._master = master

    def write_process_input(self, data: str) -> None:
        os.write(self._master, data.encode())


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Terminal, subprocess.Popen[bytes]]]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))}
    env.update(
        {
            "TERM": "xterm",
            "VIDEOBOT_DATA_DIR": str(tmp_path / "data"),
            # Long enough that the bars are still moving while the test types.
            "VIDEOBOT_DEMO_RENDER_SECONDS": "20",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        yield Terminal(master), process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()
        os.close(master)


def test_typing_stays_readable_and_editable_while_the_bars_redraw(
    terminal: tuple[Terminal, subprocess.Popen[bytes]],
) -> None:
    term, process = terminal
    term.wait_for(lambda s: any(line.startswith("videobot console.") for line in s), "greeting")
    term.wait_for(lambda s: term.input_line() == "›", "the input line")

    term.type("/video a paper boat on a river\r")
    term.wait_for(lambda s: any("┌─ thread" in line for line in s), "the thread header")
    term.wait_for(lambda s: _bar(s, "a paper boat") is not None, "a progress bar")
    assert "› /video a paper boat on a river" in term.lines()  # the command stays in view

    # Half a command typed, no Enter: the bar above it goes on redrawing, the text stays.
    term.type("/video a kite")
    term.wait_for(lambda s: term.input_line() == "› /video a kite", "the typed text")
    before = _bar(term.lines(), "a paper boat")
    term.wait_for(lambda s: _bar(s, "a paper boat") not in (None, before), "the bar redrawn")
    lines = term.lines()
    assert term.input_line() == "› /video a kite"
    assert not any("kite" in line for line in lines if line != "› /video a kite")

    # The left arrow moves the cursor (nothing echoed), so the line is edited in the middle.
    term.type(LEFT * 4)
    term.wait_for(lambda s: term.screen.cursor.x == len("› /video a "), "the cursor moved")
    term.type("red ")
    term.wait_for(lambda s: term.input_line() == "› /video a red kite", "the edited line")
    assert not any("^[" in line for line in term.lines())
    term.type("\r")
    term.wait_for(lambda s: _bar(s, "a red kite") is not None, "the second task's bar")

    # Up arrow: the history, newest first.
    term.type(UP)
    term.wait_for(lambda s: term.input_line() == "› /video a red kite", "the last command")
    term.type(UP)
    term.wait_for(
        lambda s: term.input_line() == "› /video a paper boat on a river", "the one before"
    )
    assert not any("^[" in line for line in term.lines())

    # Leaving with tasks still rendering says what becomes of them.
    term.type("\x15quit\r")  # Ctrl-U empties the line first
    term.wait_for(lambda s: any("not finished yet; they are kept" in line for line in s), "bye")
    assert process.wait(timeout=30) == 0
    assert process.stderr is not None
    assert b"Traceback" not in process.stderr.read()


def _bar(lines: list[str], prompt: str) -> str | None:
    """The progress bar line of the task with `prompt`: its reference, the prompt, the bar."""
    shape = re.compile(rf"^[0-9A-Z]{{6}} {re.escape(prompt)}.* [━╸╺ ]+ ")
    return next((line for line in lines if shape.match(line)), None)

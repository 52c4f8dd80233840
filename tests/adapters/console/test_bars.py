"""The console demo on a terminal: each live task is a progress bar redrawn in place under the
thread lines, and the bars are gone once the tasks end; off a terminal, plain lines only."""

from __future__ import annotations

import io
import re
from pathlib import Path

from adapters.console.session import ConsoleChat
from tests.conftest import EngineFactory, console_engine

HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


async def test_a_terminal_gets_bars_that_update_in_place_and_leave_with_the_task(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, tmp_path / "out", live=True)
    engine, session = console_engine(make_engine(), chat, out, tmp_path)
    await session.handle("/video a paper boat [/] on a river")
    ref = sorted(session.started)[0]
    await engine.run_until_idle(step_seconds=2)
    text = out.getvalue()

    assert f"┌─ thread {ref}" in text and "saved: " in text
    # Status edits redraw the bar in place ("\r" + erase line) instead of adding lines.
    assert f"│ {ref}  🎬" not in text
    frames = [ANSI.sub("", frame) for frame in text.split("\r\x1b[2K")[1:]]
    bars = [f for f in frames if f.startswith(f"{ref} a paper boat [/] on a river ")]
    percents = [int(m.group(1)) for f in bars if (m := re.search(r" (\d+)% 🎬 Rendering$", f))]
    assert len(set(percents)) >= 2 and percents == sorted(percents), frames
    assert any(f.endswith(" 100% 📦 Rendered, fetching the video") for f in bars), frames
    # Once the task ends the bar is erased for good: the last thing drawn is the final line,
    # with the cursor shown again.
    assert frames[-1].strip("\r").startswith(f"└ {ref}  ✅ Done")
    assert text.count(HIDE_CURSOR) == 1 and text.rfind(SHOW_CURSOR) > text.rfind("━")


def test_off_a_terminal_it_is_plain_lines() -> None:
    out = io.StringIO()
    assert ConsoleChat(out, Path("unused")).live is False

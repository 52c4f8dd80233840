"""The console demo on a terminal: each live task is a progress bar redrawn in place under the
thread lines, and the bars are gone once the tasks end; off a terminal, plain lines only."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

from adapters.console import PLATFORM, ConsoleChat, ConsoleSession
from adapters.intake import MediaIntake
from bot.domain import Profile
from bot.service import VideoService
from bot.worker import Worker
from tests.conftest import TEST_POLICY, Engine, EngineFactory

HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def wire(
    base: Engine, chat: ConsoleChat, out: io.StringIO, tmp_path: Path
) -> tuple[Engine, ConsoleSession]:
    worker = Worker(
        base.ledger,
        base.provider,
        {PLATFORM: chat},
        TEST_POLICY,
        base.clock.now,
        scratch_dir=tmp_path / "scratch",
        rng=random.Random(2),
    )
    service = VideoService(base.ledger, TEST_POLICY, base.clock.now, worker.wake)
    session = ConsoleSession(
        service, MediaIntake(tmp_path / "media", Profile()), chat, Profile(), out
    )
    engine = Engine(base.ledger, base.provider, worker, service, base.chat, base.clock, base.sim)
    return engine, session


async def test_a_terminal_gets_bars_that_update_in_place_and_leave_with_the_task(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, tmp_path / "out", live=True)
    engine, session = wire(make_engine(), chat, out, tmp_path)
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

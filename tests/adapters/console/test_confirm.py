"""`confirm REF` in the console: a video above the threshold waits for it, then renders."""

from __future__ import annotations

import io
import re
from pathlib import Path

from adapters.console.session import ConsoleChat, ConsoleSession
from adapters.media.intake import MediaIntake
from bot import usage
from bot.domain import Profile, TaskState
from bot.pricing import micros
from bot.providers import PROVIDERS
from bot.service import VideoService
from tests.conftest import TEST_POLICY, EngineFactory, console_engine


async def test_a_dear_video_waits_for_confirm(make_engine: EngineFactory, tmp_path: Path) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, tmp_path / "out")
    engine, _ = console_engine(make_engine(), chat, out, tmp_path)
    guide = PROVIDERS["guide"]
    service = VideoService(
        engine.ledger,
        TEST_POLICY,
        engine.clock.now,
        engine.worker.wake,
        profile=guide.allows,
        prices=guide.prices,
        confirm_above=micros(1),
    )
    session = ConsoleSession(
        service, MediaIntake(tmp_path / "media", Profile()), chat, Profile(), out
    )
    await session.handle("/video a lighthouse in a storm --duration 10")
    asked = re.search(r"Type `confirm (\w{6})` within 10 minutes", out.getvalue())
    assert asked and "about $1.20" in out.getvalue() and session.refused == 0
    assert session.waiting == {asked.group(1)}  # a script ending here exits 1
    await engine.run_until_idle()
    assert engine.sim.simulator.stats.tasks_created == 0  # nothing sent before the confirmation
    await session.handle(f"confirm {asked.group(1)}")
    made = re.search(
        r"Got it: task (\w{6}) \(text-to-video, 16:9, 10s, about \$1\.20\)", out.getvalue()
    )
    assert made
    await session.handle(f"confirm {asked.group(1)}")
    assert f"Already on it: task {made.group(1)}" in out.getvalue()
    await engine.run_until_idle()
    task = await engine.ledger.get(made.group(1))
    assert task is not None and task.state is TaskState.DELIVERED
    assert engine.sim.simulator.stats.tasks_created == 1
    assert session.waiting == set()
    # A question can be declined with `cancel`, like its Cancel button.
    await session.handle("/video a lighthouse at dusk --duration 10")
    second = re.findall(r"Type `confirm (\w{6})` within 10 minutes", out.getvalue())[-1]
    await session.handle(f"cancel {second.lower()}")
    assert out.getvalue().rstrip().endswith("Cancelled: nothing was sent or charged.")
    assert session.refused == 0 and session.waiting == set()
    assert "confirm <ref>" in usage.help_text(Profile())  # and help names the verb

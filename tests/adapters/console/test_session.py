"""The console adapter in-process: the Chat port rendering a thread, and a session answering
every verb at once (help, list, status, cancel, retry) with media from local files."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from adapters.console.session import ConsoleChat, ConsoleSession
from adapters.media.intake import MediaIntake
from bot.domain import TaskState
from bot.policy import WorkerPolicy
from bot.providers import PROVIDERS
from bot.service import VideoService
from tests.conftest import Engine, EngineFactory, console_engine, target


@pytest.fixture
def console(
    make_engine: EngineFactory, tmp_path: Path
) -> tuple[Engine, ConsoleSession, io.StringIO]:
    out = io.StringIO()
    engine, session = console_engine(
        make_engine(), ConsoleChat(out, tmp_path / "out"), out, tmp_path
    )
    return engine, session, out


def refs(text: str) -> list[str]:
    return re.findall(r"Got it: task (\w{6})", text)


async def test_every_verb(
    console: tuple[Engine, ConsoleSession, io.StringIO], tmp_path: Path
) -> None:
    engine, session, out = console
    for name, colour in (("a.png", "red"), ("b.png", "blue")):
        Image.new("RGB", (40, 30), colour).save(tmp_path / name)
    await session.handle("help")
    assert "--duration" in out.getvalue()
    await session.handle(
        f"/video two friends dancing --ref {tmp_path / 'a.png'} --ref {tmp_path / 'b.png'}"
    )
    await session.handle("/video a slow sunrise")
    first, second = refs(out.getvalue())
    await session.handle(f"cancel {second}")
    assert f"Cancelled task {second}" in out.getvalue()
    await session.handle(f"status {first}")
    assert f"⏳ Queued  [{first}]" in out.getvalue()
    await engine.run_until_idle()
    text = out.getvalue()
    assert f"┌─ thread {first}" in text and "reference-to-video" in text
    assert f"└ {first}  ✅ Done" in text and f"└ {second}  🚫 Cancelled" in text
    assert len(list((tmp_path / "out").glob("*.mp4"))) == 1
    await session.handle(f"retry {second}")
    third = refs(out.getvalue())[-1]
    await engine.run_until_idle()
    retried = await engine.ledger.get(third)
    assert (
        retried is not None and retried.state is TaskState.DELIVERED and retried.retry_of == second
    )
    await session.handle("list")
    listing = out.getvalue().rsplit("list", 1)[-1]
    assert first in out.getvalue() and third in listing
    assert session.started == {first, second, third}


async def test_errors_are_answered_not_raised(
    console: tuple[Engine, ConsoleSession, io.StringIO],
) -> None:
    _, session, out = console
    for line in (
        "/video",
        "/video boat --ar 4:3",
        "status ZZZZZZ",
        "cancel",
        "/video x --image ./nope.png",
        "hello",
    ):
        assert await session.handle(line)
    text = out.getvalue()
    assert "turns a description" in text  # bare /video shows help
    assert "Use 16:9 or 9:16" in text
    assert "No task ZZZZZZ" in text
    assert "Which task?" in text
    assert "No file at ./nope.png" in text
    assert "Type /video <prompt>" in text
    assert not await session.handle("quit")


async def test_res_and_help_follow_the_chosen_provider(
    console: tuple[Engine, ConsoleSession, io.StringIO], tmp_path: Path
) -> None:
    engine, plain, out = console
    await plain.handle("/video a boat --res 1080p")  # the default profile makes 720p only
    assert "makes 720p videos, not 1080p" in out.getvalue()
    google = PROVIDERS["google"].allows
    chat = ConsoleChat(out, tmp_path / "out")
    # The bot's service runs on the same profile as its console (as videobot wires them).
    service = VideoService(
        engine.ledger, WorkerPolicy(), engine.clock.now, lambda: None, profile=google
    )
    session = ConsoleSession(service, MediaIntake(tmp_path / "media", google), chat, google, out)
    await session.handle("help")
    assert "Provider: Google Gemini API" in out.getvalue() and "--res 360p|720p" in out.getvalue()
    await session.handle("/video a lighthouse in a storm --res 1080 --duration 8")
    assert "(text-to-video, 16:9, 8s, 1080p)" in out.getvalue()
    (ref,) = refs(out.getvalue())
    task = await engine.ledger.get(ref)
    assert task is not None and task.request.resolution == "1080p"


async def test_a_piped_status_line_says_its_percentage_once(tmp_path: Path) -> None:
    import io

    from adapters.console.session import ConsoleChat
    from bot.messages import StatusView

    out = io.StringIO()
    chat = ConsoleChat(out, tmp_path, live=False)
    view = StatusView(
        ref="6E11AV",
        state="running",
        prompt="a boat",
        headline="🎬 Rendering 25%",
        summary="",
        detail="▓▓░░░░░░░░ 25% · 2s so far",
        progress=25,
        buttons=(),
        final=False,
    )
    await chat.update_status(target("U1"), "6E11AV", view)
    assert out.getvalue() == "│ 6E11AV  🎬 Rendering  ▓▓░░░░░░░░ 25% · 2s so far\n"

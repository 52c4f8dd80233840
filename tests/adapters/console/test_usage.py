"""`usage` in the console: the typist's spend, as the chats answer it."""

from __future__ import annotations

import getpass
import io
from pathlib import Path

from adapters.console.session import PLATFORM, ConsoleChat
from bot.domain import ReplyTarget
from tests.bot.test_reports import spend
from tests.conftest import EngineFactory, console_engine


async def test_usage_and_usage_all_in_the_console(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    out = io.StringIO()
    engine, session = console_engine(
        make_engine(), ConsoleChat(out, tmp_path / "out"), out, tmp_path
    )
    await session.handle("usage")
    assert "You have not spent anything this month." in out.getvalue()
    me = ReplyTarget(PLATFORM, "local", "console", getpass.getuser())
    await spend(engine.ledger, me, "0.72", engine.clock)
    await session.handle("/video usage")
    assert "You have spent $0.72 today and $0.72 this month" in out.getvalue()
    await session.handle("usage all")
    assert "Only admins can see everyone's spending" in out.getvalue()

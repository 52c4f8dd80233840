"""The engine end to end: service + worker + HTTP provider + simulator + ledger file."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from bot.domain import TaskState
from tests.conftest import Engine, t2v, target


async def test_text_to_video_is_delivered_once_with_a_real_mp4(engine: Engine) -> None:
    task, created = await engine.service.accept(t2v(ratio="9:16", duration=10), target(), "evt-1")
    assert created
    await engine.run_until_idle()

    done = await engine.ledger.get(task.ref)
    assert done is not None and done.state is TaskState.DELIVERED
    assert len(engine.chat.uploads) == 1
    upload = engine.chat.uploads[0]
    with av.open(io.BytesIO(upload.data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (360, 640)  # 9:16
        assert abs(container.duration / 1_000_000 - 10) < 0.2
        assert next(container.decode(video=0)).width == 360
    views = engine.chat.posts[done.status_message_id or ""]
    states = [v.state for v in views]
    assert states[0] == "accepted" and states[-1] == "delivered"
    assert "running" in states
    state = engine.sim.simulator.snapshot()
    assert state["tasks_created"] == 1
    assert state["submits_by_prompt"] == {"a paper boat on a river": 1}


async def test_a_switch_of_provider_with_renders_still_out_is_refused_at_start(
    tmp_path: Path,
) -> None:
    """A task Google is rendering, polled through another provider's API, would be lost
    though paid for: the bot does not start on another provider until it has ended."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from pydantic import SecretStr

    from bot.config import Settings
    from bot.engine import open_engine
    from storage.sqlite.ledger import SqliteLedger
    from tests.storage.test_ledger import fresh

    db = tmp_path / "l.db"
    now = datetime.now(UTC)
    async with SqliteLedger.open(db) as ledger:
        task, _ = await ledger.add(replace(fresh("g"), provider="google"))  # type: ignore[type-var]
        running = task.submitting(now).submitted("v1_abc", now, now)
        assert await ledger.save(task, running) is not None
    base = {"VIDEOBOT_DB": str(db), "VIDEOBOT_DATA_DIR": str(tmp_path / "data")}
    guide = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **base,
        VIDEO_API_URL="http://127.0.0.1:9",
        VIDEO_API_KEY=SecretStr("k"),
    )
    with pytest.raises(SystemExit) as refused:
        async with open_engine(guide):
            pass
    said = str(refused.value)
    assert f"1 task(s) ({task.ref}) are still with google" in said
    assert "VIDEOBOT_PROVIDER=google" in said
    google = guide.model_copy(update={"provider": "google"})
    async with open_engine(google) as engine:  # the same provider starts as always
        assert (await engine.ledger.get(task.ref)) is not None

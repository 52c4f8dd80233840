"""The engine end to end: service + worker + HTTP provider + simulator + ledger file."""

from __future__ import annotations

import io

import av

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

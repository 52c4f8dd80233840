"""`videobot doctor` against the real simulator: every failure names its next step, the exit
code says whether anything failed, and no secret is ever printed."""

from __future__ import annotations

import io
import socket
from pathlib import Path

from adapters.ops.doctor import run_doctor
from adapters.simulator.server import RunningSimulator
from bot.config import Settings
from tests.conftest import SIM_KEY


def settings(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {"VIDEOBOT_DB": str(tmp_path / "d.db"), "DISCORD_TOKEN": None}
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[call-arg]


async def doctor(config: Settings, offline: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_doctor(config, out, offline=offline)
    return code, out.getvalue()


async def test_healthy_setup_passes_and_prints_no_secret(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    config = settings(tmp_path, VIDEO_API_URL=sim.url, VIDEO_API_KEY=SIM_KEY, SLACK_BOT_TOKEN=None)
    code, text = await doctor(config)
    assert "PASS  video API key" in text and "PASS  task API" in text and "PASS  ledger" in text
    assert SIM_KEY not in text
    assert "FAIL  chat platforms" in text and code == 1  # no platform yet: said, not hidden


async def test_wrong_key_chat_url_and_unreachable_each_say_what_to_do(
    sim: RunningSimulator, tmp_path: Path
) -> None:
    code, text = await doctor(
        settings(tmp_path, VIDEO_API_URL=sim.url, VIDEO_API_KEY="sk-wrong-0000")
    )
    assert code == 1 and "FAIL  video API key" in text and "set VIDEO_API_KEY" in text
    assert "sk-wrong-0000" not in text
    chat = settings(tmp_path, VIDEO_API_URL=f"{sim.url}/v1/chat/completions", VIDEO_API_KEY=SIM_KEY)
    code, text = await doctor(chat)
    assert code == 1 and "invalid apitype" in text and "gateway root" in text
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    gone = settings(tmp_path, VIDEO_API_URL=f"http://127.0.0.1:{closed}", VIDEO_API_KEY=SIM_KEY)
    code, text = await doctor(gone)
    assert code == 1 and "FAIL  video API reachable" in text and "ConnectError" in text


async def test_offline_mode_and_missing_settings(tmp_path: Path) -> None:
    code, text = await doctor(settings(tmp_path), offline=True)
    assert "missing: VIDEO_API_URL, VIDEO_API_KEY" in text and "PASS  ledger" in text
    assert code == 1
    slack_half = settings(tmp_path, SLACK_BOT_TOKEN="xoxb-1-2-abc")
    _, text = await doctor(slack_half, offline=True)
    assert "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET" in text and "xoxb-1-2-abc" not in text


async def test_doctor_looks_at_the_ledger_without_creating_one(tmp_path: Path) -> None:
    code, text = await doctor(settings(tmp_path), offline=True)
    assert f"PASS  ledger              {tmp_path / 'd.db'}: none yet" in text
    assert not (tmp_path / "d.db").exists()
    from storage.sqlite.ledger import SqliteLedger

    async with SqliteLedger.open(tmp_path / "d.db"):
        pass
    _, text = await doctor(settings(tmp_path), offline=True)
    assert ", 0 tasks, integrity ok" in text
    assert text.rstrip().endswith("4 checks passed, 2 failed")  # prices is one of them
    assert "PASS  prices              720p $0.12/s" in text
    assert "PASS  callbacks" in text and "off (no VIDEOBOT_CALLBACK_URL)" in text

"""The real `videobot` command in a subprocess: the scripted console demo end to end (its own
simulator, a real MP4 on disk), `videobot tasks`, and the simulator's CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import av
from PIL import Image

from adapters.simulator.mp4 import render_mp4


def videobot(
    args: list[str], cwd: Path, stdin: str = "", extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))}
    env.update(
        {
            "VIDEOBOT_DATA_DIR": str(cwd / "data"),
            "VIDEOBOT_DEMO_RENDER_SECONDS": "1.5",
            **(extra or {}),
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


def test_scripted_demo_makes_videos_from_text_image_and_clip(tmp_path: Path) -> None:
    Image.new("RGB", (80, 60), (10, 120, 200)).save(tmp_path / "cat.png")
    (tmp_path / "clip.mp4").write_bytes(render_mp4("source clip", "16:9", 4, 120))
    script = "\n".join(
        [
            "/video a paper boat on a river --ar 9:16 --duration 10",
            "/video make the cat wave --image ./cat.png",
            "/video turn it into a watercolour --video ./clip.mp4",
            "/video oops --duration 7",
            "/video --colr red",
            "list",
        ]
    )
    result = videobot(["demo"], tmp_path, script + "\n")
    assert result.returncode == 1, result.stderr  # two lines were refused
    out = result.stdout
    assert out.count("✅ Done") == 3
    assert "A video can be 6 or 10 seconds long, not 7." in out
    assert "Unknown option --colr" in out
    videos = sorted((tmp_path / "videobot-output").glob("*.mp4"))
    assert len(videos) == 3
    boat = next(v for v in videos if "paper-boat" in v.name)
    with av.open(str(boat)) as container:
        stream = container.streams.video[0]
        assert stream.height > stream.width  # 9:16
        assert abs(container.duration / 1_000_000 - 10) < 0.2
    assert "Traceback" not in result.stderr


def test_tasks_lists_the_ledger_as_json(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = videobot(
        ["demo"], tmp_path, "/video a lighthouse in a storm\n", {"VIDEOBOT_DB": str(db)}
    )
    assert result.returncode == 0, result.stderr
    listed = videobot(["tasks", "--json"], tmp_path, extra={"VIDEOBOT_DB": str(db)})
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 1
    assert rows[0]["state"] == "delivered" and rows[0]["prompt"] == "a lighthouse in a storm"
    assert rows[0]["provider_task_id"].startswith("task_")
    table = videobot(["tasks"], tmp_path, extra={"VIDEOBOT_DB": str(db)})
    assert "REF" in table.stdout and "delivered" in table.stdout
    head, row = table.stdout.splitlines()[:2]
    assert "COST" in head and "$0.72" in row  # the guide's 6 s at $0.12 a second
    bad = videobot(["tasks", "--state", "nope"], tmp_path, extra={"VIDEOBOT_DB": str(db)})
    assert bad.returncode == 2 and "Unknown state “nope”." in bad.stdout


def test_image_bytes_sniffed_not_trusted_by_name(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("<html>not an image</html>")
    result = videobot(["demo"], tmp_path, "/video animate --image ./fake.png\n")
    assert result.returncode == 1  # the fake image was refused
    assert "fake.png" in result.stdout and "is not something I can use" in result.stdout
    assert not list((tmp_path / "videobot-output").glob("*.mp4"))


async def test_tasks_filters_history_and_operator_cancel(tmp_path: Path) -> None:
    from bot.policy import WorkerPolicy
    from bot.service import VideoService
    from storage.sqlite.ledger import SqliteLedger
    from tests.conftest import t2v, target

    db = tmp_path / "ops.db"
    async with SqliteLedger.open(db) as ledger:
        svc = VideoService(ledger, WorkerPolicy(), lambda: datetime.now(UTC), lambda: None)
        mine, _ = await svc.accept(t2v("mine"), target("U1"), "a")
        theirs, _ = await svc.accept(t2v("theirs"), target("U2"), "b")
        await ledger.save(mine, mine.cancelled(datetime.now(UTC)))
    env = {"VIDEOBOT_DB": str(db)}

    only_u2 = videobot(["tasks", "--json", "--user", "U2"], tmp_path, extra=env)
    assert [json.loads(r)["ref"] for r in only_u2.stdout.splitlines()] == [theirs.ref]
    cancelled = videobot(
        ["tasks", "--json", "--state", "cancelled", "--since", "1h"], tmp_path, extra=env
    )
    assert [json.loads(r)["ref"] for r in cancelled.stdout.splitlines()] == [mine.ref]
    future = videobot(["tasks", "--since", "2999-01-01"], tmp_path, extra=env)
    assert "(no tasks)" in future.stdout
    bad = videobot(["tasks", "--since", "yesterday"], tmp_path, extra=env)
    assert bad.returncode == 2 and "cannot read --since" in bad.stdout

    shown = videobot(["tasks", "show", mine.ref], tmp_path, extra=env)
    assert shown.returncode == 0
    assert "accepted" in shown.stdout and "cancelled" in shown.stdout and "history" in shown.stdout

    stop = videobot(["tasks", "cancel", theirs.ref], tmp_path, extra=env)
    assert stop.returncode == 0 and f"cancelled {theirs.ref}" in stop.stdout
    again = videobot(["tasks", "cancel", theirs.ref], tmp_path, extra=env)
    assert again.returncode == 1
    assert f"task {theirs.ref} already ended in state cancelled" in again.stderr
    unknown = videobot(["tasks", "cancel", "zz9zz9"], tmp_path, extra=env)
    assert unknown.returncode == 1 and f"no task ZZ9ZZ9 in {db}" in unknown.stderr
    missing = videobot(["tasks", "show", "NOPE00"], tmp_path, extra=env)
    assert missing.returncode == 1


def test_help_describes_the_commands_and_every_simulator_knob(tmp_path: Path) -> None:
    top = videobot(["--help"], tmp_path)
    assert top.returncode == 0
    assert "Composition root" not in top.stdout  # not the module's docstring
    for command in ("run", "demo", "simulate", "doctor", "tasks", "discord-sync", "invite"):
        assert f"\n    {command}" in top.stdout, command
    sim = videobot(["simulate", "--help"], tmp_path)
    flags = [line.split()[0] for line in sim.stdout.splitlines() if line.startswith("  --")]
    assert len(flags) > 15
    options = sim.stdout.split("options:", 1)[1]
    for block in options.split("\n  -")[2:]:  # every option after -h
        if "--no-idempotency" in block:
            continue  # a switch: off unless given
        assert "(default:" in " ".join(block.split()), block


def test_tasks_refuses_nonsense_and_never_creates_a_ledger(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    listed = videobot(["tasks"], tmp_path, extra={"VIDEOBOT_DB": str(db)})
    assert listed.returncode == 1 and f"no ledger at {db}" in listed.stderr
    assert not db.exists()
    negative = videobot(["tasks", "--limit", "-1"], tmp_path)
    assert negative.returncode == 2 and "--limit: give a number of 1 or more" in negative.stderr
    share = videobot(["simulate", "--fail-rate", "2"], tmp_path)
    assert share.returncode == 2 and "between 0 and 1" in share.stderr


def test_discord_voice_warnings_are_not_printed(tmp_path: Path) -> None:
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "import adapters.discord.client, discord\n"
        "discord.Client(intents=discord.Intents.default())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "voice will NOT be supported" not in result.stderr


def test_a_data_or_output_folder_that_is_a_file_stops_the_start_plainly(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder")
    for setting in ("VIDEOBOT_DATA_DIR", "VIDEOBOT_OUTPUT_DIR"):
        result = videobot(
            ["demo"], tmp_path, "/video a cat\n", {setting: str(tmp_path / "afile" / "x")}
        )
        assert result.returncode == 1, result.stderr
        assert f"{setting}: cannot use {tmp_path / 'afile' / 'x'} as a folder" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_demo_killed_mid_task_finishes_it_when_started_again(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))}
    env.update({"VIDEOBOT_DATA_DIR": str(tmp_path / "data"), "VIDEOBOT_DEMO_RENDER_SECONDS": "3"})
    memory = tmp_path / "data" / "demo-simulator.json"
    first = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
        text=True,
    )
    assert first.stdin is not None
    first.stdin.write("/video a slow glacier at dawn\n")
    first.stdin.flush()
    deadline = time.monotonic() + 60
    while not (memory.exists() and json.loads(memory.read_text())["tasks"]):
        assert time.monotonic() < deadline, "the task never reached the simulator"
        assert first.poll() is None, "the demo ended before it was killed"
        time.sleep(0.05)
    first.kill()  # submitted, not yet delivered
    first.wait(timeout=30)
    first.stdin.close()

    again = videobot(["demo"], tmp_path, "", {"VIDEOBOT_DEMO_RENDER_SECONDS": "3"})
    assert again.returncode == 0, again.stderr
    assert "Resuming one task left unfinished by the last run" in again.stdout
    assert "✅ Done" in again.stdout
    assert len(list((tmp_path / "videobot-output").glob("*glacier*.mp4"))) == 1
    assert len(json.loads(memory.read_text())["tasks"]) == 1  # never submitted twice


def test_quitting_with_a_live_task_says_what_happens_to_it(tmp_path: Path) -> None:
    result = videobot(["demo"], tmp_path, "/video a lantern in fog\nquit\n")
    assert result.returncode == 0, result.stderr
    assert (
        "One task is not finished yet; it is kept and finishes when you start the demo again."
        in (result.stdout)
    )


async def test_doctor_signs_in_to_vertex_with_the_key_file_it_is_given(tmp_path: Path) -> None:
    import asyncio

    import httpx

    from adapters.simulator.knobs import SimConfig
    from adapters.simulator.server import start_simulator
    from tests.adapters.provider.test_google_vertex import service_account

    sim = await start_simulator(SimConfig(dialect="vertex"))
    try:
        info, public = service_account(f"{sim.url}/oauth2/token")
        async with httpx.AsyncClient() as http:
            knobs = {"trusted_key": public, "token_ttl": 3600}
            assert (await http.post(f"{sim.url}/_sim/google", json=knobs)).is_success
        key = tmp_path / "key.json"
        key.write_text(json.dumps(info))
        env = {
            "VIDEOBOT_PROVIDER": "vertex",
            "VIDEO_API_URL": sim.url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key),
        }
        result = await asyncio.to_thread(videobot, ["doctor"], tmp_path, "", env)
    finally:
        await sim.close()
    sign_in = next(line for line in result.stdout.splitlines() if "Vertex AI sign-in" in line)
    assert sign_in.lstrip().startswith("PASS"), result.stdout
    assert "PRIVATE KEY" not in result.stdout + result.stderr


def test_the_readme_sample_session_is_what_the_demo_prints(tmp_path: Path) -> None:
    import re

    from tests.paths import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sample = readme.split("## Quick start", 1)[1].split("```\n", 3)[2].splitlines()
    command, shown = sample[0], sample[1:]
    # Renders long enough for the status to be seen rendering (polls are 1 s apart).
    result = videobot(["demo"], tmp_path, command + "\n", {"VIDEOBOT_DEMO_RENDER_SECONDS": "5"})
    assert result.returncode == 0, result.stderr

    def shape(line: str) -> str:
        line = re.sub(r"\b[0-9A-Z]{6}\b", "REF", line)
        return re.sub(r"\d+%|\d+s so far|Made in \d+s|[▓░]+", "N", line)

    printed = {shape(line) for line in result.stdout.splitlines()}
    missing = [line for line in shown if shape(line) not in printed]
    assert missing == [], result.stdout


def test_doctor_fails_a_vertex_key_file_the_bot_would_refuse(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p1",
                "private_key_id": "1",
                "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n",
                "client_email": "a@b.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        )
    )
    for key, said in ((bad, "not a service account key"), (Path("/dev/zero"), "regular file")):
        env = {"VIDEOBOT_PROVIDER": "vertex", "GOOGLE_APPLICATION_CREDENTIALS": str(key)}
        result = videobot(["doctor"], tmp_path, "", env)
        assert result.returncode == 1, result.stdout
        text = result.stdout
        assert said in text and "Traceback" not in result.stderr, text


def test_the_demo_on_toapis_makes_a_video(tmp_path: Path) -> None:
    result = videobot(
        ["demo"], tmp_path, "/video a kite over dunes\n", {"VIDEOBOT_PROVIDER": "toapis"}
    )
    assert result.returncode == 0, result.stderr
    (video,) = (tmp_path / "videobot-output").glob("*.mp4")
    with av.open(str(video)) as container:
        frame = next(container.decode(video=0))  # decodable, in the default 16:9 shape
        assert frame.width > frame.height


def test_an_image_to_video_result_shows_its_input_image(tmp_path: Path) -> None:
    Image.new("RGB", (80, 60), (230, 20, 20)).save(tmp_path / "red.png")
    result = videobot(["demo"], tmp_path, "/video make it glow --image ./red.png\n")
    assert result.returncode == 0, result.stderr
    (video,) = (tmp_path / "videobot-output").glob("*.mp4")
    with av.open(str(video)) as container:
        frame = next(container.decode(video=0)).to_image()
    # The simulator insets the input in the lower right corner of every frame.
    width, height = frame.size
    red, green, blue = frame.getpixel((width - height // 20 - 40, height - height // 10 - 30))
    assert red > 150 and green < 90 and blue < 90, (red, green, blue)
    left = frame.getpixel((width // 20, height - height // 10 - 30))
    assert left[0] < 150  # elsewhere the frame is the simulator's dark blue


def test_a_role_needs_a_shared_ledger(tmp_path: Path) -> None:
    """`run --role worker|intake` beside other processes: a SQLite ledger serves one process,
    so without VIDEOBOT_DATABASE_URL it stops at once, saying what to set."""
    for role in ("worker", "intake"):
        extra = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s"}
        result = videobot(["run", "--role", role], tmp_path, extra=extra)
        assert result.returncode == 2
        assert "VIDEOBOT_DATABASE_URL" in result.stderr and f"--role {role}" in result.stderr
        assert "Traceback" not in result.stderr

"""What the image runs, run here (there is no Docker engine in CI): the Dockerfile's own ENV,
ENTRYPOINT + CMD and HEALTHCHECK command, read from the file, against a real `videobot run`
(Slack in HTTP mode, the simulator over loopback); and compose.yaml agreeing with it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adapters.simulator.knobs import SimConfig
from adapters.simulator.server import RunningSimulator, start_simulator

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent  # where `videobot` and `python` are, as on the image's PATH
SIM_KEY = "sk-docker-test-key-0001"


@dataclass
class Image:
    env: dict[str, str]
    entrypoint: list[str]
    cmd: list[str]
    healthcheck: list[str]
    instructions: list[tuple[str, str]]


def read_dockerfile() -> Image:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())  # join continued lines
    instructions = [
        (word.upper(), rest.strip())
        for word, rest in (
            line.split(None, 1) for line in text.splitlines() if line.strip() and line[0] != "#"
        )
    ]
    env: dict[str, str] = {}
    exec_form: dict[str, list[str]] = {}
    for word, rest in instructions:
        if word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))
        elif word in ("ENTRYPOINT", "CMD"):
            exec_form[word] = json.loads(rest)
        elif word == "HEALTHCHECK":
            exec_form["HEALTHCHECK"] = json.loads(rest.split(" CMD ", 1)[1])
    return Image(
        env, exec_form["ENTRYPOINT"], exec_form["CMD"], exec_form["HEALTHCHECK"], instructions
    )


IMAGE = read_dockerfile()


def container_env(data: Path, **settings: str) -> dict[str, str]:
    """The image's ENV (with /data on a temporary directory) plus what an env_file would add."""
    host = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))}
    image = {k: v.replace("/data", str(data)) for k, v in IMAGE.env.items()}
    return {**host, **image, "PATH": f"{VENV_BIN}{os.pathsep}{host['PATH']}", **settings}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_image_is_slim_non_root_cached_and_exec_form() -> None:
    steps = IMAGE.instructions
    words = [word for word, _ in steps]
    froms = [rest for word, rest in steps if word == "FROM"]
    assert froms and all(re.fullmatch(r"python:3\.1\d-slim", base) for base in froms)
    # The dependency layer comes from the lock file alone, before any code is copied.
    first_code = next(i for i, (w, r) in enumerate(steps) if w == "COPY" and "bot" in r)
    deps = next(i for i, (w, r) in enumerate(steps) if w == "RUN" and "-r " in r)
    assert deps < first_code and [r for w, r in steps[:deps] if w == "COPY"] == [
        "requirements.lock requirements-build.lock ./"
    ]
    user = [rest for word, rest in steps if word == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert ("VOLUME", '["/data"]') in steps and IMAGE.env["VIDEOBOT_DATA_DIR"] == "/data"
    assert IMAGE.entrypoint == ["videobot"] and IMAGE.cmd == ["run"]


def test_the_dependency_layer_installs_the_lock_file_ci_tested() -> None:
    runs = [r for w, r in IMAGE.instructions if w == "RUN" and "pip install" in r]
    assert runs[0] == (
        "pip install --require-hashes --no-deps -r requirements.lock -r requirements-build.lock"
    )
    assert ("COPY", "requirements.lock requirements-build.lock ./") in IMAGE.instructions
    assert all("--no-deps" in r for r in runs)  # nothing resolved at build time
    # The project is built with the locked setuptools, not a newest one fetched in isolation.
    assert all("--no-build-isolation" in r for r in runs[1:])


def test_run_without_a_platform_refuses_clearly_and_doctor_offline_says_why(
    tmp_path: Path,
) -> None:
    env = container_env(tmp_path / "data", VIDEO_API_URL="http://127.0.0.1:9", VIDEO_API_KEY="k")
    refused = run([*IMAGE.entrypoint, *IMAGE.cmd], env, tmp_path)
    assert refused.returncode == 2
    assert "No chat platform is configured" in refused.stderr and "Traceback" not in refused.stderr
    doctor = run([*IMAGE.entrypoint, "doctor", "--offline"], env, tmp_path)
    assert doctor.returncode == 1 and "FAIL  chat platforms" in doctor.stdout
    assert "PASS  ledger" in doctor.stdout and str(tmp_path / "data") in doctor.stdout


def test_a_taken_metrics_port_stops_the_start_with_the_setting_to_change(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = container_env(
            tmp_path / "data",
            VIDEO_API_URL="http://127.0.0.1:9",
            VIDEO_API_KEY="k",
            SLACK_BOT_TOKEN="xoxb-docker-test-token",
            SLACK_SIGNING_SECRET="docker-test-signing-secret",
            SLACK_PORT="0",
            VIDEOBOT_METRICS_PORT=str(taken.getsockname()[1]),
        )
        refused = run([*IMAGE.entrypoint, *IMAGE.cmd], env, tmp_path)
    assert refused.returncode == 1
    assert "VIDEOBOT_METRICS_PORT" in refused.stderr and "Traceback" not in refused.stderr


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SimConfig(api_key=SIM_KEY))
    yield running
    await running.close()


async def test_the_entrypoint_serves_healthz_and_stops_cleanly_on_sigterm(
    simulator: RunningSimulator, tmp_path: Path
) -> None:
    port = free_port()
    env = container_env(
        tmp_path / "data",
        VIDEO_API_URL=simulator.url,
        VIDEO_API_KEY=SIM_KEY,
        SLACK_BOT_TOKEN="xoxb-docker-test-token",
        SLACK_SIGNING_SECRET="docker-test-signing-secret",
        SLACK_PORT="0",
        SLACK_API_URL="http://127.0.0.1:9/api/",  # never called: no command arrives
        VIDEOBOT_METRICS_PORT=str(port),
    )
    assert run([*IMAGE.entrypoint, "doctor", "--offline"], env, tmp_path).returncode == 0
    bot = await asyncio.create_subprocess_exec(
        *IMAGE.entrypoint,
        *IMAGE.cmd,
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert bot.stderr is not None
    log: list[str] = []
    try:
        async with asyncio.timeout(30):
            while "(/metrics, /healthz)" not in "".join(log):
                line = (await bot.stderr.readline()).decode()
                assert line, "videobot run exited early:\n" + "".join(log)
                log.append(line)
        assert f"0.0.0.0:{port} (/metrics, /healthz)" in "".join(log)  # the image's host

        healthy = await asyncio.to_thread(run, IMAGE.healthcheck, env, tmp_path)
        assert healthy.returncode == 0, healthy.stderr
        async with httpx.AsyncClient(trust_env=False) as client:
            health = (await client.get(f"http://127.0.0.1:{port}/healthz")).json()
            metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        assert health["ledger"] == "ok" and health["worker"] == "alive"
        assert "videobot_ledger_up 1.0" in metrics

        bot.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            rest = (await bot.stderr.read()).decode()
            code = await bot.wait()
        assert code == 0, "".join(log) + rest
        assert "Traceback" not in rest
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    # Nothing listens any more: the same probe now reports unhealthy.
    stopped = await asyncio.to_thread(run, IMAGE.healthcheck, env, tmp_path)
    assert stopped.returncode != 0


def test_compose_runs_the_image_with_its_volume_port_and_grace_period() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    port = IMAGE.env["VIDEOBOT_METRICS_PORT"]
    assert re.search(r"^\s+build: \.$", compose, re.MULTILINE)
    assert re.search(r"^\s+env_file: \.env", compose, re.MULTILINE)
    assert re.search(r"^\s+- videobot-data:/data\b", compose, re.MULTILINE)
    assert re.search(r"^volumes:\n\s+videobot-data:", compose, re.MULTILINE)
    assert f':{port}:{port}"' in compose and f'VIDEOBOT_METRICS_PORT: "{port}"' in compose
    assert re.search(r"^\s+restart: unless-stopped$", compose, re.MULTILINE)
    grace = re.search(r"^\s+stop_grace_period: (\d+)s$", compose, re.MULTILINE)
    assert grace and int(grace.group(1)) >= 30

"""The piped demo as a user runs it: a line it did not understand fails the run (exit 1), a
BOM or tabs do not, and SIGTERM says what becomes of a live task as `quit` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_cli import videobot


def test_a_line_the_demo_did_not_understand_fails_a_piped_run(tmp_path: Path) -> None:
    result = videobot(["demo"], tmp_path, "/vidoe a cat\n")
    assert result.returncode == 1, result.stdout
    assert "I did not understand that line." in result.stdout


def test_sigterm_says_what_becomes_of_a_live_task(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEO", "SLACK", "DISCORD"))}
    env.update({"VIDEOBOT_DATA_DIR": str(tmp_path / "data"), "VIDEOBOT_DEMO_RENDER_SECONDS": "60"})
    demo = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
        text=True,
    )
    assert demo.stdin is not None and demo.stdout is not None
    demo.stdin.write("\ufeff/video\ta lantern in fog\n")
    demo.stdin.flush()
    deadline = time.monotonic() + 60
    while "Got it: task" not in (line := demo.stdout.readline()):
        assert line and time.monotonic() < deadline, "the demo never took the task"
    demo.send_signal(signal.SIGTERM)
    out, err = demo.communicate(timeout=60)
    said = "One task is not finished yet; it is kept and finishes when you start the demo again."
    assert said in out, (out, err)
    assert "Traceback" not in err

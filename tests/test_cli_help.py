"""The command line as a new user reads it: each command's --help describes it, an unknown
option is answered by its command, simulate shows each default once, and `tasks` takes the
state words `list` shows and points at the demo's ledger when that is the one beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import videobot


@pytest.mark.parametrize("command", ["demo", "run", "invite"])
def test_each_command_help_describes_it(tmp_path: Path, command: str) -> None:
    result = videobot([command, "--help"], tmp_path)
    assert result.returncode == 0
    assert len(result.stdout.strip().splitlines()) > 4, result.stdout


def test_an_unknown_option_is_answered_by_its_command(tmp_path: Path) -> None:
    result = videobot(["demo", "--foo"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: videobot demo")
    assert "videobot demo: error: unrecognized arguments: --foo" in result.stderr


def test_simulate_shows_each_default_once(tmp_path: Path) -> None:
    text = " ".join(videobot(["simulate", "--help"], tmp_path).stdout.split())
    assert "(default: None)" not in text and "(default: any) (default" not in text
    assert "--seed SEED random seed for repeatable faults (default: a new one each run)" in text
    assert "--port PORT port to listen on (default: 8765)" in text


def test_tasks_takes_the_words_list_shows_and_finds_the_demo_ledger(tmp_path: Path) -> None:
    demo = videobot(["demo"], tmp_path, "/video a paper boat\n")
    assert demo.returncode == 0, demo.stderr
    missing = videobot(["tasks"], tmp_path)
    assert missing.returncode == 1
    demo_db = tmp_path / "data" / "demo.db"
    assert f"the demo's ledger is beside it: VIDEOBOT_DB={demo_db} videobot tasks" in (
        missing.stderr
    )
    assert not (tmp_path / "data" / "videobot.db").exists()
    env = {"VIDEOBOT_DB": str(demo_db)}
    done = videobot(["tasks", "--state", "done"], tmp_path, extra=env)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 2, done.stdout
    wrong = videobot(["tasks", "--state", "finished"], tmp_path, extra=env)
    assert wrong.returncode == 2
    assert wrong.stdout.startswith("Unknown state “finished”. Use one of: queued, sending,")

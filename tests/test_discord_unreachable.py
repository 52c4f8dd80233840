"""`invite` and `discord-sync` when Discord cannot be reached: one line naming what to check and
a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.test_cli import videobot


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("command", [["invite"], ["discord-sync"]])
def test_an_unreachable_discord_is_one_line(tmp_path: Path, command: list[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/v10"
    env = {"DISCORD_TOKEN": "abc", "DISCORD_GUILD_ID": "123", "DISCORD_API_URL": url}
    result = videobot(command, tmp_path, extra=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"Could not reach Discord at {url} (ClientConnectorError). Check the network, any "
        "proxy, and DISCORD_API_URL if you set it, then run it again."
    )

"""A simulator that cannot have its port (a second demo beside a first) leaves nothing open:
its callback sender's HTTP session is closed, so no "Unclosed client session" is printed
after the one-line refusal."""

from __future__ import annotations

import gc
import logging
import socket

import pytest

from adapters.simulator.server import start_simulator


async def test_a_taken_port_leaves_no_client_session_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(OSError):
            await start_simulator(port=port)
        gc.collect()
    assert "Unclosed client session" not in caplog.text

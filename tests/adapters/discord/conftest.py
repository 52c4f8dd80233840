"""Every request any Discord test makes the bot send is checked against Discord's published
API (tests/conformance/discord_contract.py): a flow that sends a body Discord's contract
refuses fails here, whatever the test itself asserts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.discord_contract import assert_conforms
from tests.fakes.discord_server import STARTED


@pytest.fixture(autouse=True)
def requests_honour_discords_published_contract() -> Iterator[None]:
    before = len(STARTED)
    yield
    for fake in STARTED[before:]:
        assert_conforms(fake.sent)

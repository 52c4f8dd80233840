"""Every Slack test in this folder also checks each request the bot sent the fake Slack against
Slack's published contract (tests/conformance/slack_contract.py): the existing flows are the
conformance suite's flows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.slack_contract import problems
from tests.fakes.slack_harness import USER
from tests.fakes.slack_server import FakeSlack


def _fake_slack(request: pytest.FixtureRequest) -> FakeSlack | None:
    for name in ("slack", "fake"):
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            fake = value if isinstance(value, FakeSlack) else getattr(value, "fake", None)
            if isinstance(fake, FakeSlack):
                return fake
    return None


@pytest.fixture(autouse=True)
def slack_conformance(request: pytest.FixtureRequest) -> Iterator[None]:
    fake = _fake_slack(request)
    yield
    if fake is not None:
        # The one live sequence the bot writes: its requester's mention.
        assert problems(fake.calls, [f"<@{USER}>"]) == []

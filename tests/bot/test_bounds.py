"""Settings far outside what can work are refused at start with the setting named, instead of
crashing later (a lease of 1e12 s overflowed the first claim's date) or opening ten million
gateway connections."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.config import Settings


@pytest.mark.parametrize("lease", ["1e12", "99999999999", "3601", "0"])
def test_a_lease_outside_one_second_to_an_hour_is_refused(
    lease: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOBOT_LEASE", lease)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "VIDEOBOT_LEASE" in str(refused.value)


def test_a_lease_within_bounds_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDEOBOT_LEASE", "30")
    assert Settings(_env_file=None).lease.total_seconds() == 30  # type: ignore[call-arg]


@pytest.mark.parametrize("shards", ["99999999", "10001"])
def test_a_shard_count_beyond_any_bot_is_refused(
    shards: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEOBOT_DISCORD_SHARDS", shards)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "1 to 10000" in str(refused.value)

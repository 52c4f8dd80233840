"""VIDEOBOT_DISCORD_SHARDS / _SHARD_IDS / _REST_RATE: read as an operator writes them, and
refused at start with the setting to change when they cannot work."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.cli import invalid_settings
from bot.config import Settings


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)


def refusal(**env: str) -> str:
    with pytest.raises(ValidationError) as err:
        settings(**env)
    return invalid_settings(err.value)


def test_by_default_discord_recommends_the_count_and_this_process_runs_every_shard() -> None:
    assert settings().discord_shard_plan() == (None, None)
    assert settings(VIDEOBOT_DISCORD_SHARDS="auto").discord_shard_plan() == (None, None)
    assert settings().discord_rest_rate == 50


@pytest.mark.parametrize(
    ("written", "ids"),
    [("0-1", (0, 1)), ("2,3", (2, 3)), (" 0-2, 7 ", (0, 1, 2, 7)), ("3,1,3", (1, 3)), ("5", (5,))],
)
def test_shard_ids_are_ranges_and_lists(written: str, ids: tuple[int, ...]) -> None:
    chosen = settings(VIDEOBOT_DISCORD_SHARDS="8", VIDEOBOT_DISCORD_SHARD_IDS=written)
    assert chosen.discord_shard_plan() == (8, ids)


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"VIDEOBOT_DISCORD_SHARDS": "0"}, "VIDEOBOT_DISCORD_SHARDS: give a number of shards"),
        ({"VIDEOBOT_DISCORD_SHARDS": "many"}, "from 1 to 10000, or auto (not 'many')"),
        ({"VIDEOBOT_DISCORD_SHARD_IDS": "0-1"}, "needs VIDEOBOT_DISCORD_SHARDS set to the same"),
        (
            {"VIDEOBOT_DISCORD_SHARDS": "4", "VIDEOBOT_DISCORD_SHARD_IDS": "2-4"},
            "shard 4 is outside 0-3 (VIDEOBOT_DISCORD_SHARDS is 4)",
        ),
        ({"VIDEOBOT_DISCORD_SHARDS": "4", "VIDEOBOT_DISCORD_SHARD_IDS": "3-1"}, "write it as 1-3"),
        ({"VIDEOBOT_DISCORD_SHARDS": "4", "VIDEOBOT_DISCORD_SHARD_IDS": "a,b"}, "e.g. 0-1 or 2,3"),
        ({"VIDEOBOT_DISCORD_SHARDS": "4", "VIDEOBOT_DISCORD_SHARD_IDS": ","}, "at least one"),
        ({"VIDEOBOT_DISCORD_REST_RATE": "80"}, "VIDEOBOT_DISCORD_REST_RATE"),
        ({"VIDEOBOT_DISCORD_REST_RATE": "0"}, "VIDEOBOT_DISCORD_REST_RATE"),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_setting(
    env: dict[str, str], complaint: str
) -> None:
    assert complaint in refusal(**env)

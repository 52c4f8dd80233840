"""The README's `## Providers` section is checked against bot/providers.py: a subsection and a
table row for every provider, the row's durations and resolutions the profile's own, and the
settings table links to it."""

from __future__ import annotations

import re

import pytest

from bot.domain import Mode
from bot.providers import PROVIDERS
from bot.usage import seconds
from tests.test_settings import README

TEXT = README.read_text(encoding="utf-8")
SECTION = TEXT.split("\n## Providers\n", 1)[1].split("\n## ", 1)[0]


def row(name: str) -> list[str]:
    (line,) = [x for x in SECTION.splitlines() if x.startswith(f"| `{name}` |")]
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def test_every_provider_has_a_subsection_and_nothing_else_does() -> None:
    named = re.findall(r"^### `([a-z]+)`", SECTION, flags=re.MULTILINE)
    assert named == list(PROVIDERS)
    assert "[Providers](#providers)" in TEXT.split("\n## Settings\n", 1)[1]


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_the_table_row_says_what_the_profile_allows(name: str) -> None:
    allows = PROVIDERS[name].allows
    _, durations, resolutions, _, edit = row(name)
    assert (edit == "not offered") is (Mode.EDIT not in allows.modes)
    assert durations == f"{seconds(allows.durations, ', ')} ({allows.default_duration})"
    shown = ", ".join(allows.resolutions)
    if len(allows.resolutions) > 1:
        shown += f" ({allows.default_resolution})"
    assert resolutions == shown


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_each_subsection_names_its_setting_and_key(name: str) -> None:
    chosen = PROVIDERS[name]
    text = SECTION.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    assert "Key" in text and "edia" in text  # the key, and how media reaches it
    if chosen.base_url:
        assert f"`{chosen.base_url}`" in text and f"VIDEOBOT_PROVIDER={name}" in text

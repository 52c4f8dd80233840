"""Prices behind the Ledger port, on both backends: every provider profile's table survives the
round trip, a change written with set_prices is what prices() reads, and the settings replace
the stored table at start only when they changed since the last seeding."""

from __future__ import annotations

import pytest

from bot.ledger import Ledger
from bot.price_book import from_json, to_json
from bot.pricing import CREDITS, PriceTable, micros
from bot.providers import PROVIDERS


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_profile_table_survives_its_json_form(name: str) -> None:
    table = PROVIDERS[name].prices
    assert from_json(to_json(table)) == table


async def test_prices_are_stored_per_provider(ledger: Ledger) -> None:
    assert await ledger.prices("google") is None
    for name in ("google", "evolink"):
        await ledger.set_prices(name, PROVIDERS[name].prices)
    assert await ledger.prices("google") == PROVIDERS["google"].prices
    assert await ledger.prices("evolink") == PROVIDERS["evolink"].prices
    assert (await ledger.prices("evolink") or PriceTable()).unit == CREDITS
    clip = PriceTable(unit="EUR", per_clip=micros("0.5"))
    await ledger.set_prices("google", clip)  # replaces, leaves the other provider's
    assert await ledger.prices("google") == clip
    assert await ledger.prices("evolink") == PROVIDERS["evolink"].prices


async def test_settings_seed_prices_only_when_they_changed(ledger: Ledger) -> None:
    settings = PROVIDERS["guide"].prices
    assert await ledger.seed_prices("guide", settings)  # the first start: the settings' prices
    assert await ledger.prices("guide") == settings
    changed = PriceTable(per_second=(("720p", micros("0.09")),))
    await ledger.set_prices("guide", changed)  # as a later admin command would
    assert not await ledger.seed_prices("guide", settings)  # a restart with the same settings
    assert await ledger.prices("guide") == changed
    edited = PriceTable(per_second=(("720p", micros("0.2")), ("1080p", micros("0.3"))))
    assert await ledger.seed_prices("guide", edited)  # the operator changed the settings
    assert await ledger.prices("guide") == edited
    reordered = PriceTable(per_second=tuple(reversed(edited.per_second)))
    assert not await ledger.seed_prices("guide", reordered)  # order is no change
    assert await ledger.prices("guide") == edited


async def test_a_change_made_before_any_seeding_gives_way_to_the_settings(
    ledger: Ledger,
) -> None:
    await ledger.set_prices("fal", PriceTable(per_clip=1))
    assert await ledger.seed_prices("fal", PROVIDERS["fal"].prices)
    assert await ledger.prices("fal") == PROVIDERS["fal"].prices

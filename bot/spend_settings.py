"""The money half of the settings (a part of `bot.config.Settings`): price overrides of the
provider profile's table, and the budgets the ledger stores at start. Amounts are decimals in
the price unit (`0.12` dollars, `10.2` credits), read exactly, never as floats."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode

from bot.callbacks import env as _env
from bot.ledger import Budget, BudgetPeriod, BudgetScope
from bot.pricing import MICRO, PriceTable, micros

Rates = Annotated[dict[str, Decimal], NoDecode]
_PRICE_KEYS = ("360p", "720p", "1080p", "4k", "clip", "tokens")
_PLATFORMS = ("slack", "discord", "console")
# Sane ceilings, far above any real price or budget and far below what the ledger's 64-bit
# micro-unit sums can hold: a typo such as 1e30 is refused at start, not met mid-request.
MAX_PRICE = Decimal(1_000_000)
MAX_BUDGET = Decimal(1_000_000_000)
_SMALLEST = Decimal(1) / MICRO


def _amount(text: str, what: str, most: Decimal = MAX_PRICE) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{what}: give an amount like 0.12, not {text.strip()!r}") from None
    return checked(value, what, most)


def checked(value: Decimal, what: str, most: Decimal) -> Decimal:
    """`value` if it is an amount the ledger can keep exactly, else ValueError saying why."""
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what}: give an amount of 0 or more, not {value}")
    if value > most:
        raise ValueError(f"{what}: {value} is more than the most accepted, {most:,}")
    if 0 < value < _SMALLEST:
        raise ValueError(f"{what}: {value} is below the smallest amount kept, 0.000001")
    return value


def _pairs(value: object, what: str, most: Decimal = MAX_PRICE) -> object:
    """`720p=0.12, 1080p=0.20` as {"720p": Decimal("0.12"), ...}; a name given twice (in any
    case) is refused rather than one of them silently winning."""
    if not isinstance(value, str):
        return value
    pairs: dict[str, Decimal] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        name, eq, amount = part.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"{what}: give name=amount pairs separated by commas, not {part!r}")
        if name.strip().lower() in {k.lower() for k in pairs}:
            raise ValueError(f"{what}: {name.strip()} is given twice; give it once")
        pairs[name.strip()] = _amount(amount, what, most)
    return pairs


class SpendSettings(BaseSettings):
    # Overrides of the provider profile's prices: `720p=0.12,1080p=0.20` (per second),
    # `clip=0.50` (per clip) and/or `tokens=17.27` (per million output video tokens).
    prices: Rates | None = Field(None, validation_alias=_env("VIDEOBOT_PRICES"))
    price_unit: str | None = Field(
        None, pattern=r"^(credits|[A-Z]{3})$", validation_alias=_env("VIDEOBOT_PRICE_UNIT")
    )
    budget_user_day: Decimal | None = Field(
        None, ge=0, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_BUDGET_USER_DAY")
    )
    budget_user_month: Decimal | None = Field(
        None, ge=0, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_BUDGET_USER_MONTH")
    )
    budget_workspace_month: Decimal | None = Field(
        None, ge=0, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_BUDGET_WORKSPACE_MONTH")
    )
    # A video estimated above this asks its requester to confirm before anything is sent.
    confirm_above: Decimal | None = Field(
        None, ge=0, allow_inf_nan=False, validation_alias=_env("VIDEOBOT_CONFIRM_ABOVE")
    )
    # Per channel and month: `slack:C123=20,discord:80351110224678912=5`.
    budget_channels: Rates = Field(
        default_factory=dict, validation_alias=_env("VIDEOBOT_BUDGET_CHANNELS")
    )

    @field_validator("prices", mode="before")
    @classmethod
    def _prices(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        pairs = _pairs(value, "VIDEOBOT_PRICES")
        if isinstance(pairs, dict):
            pairs = {k.lower(): v for k, v in pairs.items()}
            unknown = sorted(set(pairs) - set(_PRICE_KEYS))
            if unknown:
                raise ValueError(
                    f"VIDEOBOT_PRICES: {', '.join(unknown)} is not priced; use "
                    f"{', '.join(_PRICE_KEYS)}"
                )
            if "clip" in pairs and set(pairs) - {"clip", "tokens"}:
                raise ValueError(
                    "VIDEOBOT_PRICES: give a price per clip or prices per second, not both "
                    "(a clip price replaces every per-second one)"
                )
        return pairs

    @field_validator("budget_channels", mode="before")
    @classmethod
    def _channels(cls, value: object) -> object:
        pairs = _pairs(value, "VIDEOBOT_BUDGET_CHANNELS", MAX_BUDGET)
        if isinstance(pairs, dict):
            for channel in pairs:
                platform, colon, ident = channel.partition(":")
                if not colon or not platform or not ident:
                    raise ValueError(
                        f"VIDEOBOT_BUDGET_CHANNELS: name the platform too, e.g. slack:{channel}"
                    )
                if platform not in _PLATFORMS:
                    raise ValueError(
                        f"VIDEOBOT_BUDGET_CHANNELS: {platform} is not a platform; use "
                        f"{', '.join(_PLATFORMS)} (e.g. slack:{ident})"
                    )
        return pairs

    @field_validator(
        "budget_user_day",
        "budget_user_month",
        "budget_workspace_month",
        "confirm_above",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "budget_user_day", "budget_user_month", "budget_workspace_month", "confirm_above"
    )
    @classmethod
    def _sane(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        what = f"VIDEOBOT_{(info.field_name or '').upper()}"
        return None if value is None else checked(value, what, MAX_BUDGET)

    def price_table(self, base: PriceTable) -> PriceTable:
        """The provider profile's `base` table with the settings' overrides: per-second rates
        replace the profile's, a clip price replaces them all, and reported tokens are priced
        from them (the operator's contract wins) unless `tokens=` prices tokens flat."""
        table = replace(base, unit=self.price_unit or base.unit)
        if not self.prices:
            return table
        rates = {k: micros(v) for k, v in self.prices.items()}
        seconds = tuple((k, v) for k, v in rates.items() if k not in ("clip", "tokens"))
        return replace(
            table,
            per_second=seconds or (table.per_second if "clip" not in rates else ()),
            per_clip=rates.get("clip"),
            per_million_tokens=rates.get("tokens"),
        )

    @property
    def confirm_threshold(self) -> int | None:
        """VIDEOBOT_CONFIRM_ABOVE in micro-units of the price unit (None: never ask)."""
        return None if self.confirm_above is None else micros(self.confirm_above)

    def budget_list(self, unit: str) -> list[Budget]:
        """Every budget the settings set, in `unit` (the price table's)."""
        chosen: list[tuple[BudgetScope, BudgetPeriod, Decimal | None, str]] = [
            ("user", "day", self.budget_user_day, "*"),
            ("user", "month", self.budget_user_month, "*"),
            ("workspace", "month", self.budget_workspace_month, "*"),
            *(("channel", "month", v, k) for k, v in self.budget_channels.items()),
        ]
        return [
            Budget(scope, period, micros(amount), unit, subject)
            for scope, period, amount, subject in chosen
            if amount is not None
        ]

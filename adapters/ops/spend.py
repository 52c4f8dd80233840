"""`videobot usage`: what was spent, for whoever pays. Grouped by user, workspace, channel, day
or provider since a time (this month by default), as a table, JSON lines or CSV. Amounts are
exact decimals of the price unit; `reserved` is what tasks still running hold."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TextIO

from adapters.ops.check import Check
from adapters.ops.ledgers import NoLedger, operator_ledger
from adapters.ops.tasks import amount_text, parse_since
from bot.budget_start import other_units, unit_warning
from bot.config import Settings
from bot.ledger import SpendLine, SpendQuery
from bot.pricing import PriceTable, cheapest, money, period_starts
from storage.sqlite.ledger import SqliteLedger

_HEADER = ("{by}", "UNIT", "TASKS", "SPENT", "STILL RESERVED")


def price_check(settings: Settings) -> Check:
    """doctor's row for money: the prices in force, the budgets and the confirmation threshold,
    so an operator sees what users will be told before they are told it."""
    table = settings.prices_in_force
    unit = table.unit
    if table.per_clip is not None:
        prices = f"{money(table.per_clip, unit)} a clip"
    else:
        prices = ", ".join(f"{res} {money(rate, unit)}/s" for res, rate in table.per_second)
    parts = [prices or "not priced"]
    if tokens := token_rates(table):
        parts.append(f"reported video tokens at {tokens}")
    budgets = settings.budget_list(unit)
    if budgets:
        parts.append(
            "budgets "
            + ", ".join(
                f"{b.scope if b.subject == '*' else b.subject} per {b.period} "
                f"{money(b.limit, unit)}"
                for b in budgets
            )
        )
    if settings.confirm_threshold is not None:
        parts.append(f"confirm above {money(settings.confirm_threshold, unit)}")
    cheapest = cheapest_video(settings)
    tight = [b for b in budgets if cheapest is not None and b.limit < cheapest]
    if cheapest is None or not tight:
        return Check("prices", True, "; ".join(parts))
    names = ", ".join(f"{b.scope} per {b.period} {money(b.limit, unit)}" for b in tight)
    parts.append(f"the cheapest video costs {money(cheapest, unit)}, more than {names}")
    fix = "raise those budgets or lower the prices: no video can be made within them"
    return Check("prices", True, "; ".join(parts), fix, warned=True)


def cheapest_video(settings: Settings) -> int | None:
    """The least any video the profile allows can be estimated at (None: not priced)."""
    profile = settings.profile()
    return cheapest(settings.prices_in_force, profile.durations, profile.resolutions)


async def unit_check(ledger: SqliteLedger, unit: str) -> list[Check]:
    """doctor's warning when this month was spent in a unit other than VIDEOBOT_PRICE_UNIT's."""
    warning = unit_warning(unit, await other_units(ledger, unit, datetime.now(UTC)))
    if not warning:
        return []
    fix = "set VIDEOBOT_PRICE_UNIT back, or accept that budgets restart this month"
    return [Check("price unit", True, warning, fix, warned=True)]


def token_rates(table: PriceTable) -> str:
    """The price per million output video tokens in force (flat, or by resolution), or ""."""
    if table.per_million_tokens is not None:
        return f"{money(table.per_million_tokens, table.unit)} per million"
    rates = []
    for resolution, _ in table.tokens_per_second:
        per_token = table.token_price(resolution)
        if per_token is not None:
            rates.append(f"{resolution} {money(micros_of(per_token * 1_000_000), table.unit)}")
    return f"{', '.join(rates)} per million" if rates else ""


def micros_of(amount: Decimal) -> int:
    return int(amount.to_integral_value(rounding=ROUND_HALF_UP))


def _text(micros: int) -> str:
    """Every amount in one format: at least two decimals (`0.00`, `0.72`, `81.60`), more only
    when the amount has them (`0.000001`)."""
    exact = amount_text(micros) or "0"
    whole, _, fraction = exact.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def record(line: SpendLine) -> dict[str, object]:
    return {
        "key": line.key,
        "unit": line.unit,
        "tasks": line.tasks,
        "spent": _text(line.spent),
        "reserved": _text(line.held),
    }


def write_report(
    lines: list[SpendLine], by: str, since: datetime, out: TextIO, form: str = "table"
) -> None:
    if form == "json":
        for line in lines:
            out.write(json.dumps(record(line)) + "\n")
        return
    if form == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([by, "unit", "tasks", "spent", "reserved"])
        writer.writerows(
            [line.key, line.unit, line.tasks, _text(line.spent), _text(line.held)] for line in lines
        )
        return
    out.write(f"spend by {by} since {since:%Y-%m-%d %H:%M} UTC\n")
    header = tuple(h.format(by=by.upper()) for h in _HEADER)
    rows = [header] + [
        (
            line.key,
            line.unit,
            str(line.tasks),
            money(line.spent, line.unit),
            money(line.held, line.unit),
        )
        for line in lines
    ]
    totals: dict[str, tuple[int, int, int]] = {}
    for line in lines:
        tasks, spent, held = totals.get(line.unit, (0, 0, 0))
        totals[line.unit] = (tasks + line.tasks, spent + line.spent, held + line.held)
    rows += [
        ("TOTAL", unit, str(tasks), money(spent, unit), money(held, unit))
        for unit, (tasks, spent, held) in sorted(totals.items())
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        cells = [
            c.rjust(w) if i >= 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")
    if not lines:
        out.write("(nothing spent)\n")


async def run_usage_command(
    settings: Settings, args: argparse.Namespace, out: TextIO = sys.stdout
) -> int:
    """`videobot usage [--by ...] [--since ...] [--json|--csv]`."""
    now = datetime.now(UTC)
    try:
        since = parse_since(args.since, now) if args.since else period_starts(now)[1]
    except ValueError:
        print(f"cannot read --since {args.since!r}; use e.g. 7d or 2026-11-01", file=sys.stderr)
        return 2
    try:
        async with operator_ledger(settings, "usage") as (ledger, _):
            lines = await ledger.spend(SpendQuery(since=since, by=args.by))
    except NoLedger as err:
        print(err, file=sys.stderr)
        return 1
    form = "json" if args.json else "csv" if args.csv else "table"
    write_report(lines, args.by, since, out, form)
    return 0

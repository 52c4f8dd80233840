"""Chaos across processes on one PostgreSQL ledger (tests/pg_chaos_harness.py)."""

from __future__ import annotations

from pathlib import Path

from tests.pg import pg_databases, pg_url
from tests.pg_chaos_harness import run_cross_chaos

__all__ = ["pg_databases", "pg_url"]


def test_four_processes_killed_and_frozen_lose_nothing_pay_once_post_once(
    tmp_path: Path, pg_url: str
) -> None:
    report = run_cross_chaos(tmp_path / "cross", pg_url, tasks=40, events=8, seed=7)
    print("\n" + report.table() + "\n  " + ", ".join(report.events))
    assert report.accepted == 40
    assert report.lost == 0
    assert report.submitted_twice == 0
    assert report.posted_twice == 0
    assert report.untold == 0
    assert report.delivered + report.unknown + report.other_ended == 40
    assert report.provider_tasks <= report.delivered + report.unknown + report.other_ended
    assert report.kills == 4 and report.pauses == 4

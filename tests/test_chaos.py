"""SIGKILL the real bot at random moments, many times, and audit the money and the posts.
The long version: `python -m bench.chaos --kills 100 --tasks 300`."""

from __future__ import annotations

from pathlib import Path

from tests.chaos_harness import run_chaos


def test_killed_twenty_times_and_stopped_six_nothing_lost_paid_once_posted_once(
    tmp_path: Path,
) -> None:
    report = run_chaos(tmp_path / "chaos", tasks=50, kills=26, seed=11)
    print("\n" + report.table())
    assert report.accepted == 50
    assert report.lost == 0
    assert report.submitted_twice == 0
    assert report.posted_twice == 0
    assert report.untold == 0  # every ended task showed its final status to its requester
    assert report.integrity == "ok"
    assert report.graceful_stops >= 5 and report.graceful_failures == 0  # SIGTERM: exit 0
    assert report.delivered + report.reported_unknown + report.other_ended == 50
    assert report.delivered >= 40  # the kills hit some submits, not most of them
    # An `unknown` task may or may not exist at the provider, never twice.
    assert report.provider_tasks <= report.delivered + report.reported_unknown + report.other_ended

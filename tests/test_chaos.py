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
    # Kills aimed at the submit window caught tasks there; each of those, and nothing else,
    # ended `unknown`: a task caught mid-submit that was sent again would count twice above.
    assert report.aimed_kills >= 4 and report.killed_mid_submit >= 4
    assert report.reported_unknown == report.killed_mid_submit
    # An `unknown` task may or may not exist at the provider, never twice.
    assert report.provider_tasks <= report.delivered + report.reported_unknown + report.other_ended


def test_with_callbacks_on_nothing_lost_paid_once_posted_once(tmp_path: Path) -> None:
    """The same audit with the simulator calling back (signed, some twice, out of order, some
    while the bot is dead): a callback only makes its task due, so the invariants hold."""
    report = run_chaos(tmp_path / "chaos", tasks=24, kills=10, seed=5, callbacks=True)
    print("\n" + report.table())
    assert report.accepted == 24
    assert report.lost == 0
    assert report.submitted_twice == 0
    assert report.posted_twice == 0
    assert report.untold == 0
    assert report.integrity == "ok"
    assert report.graceful_failures == 0
    assert report.delivered + report.reported_unknown + report.other_ended == 24
    assert report.reported_unknown == report.killed_mid_submit
    assert report.callbacks_sent > 0  # the bot took callbacks (between kills)

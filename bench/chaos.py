"""The chaos run at any size: `python -m bench.chaos --kills 100 --tasks 300`."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.chaos_harness import run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20, help="stops: every 4th a SIGTERM")
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_chaos(Path(tmp), tasks=args.tasks, kills=args.kills, seed=args.seed)
    kills = args.kills - report.graceful_stops
    print(
        f"chaos: {args.kills} stops over {args.tasks} tasks "
        f"({kills} SIGKILL, {report.graceful_stops} SIGTERM)"
    )
    print(
        f"killed mid-submit: {report.killed_mid_submit} ({report.aimed_kills} kills aimed there), "
        f"ended unknown: {report.reported_unknown}, provider tasks: {report.provider_tasks}"
    )
    print(report.table())
    bad = report.lost or report.submitted_twice or report.posted_twice or report.untold
    bad = bad or report.reported_unknown != report.killed_mid_submit
    raise SystemExit(1 if bad or report.integrity != "ok" else 0)


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark, videobot and the typical-bot baseline side by side in the same
run, against the simulator over loopback, printed as one table. Figures, never pass/fail.

    make bench                                  # full sizes (about 25 minutes on 2 cores)
    BENCH_SIZE=quick make bench                 # smaller sizes (a few minutes)
    .venv/bin/python -m bench.run --only accept,delivery

Each side runs in its own fresh interpreter, against its own simulator process, so CPU and peak
RSS belong to that side alone. See bench/README.md for what each row measures."""

from __future__ import annotations

import argparse
import os
import time

from bench import accept, callbacks, delivery, flight, inline
from bench.common import Row, machine, table

SIZES = {
    "full": {"accept": 1000, "polling": 200, "scale": 10_000, "scale_render": 180.0},
    "quick": {"accept": 200, "polling": 50, "scale": 1000, "scale_render": 60.0},
}
ALL = ("accept", "polling", "callbacks", "scale", "delivery", "inline")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--size", choices=sorted(SIZES), default=os.environ.get("BENCH_SIZE"))
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated: " + ",".join(ALL))
    args = parser.parse_args()
    size = SIZES[args.size or "full"]
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmarks: {sorted(unknown)}")
    print(f"videobot vs typical bot ({args.size or 'full'} sizes) on {machine()}", flush=True)
    rows: list[Row] = []
    started = time.monotonic()
    for name in chosen:
        print(f"  running {name} ...", flush=True)
        if name == "accept":
            rows += accept.rows(int(size["accept"]))
        elif name == "polling":
            rows += flight.polling_rows(int(size["polling"]))
        elif name == "callbacks":
            rows += callbacks.rows(int(size["polling"]))
        elif name == "scale":
            rows += flight.scale_rows(int(size["scale"]), float(size["scale_render"]))
        elif name == "inline":
            rows += inline.rows()
        else:
            rows += delivery.rows()
    print()
    print(table(rows))
    print(
        f"\nbase/vb = baseline / videobot (above 1: videobot's figure is that many times lower)."
        f" {time.monotonic() - started:.0f} s in all."
    )


if __name__ == "__main__":
    main()

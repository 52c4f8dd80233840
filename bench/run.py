"""`make bench`: every benchmark, one table each. Figures, never pass/fail."""

from __future__ import annotations

from bench import engine


def main() -> None:
    engine.main()


if __name__ == "__main__":
    main()

"""One line of `videobot doctor`'s table: what was checked, whether it passed, what was seen
and, for a failure, the next step. A check not run says so (SKIP) instead of passing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    skipped: bool = False
    warned: bool = False  # passes, but says something the operator should act on

    @property
    def mark(self) -> str:
        if self.skipped:
            return "SKIP"
        if self.ok and self.warned:
            return "WARN"
        return "PASS" if self.ok else "FAIL"


def skipped(name: str, why: str, fix: str = "") -> Check:
    return Check(name, True, why, fix, skipped=True)

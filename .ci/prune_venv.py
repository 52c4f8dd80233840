"""Uninstall from the running environment every distribution the given lock files do not pin,
so a venv installed over an older one matches the locks exactly (pip installs, never removes).
Kept: pip itself (the installer the venv came with) and the project being developed.

Usage: python .ci/prune_venv.py LOCK [LOCK ...]"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==")
_KEEP = {"pip", "videobot"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(locks: list[str]) -> set[str]:
    names: set[str] = set()
    for lock in locks:
        for line in Path(lock).read_text().splitlines():
            if match := _PIN.match(line):
                names.add(canonical(match.group(1)))
    return names


def main(locks: list[str]) -> int:
    wanted = pinned(locks) | _KEEP
    installed = {canonical(d.metadata["Name"]) for d in importlib.metadata.distributions()}
    extra = sorted(installed - wanted)
    if not extra:
        return 0
    print("removing what the locks do not pin:", ", ".join(extra))
    command = [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", *extra]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The core stays platform-free: no module of bot/ but the composition root imports an SDK,
an HTTP or database library, or the adapters and storage packages."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {
    "slack_bolt",
    "slack_sdk",
    "discord",
    "httpx",
    "aiohttp",
    "aiosqlite",
    "adapters",
    "storage",
}
CORE = Path(__file__).resolve().parents[1] / "bot"


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_imports_no_platform_code() -> None:
    modules = [p for p in CORE.glob("*.py") if p.name != "__main__.py"]
    assert len(modules) >= 10
    leaks = {p.name: imported_roots(p) & FORBIDDEN for p in modules}
    assert {name: found for name, found in leaks.items() if found} == {}


def test_the_walk_would_see_a_leak(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text("import httpx\nfrom storage.ledger import SqliteLedger\n")
    assert imported_roots(leaky) & FORBIDDEN == {"httpx", "storage"}

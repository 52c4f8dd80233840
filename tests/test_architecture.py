"""The tree keeps its shape: the core imports no platform code, and each role folder imports only
the roles the table below allows. Read ALLOWED to see every arrow between the folders at once."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.paths import ROOT

FORBIDDEN = {
    "slack_bolt",
    "slack_sdk",
    "discord",
    "httpx",
    "aiohttp",
    "aiosqlite",
    "psycopg",
    "psycopg_pool",
    "adapters",
    "storage",
}
CORE = ROOT / "bot"
COMPOSITION_ROOT = {CORE / "__main__.py", CORE / "engine.py", CORE / "platforms.py"}

# role folder -> the role folders its modules may import. `bot` is the core (its composition root,
# bot/__main__.py with the wiring it keeps in bot/engine.py, wires everything and is the one
# exception). Nothing imports ops or the simulator
# but the composition root and the tests; the simulator stands in for an upstream and imports
# nothing of ours, so it can never drift into agreeing with our client by sharing its code.
ALLOWED: dict[str, set[str]] = {
    "bot": set(),
    "storage": {"bot"},  # the codec and the spending rules shared by the backends
    "storage/sqlite": {"bot", "storage"},
    "storage/postgres": {"bot", "storage"},
    "adapters/fetch": {"bot"},
    "adapters/media": {"bot"},
    "adapters/provider": {"bot", "adapters/fetch"},  # result downloads go through the fetcher
    "adapters/slack": {"bot", "adapters/fetch", "adapters/media"},  # private files -> intake
    "adapters/discord": {"bot", "adapters/fetch", "adapters/media"},  # attachments -> intake
    "adapters/console": {"bot", "adapters/media"},  # local files -> intake
    "adapters/callback": {"bot", "adapters/fetch"},  # JWKS documents go through the fetcher
    "adapters/simulator": set(),
    # doctor: the invite URL; metrics: the small server the callback endpoint also runs on
    "adapters/ops": {
        "bot",
        "storage",
        "storage/sqlite",
        "storage/postgres",  # doctor and `tasks` read whichever ledger is configured
        "adapters/discord",
        "adapters/callback",
    },
}


def imported_modules(path: Path) -> set[str]:
    """Every absolute import in the file, at any depth (lazy imports inside functions count)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


def role_of_module(module: str) -> str | None:
    """The role folder a dotted module name lives in (`adapters.slack.chat` -> adapters/slack)."""
    parts = module.split(".")
    if parts[0] == "bot":
        return "bot"
    if parts[0] in ("adapters", "storage"):
        package = ROOT.joinpath(*parts[:2])
        return "/".join(parts[:2]) if len(parts) > 1 and package.is_dir() else parts[0]
    return None


def role_of_file(path: Path) -> str:
    relative = path.relative_to(ROOT).parts
    return "/".join(relative[:2]) if len(relative) > 2 else relative[0]


def project_modules() -> list[Path]:
    return [
        p
        for top in ("bot", "adapters", "storage")
        for p in sorted((ROOT / top).rglob("*.py"))
        if p not in COMPOSITION_ROOT and p != ROOT / "adapters" / "__init__.py"
    ]


def arrows() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in project_modules():
        role = role_of_file(path)
        targets = {role_of_module(m) for m in imported_modules(path)} - {None, role}
        found.setdefault(role, set()).update(t for t in targets if t)
    return found


def test_core_imports_no_platform_code() -> None:
    modules = [p for p in CORE.glob("*.py") if p not in COMPOSITION_ROOT]
    assert len(modules) >= 10
    leaks = {p.name: imported_roots(p) & FORBIDDEN for p in modules}
    assert {name: found for name, found in leaks.items() if found} == {}


def test_every_role_folder_is_in_the_table() -> None:
    folders = {"bot", "storage"} | {
        f"{top}/{d.name}"
        for top in ("adapters", "storage")
        for d in (ROOT / top).iterdir()
        if d.is_dir() and (d / "__init__.py").exists()
    }
    assert folders == set(ALLOWED)


def test_every_adapter_module_lives_in_a_role_folder() -> None:
    assert sorted(p.name for p in (ROOT / "adapters").glob("*.py")) == ["__init__.py"]


def test_each_role_imports_only_the_roles_it_is_allowed() -> None:
    found = arrows()
    assert set(found) <= set(ALLOWED)
    extra = {role: sorted(targets - ALLOWED[role]) for role, targets in found.items()}
    assert {role: targets for role, targets in extra.items() if targets} == {}


def test_nothing_but_the_composition_root_imports_ops_or_the_simulator() -> None:
    importers = {
        role
        for role, targets in arrows().items()
        if targets & {"adapters/ops", "adapters/simulator"}
    }
    assert importers == set()


def test_the_walk_would_see_a_leak(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text("import httpx\nfrom storage.sqlite.ledger import SqliteLedger\n")
    assert imported_roots(leaky) & FORBIDDEN == {"httpx", "storage"}


def test_the_walk_would_see_a_forbidden_arrow(tmp_path: Path) -> None:
    lazy = tmp_path / "lazy.py"
    lazy.write_text("def f() -> None:\n    from adapters.slack.chat import SlackChat\n")
    assert {role_of_module(m) for m in imported_modules(lazy)} == {"adapters/slack"}
    assert "adapters/slack" not in ALLOWED["adapters/provider"]

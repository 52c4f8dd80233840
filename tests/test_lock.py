"""The lock files are what every install uses (Makefile, Dockerfile): they must pin, with
hashes, a version of everything pyproject.toml asks for that satisfies what it asks, and the
test lock must run the very versions the image runs."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.paths import ROOT

_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def pins(name: str) -> dict[str, str]:
    """{canonical name: version} of a lock file, each pin checked to carry hashes."""
    found: dict[str, str] = {}
    lines = (ROOT / name).read_text().splitlines()
    for i, line in enumerate(lines):
        if (match := _PIN.match(line)) is None:
            continue
        assert lines[i + 1].strip().startswith("--hash=sha256:"), f"{line}: no hash"
        found[canonicalize_name(match.group(1).split("[")[0])] = match.group(2)
    return found


def _declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    items = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(item) for item in items]


def test_every_dependency_is_pinned_with_hashes_within_its_declared_range() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    for requirement, locked in [(r, runtime) for r in _declared()] + [
        (r, test) for r in _declared("test")
    ]:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in the lock: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{requirement}: the lock has {locked[name]}: run make lock"
        )


def test_tests_run_the_versions_the_image_runs() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {name: test.get(name) for name in runtime} == runtime


def test_every_install_uses_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements-test.lock" in makefile
    assert "-e '.[test]'" not in makefile  # no resolution of open ranges at install time
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile

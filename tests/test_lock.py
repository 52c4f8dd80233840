"""The lock files are what every install uses (Makefile, Dockerfile): they must pin, with
hashes, a version of everything pyproject.toml asks for that satisfies what it asks, and the
test lock must run the very versions the image runs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_the_build_backend_is_locked_and_every_build_uses_it() -> None:
    """No install fetches the newest setuptools behind the locks' back."""
    build = pins("requirements-build.lock")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for item in project["build-system"]["requires"]:
        requirement = Requirement(item)
        name = canonicalize_name(requirement.name)
        assert name in build, f"{item} is not in requirements-build.lock: run make lock"
        assert requirement.specifier.contains(build[name])
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements-build.lock" in makefile
    assert "--no-build-isolation -e ." in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "-r requirements.lock -r requirements-build.lock" in dockerfile
    assert "--no-build-isolation --editable ." in dockerfile


def test_an_install_over_an_older_one_removes_what_the_locks_do_not_pin(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "leftover.py").write_text("")
    info = site / "leftover-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: leftover\nVersion: 1.0\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text(
        "leftover.py,,\nleftover-1.0.dist-info/METADATA,,\nleftover-1.0.dist-info/INSTALLER,,\n"
        "leftover-1.0.dist-info/RECORD,,\n"
    )
    lock = tmp_path / "empty.lock"
    lock.write_text("")
    pruned = subprocess.run(
        [str(python), str(ROOT / ".ci" / "prune_venv.py"), str(lock)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert pruned.returncode == 0, pruned.stderr
    assert "leftover" in pruned.stdout
    assert not (site / "leftover.py").exists() and not info.exists()
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.startswith("pip==") and "leftover" not in listed

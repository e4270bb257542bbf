"""The lock files (issue 19 item 7): requirements.lock (what Attest needs to run) and
requirements-dev.lock (that and the tools of the tests), made from pyproject.toml by `make lock`
and installed by the Makefile with every file's hash checked. Every dependency pyproject.toml
names is pinned in them at a version it allows, the two files agree, the install steps use them,
and what is installed here is what they pin."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

LOCK = REPO / "requirements.lock"
DEV_LOCK = REPO / "requirements-dev.lock"


def pins(path: Path) -> dict[str, tuple[str, Requirement, list[str]]]:
    """name -> (version, the requirement with its marker, its hashes) for each pin of a lock that
    applies here (a universal lock may pin a package twice, under exclusive markers)."""
    logical = re.sub(r"\\\n", " ", path.read_text())  # join continued lines
    found = {}
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        hashes = re.findall(r"--hash=(sha256:[0-9a-f]{64})", line)
        requirement = Requirement(re.sub(r"\s*--hash=\S+", "", line).strip())
        (version,) = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # for another Python or platform
        assert canonicalize_name(requirement.name) not in found, f"{requirement.name} pinned twice here"
        found[canonicalize_name(requirement.name)] = (version, requirement, hashes)
    return found


def declared() -> tuple[list[Requirement], list[Requirement]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    dev = [Requirement(text) for text in project["optional-dependencies"]["dev"]]
    return runtime, dev


def test_every_dependency_is_pinned_with_hashes_at_a_version_pyproject_allows() -> None:
    runtime, dev = declared()
    for lock, wanted in ((LOCK, runtime), (DEV_LOCK, runtime + dev)):
        locked = pins(lock)
        for requirement in wanted:
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{requirement} is not in {lock.name}: run `make lock`"
            version = locked[name][0]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock.name} pins {name}=={version}, which pyproject.toml's {requirement} excludes: "
                "run `make lock`"
            )
        assert all(hashes for _, _, hashes in locked.values()), f"a pin of {lock.name} has no hash"


def test_the_runtime_lock_is_the_dev_lock_cut_down() -> None:
    runtime, dev = pins(LOCK), pins(DEV_LOCK)
    assert set(runtime) < set(dev)
    for name, (version, _, hashes) in runtime.items():
        assert dev[name][0] == version, name
        assert set(hashes) == set(dev[name][2]), name
    assert "pytest" in dev and "pytest" not in runtime  # the tools of the tests stay out of production


def test_what_is_installed_is_what_the_lock_pins() -> None:
    drifted = []
    for name, (version, _, _) in pins(DEV_LOCK).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            drifted.append(f"{name}: locked {version}, installed {installed}")
    assert not drifted, "run `make dev` to install the lock:\n" + "\n".join(drifted)


def test_the_makefile_installs_from_the_locks_and_makes_them_from_pyproject() -> None:
    dry = subprocess.run(
        ["make", "-n", "-B", "-C", str(REPO), "lock"], capture_output=True, text=True, check=True
    ).stdout
    assert "--require-hashes -r requirements.lock" in dry
    assert "--require-hashes -r requirements-dev.lock" in dry
    assert "--no-deps -e ." in dry and "--no-deps -e '.[dev]'" in dry
    compiles = [line for line in dry.splitlines() if "uv pip compile pyproject.toml" in line]
    assert len(compiles) == 2
    assert all("--generate-hashes" in line and "--universal" in line for line in compiles)
    assert "-o requirements-dev.lock" in compiles[0] and "--extra dev" in compiles[0]
    assert "-c requirements-dev.lock -o requirements.lock" in compiles[1]
    # the lock files say how they were made
    for lock in (LOCK, DEV_LOCK):
        assert "uv pip compile pyproject.toml" in lock.read_text().splitlines()[1]

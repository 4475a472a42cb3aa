"""``acc-py-build interactive-lock``: an interactive release resolved against a loopback index
for its base's Python and platform, with the base's numpy as a constraint, never in the lock."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT, build_cache
from servers import Index, package_index

from accpy_builder.interactive.lock import check_lock, read_lock
from accpy_core.errors import ConfigError
from accpy_manifest import get_base, load_manifest

from .test_acc_py import make_wheel

RELEASE = """
interactive:
  - release: "2025.03"
    base: "2023.06"
    status: pro
    packages:
      accpy-lockapp: ""
      accpy-lockdep: "<2"
"""


@pytest.fixture(scope="module")
def index(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """Two versions of a dependency, an app that needs it and numpy, and the base's numpy."""
    with package_index(tmp_path_factory.mktemp("lock-index")) as idx:
        make_wheel(idx.root, "accpy_lockdep", "1.0", {"accpy_lockdep.py": "V = 1\n"})
        make_wheel(idx.root, "accpy_lockdep", "2.0", {"accpy_lockdep.py": "V = 2\n"})
        make_wheel(
            idx.root, "accpy_lockapp", "1.0", {"accpy_lockapp.py": "import accpy_lockdep\n"},
            requires=("accpy_lockdep", "numpy>=1.20"),
        )  # fmt: skip
        (numpy,) = (build_cache() / "wheels").glob("numpy-1.24.3-cp311-*.whl")
        shutil.copy2(numpy, idx.root / numpy.name)
        yield idx


def manifest(tmp_path: Path, release: str = RELEASE) -> Path:
    text = (PROJECT / "versions.yaml").read_text()
    path = tmp_path / "versions.yaml"
    path.write_text(text[: text.index("\ninteractive:")] + "\n" + release)
    return path


def lock(path: Path, index: Index, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "accpy_builder.cli", "interactive-lock", "2025.03",
            "--manifest", str(path), "--index-url", index.url,
            "--cache-dir", str(path.parent / "cache"), "--site-ca", str(index.ca.cert), *extra,
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_lock_pins_versions_and_hashes(index: Index, tmp_path: Path) -> None:
    path = manifest(tmp_path)
    proc = lock(path, index)
    assert proc.returncode == 0, proc.stderr
    locked = read_lock(tmp_path / "interactive" / "2025.03.lock")
    versions = {p.name: p.version for p in locked.packages}
    assert versions == {"accpy-lockapp": "1.0", "accpy-lockdep": "1.0"}  # "<2" holds; no numpy
    dep = next(p for p in locked.packages if p.name == "accpy-lockdep")
    wheel = index.root / "accpy_lockdep-1.0-py3-none-any.whl"
    assert dep.hashes == (f"sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}",)
    assert (locked.base, locked.python) == (
        "2023.06",
        get_base(load_manifest(path), "2023.06").python,
    )
    m = load_manifest(path)
    check_lock(locked, m.interactive[0], get_base(m, "2023.06"))


def test_the_lock_is_checked_against_versions_yaml(index: Index, tmp_path: Path) -> None:
    path = manifest(tmp_path)
    assert lock(path, index).returncode == 0
    lock_file = tmp_path / "interactive" / "2025.03.lock"
    locked = read_lock(lock_file)
    (tmp_path / "changed").mkdir()
    changed = load_manifest(manifest(tmp_path / "changed", RELEASE.replace('"<2"', '">=2"')))
    with pytest.raises(ConfigError, match="out of date"):
        check_lock(locked, changed.interactive[0], get_base(changed, "2023.06"))
    m = load_manifest(path)
    spec, base = m.interactive[0], get_base(m, "2023.06")
    text = lock_file.read_text()
    lock_file.write_text(text.replace("accpy-lockdep==1.0", "accpy-lockdep==2.0"))
    with pytest.raises(
        ConfigError, match=r"2025\.03\.lock:\d+: accpy-lockdep==2.0 does not meet <2"
    ):
        check_lock(read_lock(lock_file), spec, base)
    lock_file.write_text(text + "numpy==1.24.3 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(ConfigError, match="numpy is the base's and must not be locked"):
        check_lock(read_lock(lock_file), spec, base)
    lock_file.write_text(text.replace("accpy-lockdep==1.0", "accpy-lockdep>=1.0"))
    with pytest.raises(ConfigError, match=r"\.lock:\d+: accpy-lockdep>=1.0 needs an exact =="):
        read_lock(lock_file)


def test_lock_errors_are_one_line(index: Index, tmp_path: Path) -> None:
    path = manifest(tmp_path, RELEASE.replace("accpy-lockapp", "accpy-nosuchthing"))
    proc = lock(path, index)
    assert proc.returncode == 11 and "accpy-nosuchthing" in proc.stderr, proc.stderr
    unknown = subprocess.run(
        [sys.executable, "-m", "accpy_builder.cli", "interactive-lock", "2031.01",
         "--manifest", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unknown.returncode == 2 and "no interactive release 2031.01" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


TWO_RELEASES = """
interactive:
  - release: "2025.03"
    base: "2023.06"
    status: supported
    packages:
      accpy-lockapp: ""
      accpy-lockdep: "<2"
      accpy-lockkeep: ""
  - release: "2025.09"
    base: "2023.06"
    status: pro
    packages:
      accpy-lockdep: ">=2"
      accpy-lockkeep: ""
      accpy-lockextra: ""
"""


def test_diff_lists_exactly_the_changes(index: Index, tmp_path: Path) -> None:
    make_wheel(index.root, "accpy_lockkeep", "1.0", {"accpy_lockkeep.py": ""})
    make_wheel(index.root, "accpy_lockextra", "0.1", {"accpy_lockextra.py": ""})
    path = manifest(tmp_path, TWO_RELEASES)
    for release in ("2025.03", "2025.09"):
        proc = subprocess.run(
            [
                sys.executable, "-m", "accpy_builder.cli", "interactive-lock", release,
                "--manifest", str(path), "--index-url", index.url,
                "--cache-dir", str(tmp_path / "cache"), "--site-ca", str(index.ca.cert),
            ],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr

    def diff(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "accpy_builder.cli", "diff", *args, "--manifest", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    data = json.loads(diff("2025.03", "2025.09", "--format", "json"))
    assert data["added"] == [{"name": "accpy-lockextra", "old": None, "new": "0.1"}]
    assert data["removed"] == [{"name": "accpy-lockapp", "old": "1.0", "new": None}]
    assert data["upgraded"] == [{"name": "accpy-lockdep", "old": "1.0", "new": "2.0"}]
    assert data["downgraded"] == [] and not data["base_changed"]
    assert diff("2025.09", "--format", "json") == diff("2025.03", "2025.09", "--format", "json")
    markdown = diff("2025.09", "--format", "markdown")
    assert markdown.startswith(
        "# Interactive release 2025.09\n\nChanges since interactive release 2025.03."
    )
    assert [line for line in markdown.splitlines() if line.startswith("- ")] == [
        "- accpy-lockextra 0.1", "- accpy-lockapp 1.0", "- accpy-lockdep 1.0 → 2.0",
    ]  # fmt: skip
    text = diff("2025.03", "2025.09")
    assert "Upgraded:\n  accpy-lockdep 1.0 -> 2.0" in text
    bases = diff("base:2023.06", "base:2024.12")
    assert "Python 3.11" in bases and "numpy" in bases

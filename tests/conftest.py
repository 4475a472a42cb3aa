"""Shared fixtures: the machine's own CPython installs, found (never hard-coded)."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


@cache
def local_pythons() -> dict[str, Path]:
    """Map "3.X" to the install prefix of a CPython on this machine (pyenv-built ones first)."""
    found: dict[str, Path] = {}
    roots: list[Path] = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(Path(os.environ["PYENV_ROOT"]))
    if shutil.which("pyenv"):
        out = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            roots.append(Path(out.stdout.strip()))
    for root in roots:
        versions = root / "versions"
        if not versions.is_dir():
            continue
        for prefix in sorted(versions.iterdir()):
            parts = prefix.name.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                continue
            minor = f"{parts[0]}.{parts[1]}"
            if (prefix / "bin" / f"python{minor}").exists():
                found.setdefault(minor, prefix)
    return found


def python_prefix(minor: str) -> Path:
    """The prefix of a local CPython ``minor``, or skip with a reason naming it."""
    prefix = local_pythons().get(minor)
    if prefix is None:
        pytest.skip(f"no CPython {minor} on this machine")
    return prefix


@pytest.fixture(scope="session")
def project_dir() -> Path:
    return PROJECT


BUILT: list[str] = []  # "2023.06 (CPython 3.11.7, adopt)": what the build tests really built


def build_cache() -> Path:
    """The builder's download and wheel cache for tests, kept across runs (gitignored)."""
    path = Path(os.environ.get("ACC_PY_TEST_CACHE", PROJECT / ".cache" / "test-wheels"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_builder(
    *args: str, cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``acc-py-build`` as a user runs it, with the test cache; output captured."""
    import sys

    return subprocess.run(
        [sys.executable, "-m", "accpy_builder.cli", *args],
        cwd=cwd or PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if BUILT:
        terminalreporter.section("bases built by the tests")
        for line in BUILT:
            terminalreporter.write_line(line)


def builder_dirs(tmp: Path, cache: Path | None = None) -> list[str]:
    """The cache, work and dist options of a test build under ``tmp``."""
    return [
        *("--cache-dir", str(cache or build_cache())),
        *("--work-dir", str(tmp / "build"), "--dist-dir", str(tmp / "dist")),
    ]


def untar(tarball: Path, dest: Path) -> Path:
    """Unpack a base tarball with GNU tar into ``dest``; return the base's top directory."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "xf", str(tarball), "-C", str(dest)], check=True)
    (top,) = dest.iterdir()
    return top


def in_base(
    base: Path, body: str, home: Path, shell: str = "bash"
) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in ``shell`` after sourcing ``base``/setup.sh, from /, with a user's minimal
    environment (no PIP_* or PYTHON* variables of this machine)."""
    exe = shutil.which(shell)
    assert exe, f"{shell} is not installed: `make test-deps` installs it"
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    script = f'cd /\n. "{base}/setup.sh"\n{body}\n'
    return subprocess.run(
        [exe, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )

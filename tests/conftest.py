"""Shared fixtures: the machine's own CPython installs, found (never hard-coded), and the bases
built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from servers import Index, package_index

PROJECT = Path(__file__).resolve().parent.parent


#: Every CPython the suite needs, by minor version: the one place that names them. The bases'
#: interpreters (2020.11: 3.7, 2021.12: 3.9, 2023.06: 3.11, 2024.12: 3.13) and every Python that
#: what ships inside a base (accpy_core, the installer, acc-py, the usage hook) runs on. A missing
#: one FAILS the tests that need it (`pyenv install 3.X` fixes it); nothing is skipped.
REQUIRED_PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


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
    """The prefix of the local CPython ``minor``; a missing one fails the test, naming it."""
    assert minor in REQUIRED_PYTHONS, f"add {minor} to conftest.REQUIRED_PYTHONS first"
    prefix = local_pythons().get(minor)
    if prefix is None:
        found = ", ".join(sorted(local_pythons())) or "none"
        pytest.fail(
            f"the tests need CPython {minor} and this machine has none (found: {found}); "
            f"install it, e.g. `pyenv install {minor}`",
            pytrace=False,
        )
    return prefix


def python_exe(minor: str) -> Path:
    """``bin/python3.X`` of the local CPython ``minor`` (see python_prefix)."""
    return python_prefix(minor) / "bin" / f"python{minor}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say at once, not test by test, which required interpreter is missing."""
    missing = [m for m in REQUIRED_PYTHONS if m not in local_pythons()]
    if missing:
        session.config.issue_config_time_warning(
            pytest.PytestWarning(
                f"CPython {', '.join(missing)} missing: the tests that need them will fail"
            ),
            stacklevel=2,
        )


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


BASE_VERSION = "2023.06"
#: Baked into the test base; nothing listens there (the usage tests override it at run time).
TEST_COLLECTOR = "127.0.0.1:9"


def make_base(work: Path, index_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`make base` exactly as the README shows it: 2023.06, adopting the interpreter that runs
    the tests, PLATFORM=auto; into ``work``/build and ``work``/dist."""
    import sys

    return subprocess.run(
        [
            *("make", "--no-print-directory", "-C", str(PROJECT), "base"),
            *(f"VERSION={BASE_VERSION}", f"INTERPRETER={sys.base_prefix}", "PLATFORM=auto"),
            *(f"INDEX_URL={index_url}", f"USAGE_COLLECTOR={TEST_COLLECTOR}"),
            *(f"CACHE_DIR={build_cache()}", f"WORK_DIR={work / 'build'}"),
            *(f"DIST_DIR={work / 'dist'}", *extra),
        ],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def site_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """The site's package index, for the whole session: pypiserver on 127.0.0.1, which takes
    uploads with the password (servers.package_index)."""
    with package_index(tmp_path_factory.mktemp("site-index")) as index:
        yield index


@pytest.fixture(scope="session")
def base_dist(site_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/ of one 2023.06 base built once per session (pip.conf points at ``site_index``).

    Tests that use the base unpack it themselves (``untar``) and never modify this directory.
    """
    import sys

    work = tmp_path_factory.mktemp("base")
    proc = make_base(work, site_index.url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    BUILT.append(f"{BASE_VERSION} (CPython {sys.version.split()[0]}, adopted, make base)")
    return work / "dist"


def build_with(
    work: Path, version: str, minor: str, index_url: str, *, patch: int | None = None
) -> Path:
    """dist/ of a base ``version`` adopted from the local CPython ``minor`` (PLATFORM=auto);
    ``patch``: built as that patch release (a manifest with ``patch: N`` for that version)."""
    manifest = PROJECT / "versions.yaml"
    if patch is not None:
        text = manifest.read_text()
        entry = f'  - version: "{version}"\n'
        assert entry in text, f"{version} is not in versions.yaml"
        manifest = work / "versions.yaml"
        manifest.write_text(text.replace(entry, f"{entry}    patch: {patch}\n"))
    proc = run_builder(
        "base", version, "--manifest", str(manifest), "--interpreter", str(python_prefix(minor)),
        "--platform", "auto", "--index-url", index_url, "--usage-collector", TEST_COLLECTOR,
        *builder_dirs(work),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    BUILT.append(f"{version}{f'.{patch}' if patch else ''} (CPython {minor}, adopted)")
    return work / "dist"


@pytest.fixture(scope="session")
def base_dist_2412(site_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/ of a 2024.12 base (CPython 3.13), built once per session: another version, with
    another Python, beside 2023.06."""
    return build_with(tmp_path_factory.mktemp("base-2412"), "2024.12", "3.13", site_index.url)


@pytest.fixture(scope="session")
def base_dist_p2(site_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/ of 2023.06 patch release 2, built once per session."""
    return build_with(
        tmp_path_factory.mktemp("base-p2"), BASE_VERSION, "3.11", site_index.url, patch=2
    )

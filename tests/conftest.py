"""Shared fixtures: the machine's own CPython installs, found (never hard-coded), the site's
index and certificate authority, and the bases built once per test run.

A test run may have several processes (pytest-xdist workers). What they share lives in one
directory, ``$ACC_PY_TEST_SHARED``, made by the first process (the controller) before any
worker starts: the suite's private CA, the site index (started by the controller, so that it
outlives every worker, and stopped with it), and the bases, each built by the first worker that
needs it while the others wait for it (:func:`shared_build`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Generator, Iterator
from functools import cache
from pathlib import Path

import pytest
from servers import Index, TestCA, make_ca, package_index, suite_ca

PROJECT = Path(__file__).resolve().parent.parent
UNIT = PROJECT / "tests" / "unit"

#: The variables by which this machine points pip, requests and OpenSSL at its own settings and
#: bundle (a build host's, not a console's: a console's bundle holds the site's CA, this one
#: does not hold the suite's). They leave the tests' environment, so that what runs as a user
#: runs as on a console; the builder gets them back, and more (:func:`build_host_env`).
_HOST_ONLY = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
for _name in [n for n in os.environ if n.startswith("PIP_") or n in _HOST_ONLY]:
    del os.environ[_name]


def build_host_env() -> dict[str, str]:
    """The environment of the builder's runs: the tests' plus what a build host may set for
    every process, pointing pip and requests at the machine's bundle (which lacks the site's
    CA) and pip at other indexes. The builder must trust the site's CA all the same."""
    import ssl

    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    return {
        **os.environ,
        **dict.fromkeys(("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT"), bundle),
        "PIP_FIND_LINKS": "/nonexistent/wheels",
        "PIP_EXTRA_INDEX_URL": "https://127.0.0.1:9/simple/",
    }


#: Every CPython the suite needs, by minor version: the one place that names them. The bases'
#: interpreters (2020.11: 3.7, 2021.12: 3.9, 2023.06: 3.11, 2024.12: 3.13) and every Python that
#: what ships inside a base (accpy_core, the installer, acc-py, the usage hook) runs on. A missing
#: one FAILS the tests that need it (`pyenv install 3.X` fixes it); nothing is skipped.
REQUIRED_PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")


def every_python(minors: tuple[str, ...] = REQUIRED_PYTHONS) -> list[object]:
    """``minors`` as the parameters of a unit test that runs on each of them: the oldest and the
    newest run in the unit tier (`make check`), the ones between them are marked
    ``between_pythons`` and run with the integration tier (`make test`), so that the developer's
    loop stays fast and the whole suite still runs everything on every Python."""
    ends = {minors[0], minors[-1]}
    return [m if m in ends else pytest.param(m, marks=pytest.mark.between_pythons) for m in minors]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the unit tier's tests ``unit`` (`make test` selects the integration tier and what
    the unit tier left for it: ``-m "not unit or between_pythons or test_deps"``; ``test_deps``
    marks a unit test that needs a tool only `make test-deps` installs, as shellcheck)."""
    for item in items:
        if item.path.is_relative_to(UNIT):
            item.add_marker(pytest.mark.unit)


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


def shared_dir() -> Path:
    """The directory every process of this test run shares (see the module docstring)."""
    return Path(os.environ["ACC_PY_TEST_SHARED"])


def _unit_tier_only(config: pytest.Config) -> bool:
    """Only tests/unit selected: nothing needs the site index."""
    args = [a.split("::")[0] for a in config.args] or [str(PROJECT / "tests")]
    return all(Path(a).resolve().is_relative_to(UNIT) for a in args)


def pytest_configure(config: pytest.Config) -> None:
    """In the controller (or a run without workers): the shared directory, the CA and, unless
    only the unit tier runs, the site index for the whole run."""
    if hasattr(config, "workerinput"):
        return  # a worker: the controller has made all of it, and its environment is ours
    shared = Path(tempfile.mkdtemp(prefix="acc-py-tests-"))
    os.environ["ACC_PY_TEST_SHARED"] = str(shared)
    ca = make_ca(shared / "ca")
    stack = contextlib.ExitStack()
    config.stash[_STACK] = stack
    if not _unit_tier_only(config):
        index = stack.enter_context(package_index(shared / "site-index" / "root", ca=ca))
        (shared / "site-index.json").write_text(
            json.dumps({"url": index.url, "upload_url": index.upload_url, "log": str(index.log)})
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_STACK, None)
    if stack is not None:
        stack.close()
        shutil.rmtree(shared_dir(), ignore_errors=True)


_STACK = pytest.StashKey[contextlib.ExitStack]()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shared_build(key: str, build: Callable[[Path], Path]) -> Path:
    """``build(work)`` once per test run, whichever worker asks first; the others wait for it
    and get the same result (a ``dist/`` directory, never modified by the tests)."""
    builds = shared_dir() / "builds"
    work = builds / key
    with _locked(builds / f"{key}.lock"):
        done = work / ".done"
        if done.is_file():
            return Path(done.read_text())
        if work.exists():
            shutil.rmtree(work)  # what a failed attempt left
        work.mkdir(parents=True)
        dist = build(work)
        for left in work.iterdir():  # the build's work tree: only dist/ is shared
            if left != dist and not dist.is_relative_to(left):
                shutil.rmtree(left) if left.is_dir() else left.unlink()
        done.write_text(str(dist))
    return dist


# Disk: a whole run makes hundreds of bases, venvs and pipelines, more than a CI machine's disk
# holds at once. A passing test's tmp_path goes when it ends (pyproject.toml:
# tmp_path_retention_policy), and what a fixture made with tmp_path_factory.mktemp goes when
# that fixture is torn down (its module's end, or the session's). A failed test's stays.
_SETTING_UP: list[pytest.FixtureDef[object]] = []


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    _SETTING_UP.append(fixturedef)
    try:
        return (yield)
    finally:
        _SETTING_UP.pop()


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[object]) -> None:
    made = getattr(fixturedef, "_acc_py_made", None)
    if made:
        _note_free(made[0])
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
        made.clear()


def _note_free(path: Path) -> None:
    """Note the free disk space (before a fixture's directories go), for the run's summary."""
    with contextlib.suppress(OSError, KeyError):
        free = shutil.disk_usage(path).free
        with (shared_dir() / "disk-free.txt").open("a") as fh:
            fh.write(f"{free}\n")


@pytest.fixture(scope="session", autouse=True)
def _fixture_dirs_go_with_their_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    mktemp = tmp_path_factory.mktemp

    def tracked(basename: str, numbered: bool = True) -> Path:
        path = mktemp(basename, numbered)
        if _SETTING_UP and _SETTING_UP[-1].scope != "function":
            owner = _SETTING_UP[-1]
            if not hasattr(owner, "_acc_py_made"):
                owner._acc_py_made = []  # type: ignore[attr-defined]
            owner._acc_py_made.append(path)  # type: ignore[attr-defined]
        return path

    tmp_path_factory.mktemp = tracked  # type: ignore[method-assign]
    yield
    tmp_path_factory.mktemp = mktemp  # type: ignore[method-assign]


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


def built(what: str) -> None:
    """Note a base the tests really built ("2023.06 (CPython 3.11.7, adopted)"), for the list
    at the end of the run."""
    listed = shared_dir() / "builds" / "built.txt"
    with _locked(listed.with_suffix(".lock")), listed.open("a") as fh:
        fh.write(what + "\n")


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
        env=build_host_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    free = shared_dir() / "disk-free.txt"
    if free.is_file():
        lowest = min(int(n) for n in free.read_text().split())
        terminalreporter.write_line(f"the lowest free disk space seen: {lowest / 2**30:.1f} GiB")
    for title, path in (
        ("bases built by the tests", shared_dir() / "builds" / "built.txt"),
        ("the CI corpus' pipelines", shared_dir() / "ci-corpus-times.txt"),
    ):
        lines = path.read_text().splitlines() if path.is_file() else []
        if lines:
            terminalreporter.section(title)
            for line in lines:
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


def base_tarball(path: Path, top: str, metadata: bytes) -> Path:
    """A tiny base tarball at ``path``: ``top/ACC-PY.json`` (``metadata``), its
    ``ACC-PY.RECORD`` and one file, as the builder orders them (the metadata first)."""
    import hashlib
    import io
    import tarfile

    record = f"ACC-PY.json,sha256={hashlib.sha256(metadata).hexdigest()},{len(metadata)}\n"
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("ACC-PY.json", metadata), ("ACC-PY.RECORD", record.encode()),
                           ("bin/python", b"#!/bin/sh\n")):  # fmt: skip
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


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
    the tests, PLATFORM=auto; into ``work``/build and ``work``/dist. The base trusts the
    suite's CA, as a site's base trusts the site's (SITE_CA=)."""
    import sys

    return subprocess.run(
        [
            *("make", "--no-print-directory", "-C", str(PROJECT), "base"),
            *(f"VERSION={BASE_VERSION}", f"INTERPRETER={sys.base_prefix}", "PLATFORM=auto"),
            *(f"INDEX_URL={index_url}", f"USAGE_COLLECTOR={TEST_COLLECTOR}"),
            f"SITE_CA={suite_ca().cert}",
            *(f"CACHE_DIR={build_cache()}", f"WORK_DIR={work / 'build'}"),
            *(f"DIST_DIR={work / 'dist'}", *extra),
        ],
        capture_output=True, text=True, timeout=900, check=False, env=build_host_env(),
    )  # fmt: skip


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    """The suite's private CA: the site index's certificate is issued by it."""
    return suite_ca()


@pytest.fixture(scope="session")
def site_index() -> Index:
    """The site's package index, for the whole run, shared by every worker: pypiserver on
    127.0.0.1 behind https with the suite's CA, which takes uploads with the password
    (servers.package_index); started by the controller (:func:`pytest_configure`)."""
    info = shared_dir() / "site-index.json"
    assert info.is_file(), "the site index was not started (only tests/unit were selected?)"
    data = json.loads(info.read_text())
    return Index(
        data["url"], data["upload_url"], shared_dir() / "site-index" / "root",
        Path(data["log"]), suite_ca(),
    )  # fmt: skip


@pytest.fixture(scope="session")
def base_dist(site_index: Index) -> Path:
    """dist/ of one 2023.06 base built once per run (pip.conf points at ``site_index``).

    Tests that use the base unpack it themselves (``untar``) and never modify this directory.
    """
    import sys

    def build(work: Path) -> Path:
        proc = make_base(work, site_index.url)
        assert proc.returncode == 0, proc.stderr[-3000:]
        built(f"{BASE_VERSION} (CPython {sys.version.split()[0]}, adopted, make base)")
        return work / "dist"

    return shared_build("base-2023.06", build)


def build_with(
    work: Path, version: str, minor: str, index_url: str, *, patch: int | None = None
) -> Path:
    """dist/ of a base ``version`` adopted from the local CPython ``minor`` (PLATFORM=auto),
    trusting the suite's CA; ``patch``: built as that patch release (a manifest with
    ``patch: N`` for that version)."""
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
        "--site-ca", str(suite_ca().cert), *builder_dirs(work),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    built(f"{version}{f'.{patch}' if patch else ''} (CPython {minor}, adopted)")
    return work / "dist"


def shared_build_with(
    key: str, version: str, minor: str, index: Index, *, patch: int | None = None
) -> Path:
    """:func:`build_with` once per run (:func:`shared_build`)."""
    return shared_build(key, lambda work: build_with(work, version, minor, index.url, patch=patch))


@pytest.fixture(scope="session")
def base_dist_2412(site_index: Index) -> Path:
    """dist/ of a 2024.12 base (CPython 3.13), built once per run: another version, with
    another Python, beside 2023.06."""
    return shared_build_with("base-2024.12", "2024.12", "3.13", site_index)


@pytest.fixture(scope="session")
def base_dist_p2(site_index: Index) -> Path:
    """dist/ of 2023.06 patch release 2, built once per run."""
    return shared_build_with("base-2023.06.2", BASE_VERSION, "3.11", site_index, patch=2)

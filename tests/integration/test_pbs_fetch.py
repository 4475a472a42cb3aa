"""The pbs source end to end: PBS-layout mirrors built from this machine's CPythons, served from
``file://`` and from a real HTTP server on loopback."""

from __future__ import annotations

import functools
import io
import logging
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import python_prefix
from pbs_mirror import make_pbs_mirror

from accpy_builder.download import fetch, sha256_file
from accpy_builder.interpreter.pbs import obtain_pbs
from accpy_core.errors import ArchiveError, ChecksumError, SourceError
from accpy_core.proc import clean_env
from accpy_manifest import PBS_GITHUB, PbsAsset


def _pick(minor: str) -> tuple[str, Path]:
    return minor, python_prefix(minor)


def _full_version(prefix: Path, minor: str) -> str:
    out = subprocess.run(
        [
            prefix / "bin" / f"python{minor}",
            "-c",
            "import platform; print(platform.python_version())",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    return out.stdout.strip()


@dataclass(frozen=True)
class Built:
    minor: str
    asset: PbsAsset


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pbs-mirror")


@pytest.fixture(scope="module")
def install_only(mirror: Path) -> Built:
    minor, prefix = _pick("3.11")
    asset = make_pbs_mirror(
        mirror, prefix, flavor="install_only", python_version=_full_version(prefix, minor)
    )
    return Built(minor, asset)


@pytest.fixture(scope="module")
def full(mirror: Path) -> Built:
    minor, prefix = _pick("3.7")
    asset = make_pbs_mirror(
        mirror, prefix, flavor="full", python_version=_full_version(prefix, minor)
    )
    return Built(minor, asset)


def _runs(prefix: Path, minor: str) -> str:
    exe = prefix / "bin" / f"python{minor}"
    code = "import sys; print(sys.prefix)"
    out = subprocess.run(
        [exe, "-c", code], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# -- file:// mirror -------------------------------------------------------------------------------


def test_install_only_layout_from_file_url(
    install_only: Built, mirror: Path, tmp_path: Path
) -> None:
    tree = obtain_pbs(install_only.asset, mirror.as_uri(), tmp_path / "cache", tmp_path / "dest")
    assert tree.prefix == tmp_path / "dest" / "python"
    assert tree.python_json is None
    assert tree.source_url == f"{mirror.as_uri()}/20990101/{install_only.asset.asset}"
    assert tree.sha256 == install_only.asset.sha256
    assert not list(tree.prefix.rglob("__pycache__"))  # PBS ships none; neither does the fixture
    assert (tree.prefix / "lib" / f"python{install_only.minor}" / "site-packages" / "pip").is_dir()
    assert _runs(tree.prefix, install_only.minor) == str(tree.prefix)
    cached = tmp_path / "cache" / install_only.asset.sha256 / install_only.asset.asset
    assert sha256_file(cached) == install_only.asset.sha256


def test_full_layout_from_plain_directory(full: Built, mirror: Path, tmp_path: Path) -> None:
    tree = obtain_pbs(full.asset, str(mirror), tmp_path / "cache", tmp_path / "dest")
    assert tree.prefix == tmp_path / "dest" / "python" / "install"
    assert tree.python_json is not None
    assert tree.python_json["python_major_minor_version"] == full.minor
    assert (tree.prefix.parent / tree.python_json["python_exe"]).is_file()
    assert _runs(tree.prefix, full.minor) == str(tree.prefix)


def test_make_pbs_mirror_reuses_its_archive(install_only: Built, mirror: Path) -> None:
    archive = mirror / install_only.asset.tag / install_only.asset.asset
    before = archive.stat().st_mtime_ns
    minor, prefix = _pick(install_only.minor)
    again = make_pbs_mirror(
        mirror, prefix, flavor="install_only", python_version=_full_version(prefix, minor)
    )
    assert again == install_only.asset
    assert archive.stat().st_mtime_ns == before


def test_checksum_mismatch_leaves_nothing(
    install_only: Built, mirror: Path, tmp_path: Path
) -> None:
    wrong = "0" * 64
    asset = PbsAsset(install_only.asset.tag, install_only.asset.asset, wrong)
    with pytest.raises(ChecksumError) as exc_info:
        obtain_pbs(asset, mirror.as_uri(), tmp_path / "cache", tmp_path / "dest")
    message = str(exc_info.value)
    assert "\n" not in message
    assert wrong in message and install_only.asset.sha256 in message
    assert asset.url(mirror.as_uri()) in message and "re-pin" in message
    left = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert all(p.suffix == ".lock" for p in left), left
    assert not (tmp_path / "dest").exists()


def test_missing_asset_on_file_mirror(mirror: Path, tmp_path: Path) -> None:
    asset = PbsAsset("20990101", "cpython-3.99.0+20990101-x-install_only.tar.gz", "1" * 64)
    with pytest.raises(SourceError, match=r"not on this mirror.*PBS_MIRROR="):
        obtain_pbs(asset, mirror.as_uri(), tmp_path / "cache", tmp_path / "dest")


def test_unknown_layout_says_what_it_found(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cpython/README")
        tar.addfile(info, io.BytesIO(b""))
    asset_file = tmp_path / "m" / "1" / "cpython-3.11.0+1-x-install_only.tar.gz"
    asset_file.parent.mkdir(parents=True)
    asset_file.write_bytes(buf.getvalue())
    asset = PbsAsset("1", asset_file.name, sha256_file(asset_file))
    with pytest.raises(ArchiveError, match=r"not a python-build-standalone layout.*cpython/"):
        obtain_pbs(asset, str(tmp_path / "m"), tmp_path / "cache", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_dest_must_be_empty(install_only: Built, mirror: Path, tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "precious").write_text("keep")
    with pytest.raises(ArchiveError, match="not empty"):
        obtain_pbs(install_only.asset, str(mirror), tmp_path / "cache", tmp_path / "dest")
    assert (tmp_path / "dest" / "precious").read_text() == "keep"


# -- unreachable mirrors --------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_mirror_says_the_way_out(install_only: Built, tmp_path: Path) -> None:
    mirror_url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(SourceError) as exc_info:  # how fast: benchmarks/bench_failures.py
        obtain_pbs(install_only.asset, mirror_url, tmp_path / "cache", tmp_path / "dest")
    message = str(exc_info.value)
    assert install_only.asset.url(mirror_url) in message
    assert "PBS_MIRROR=" in message and "INTERPRETER=" in message


def test_default_github_fails_fast(install_only: Built, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as exc_info:  # how fast: benchmarks/bench_failures.py
        obtain_pbs(install_only.asset, PBS_GITHUB, tmp_path / "cache", tmp_path / "dest")
    assert "github.com" in str(exc_info.value) and "PBS_MIRROR=" in str(exc_info.value)


# -- a real HTTP mirror on loopback ---------------------------------------------------------------


@dataclass
class Server:
    root: Path
    url: str = ""
    requests: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered first, one per request
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(SimpleHTTPRequestHandler):
    state: Server

    def do_GET(self) -> None:
        with self.state.lock:
            self.state.requests.append(self.path)
            status = self.state.statuses.pop(0) if self.state.statuses else None
        time.sleep(self.state.delay)
        if status is not None:
            self.send_error(status)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(mirror: Path) -> Iterator[Server]:
    state = Server(root=mirror)
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(mirror)))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def payload(mirror: Path) -> PbsAsset:
    """A small file on the mirror, for the protocol tests."""
    path = mirror / "small" / "payload.tar.gz"
    path.parent.mkdir(exist_ok=True)
    if not path.exists():
        path.write_bytes(bytes(range(256)) * 4096)
    return PbsAsset("small", path.name, sha256_file(path))


def test_http_mirror_and_cache_hit(
    install_only: Built, server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    tree = obtain_pbs(install_only.asset, server.url, tmp_path / "cache", tmp_path / "a")
    assert server.requests == [f"/20990101/{install_only.asset.asset}"]
    assert _runs(tree.prefix, install_only.minor) == str(tree.prefix)
    assert any("downloading" in r.getMessage() for r in caplog.records)  # not a TTY: log lines
    again = obtain_pbs(install_only.asset, server.url, tmp_path / "cache", tmp_path / "b")
    assert len(server.requests) == 1  # the cache answered
    assert again.prefix == tmp_path / "b" / "python"


def test_http_404_is_not_retried(payload: PbsAsset, server: Server, tmp_path: Path) -> None:
    missing = PbsAsset("small", "nothere.tar.gz", payload.sha256)
    with pytest.raises(SourceError, match=r"404.*not on this mirror"):
        fetch(missing.url(server.url), missing.sha256, tmp_path)
    assert len(server.requests) == 1


def test_http_403_is_not_retried(payload: PbsAsset, server: Server, tmp_path: Path) -> None:
    server.statuses = [403]
    with pytest.raises(SourceError, match="403"):
        fetch(payload.url(server.url), payload.sha256, tmp_path)
    assert len(server.requests) == 1


def test_http_500_then_success(payload: PbsAsset, server: Server, tmp_path: Path) -> None:
    server.statuses = [500, 503]
    path = fetch(payload.url(server.url), payload.sha256, tmp_path)
    assert len(server.requests) == 3
    assert sha256_file(path) == payload.sha256
    assert path == tmp_path / payload.sha256 / payload.asset


def test_http_500_gives_up(payload: PbsAsset, server: Server, tmp_path: Path) -> None:
    server.statuses = [500, 500, 500, 500]
    with pytest.raises(SourceError, match=r"HTTP 500.*3 attempts"):
        fetch(payload.url(server.url), payload.sha256, tmp_path)
    assert len(server.requests) == 3
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_damaged_cache_entry_is_fetched_again(
    payload: PbsAsset, server: Server, tmp_path: Path
) -> None:
    path = fetch(payload.url(server.url), payload.sha256, tmp_path)
    path.write_bytes(b"bit rot")
    again = fetch(payload.url(server.url), payload.sha256, tmp_path)
    assert len(server.requests) == 2
    assert sha256_file(again) == payload.sha256


def test_concurrent_fetches_download_once(
    payload: PbsAsset, server: Server, tmp_path: Path
) -> None:
    server.delay = 0.5  # both threads are inside fetch() while the first download runs
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(fetch(payload.url(server.url), payload.sha256, tmp_path))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert len(results) == 3 and len(set(results)) == 1
    assert len(server.requests) == 1


def test_two_processes_download_once(payload: PbsAsset, server: Server, tmp_path: Path) -> None:
    """Two builders (separate processes) share the cache: the second waits, then hits."""
    server.delay = 0.5
    code = (
        "import sys; from pathlib import Path; from accpy_builder.download import fetch; "
        "print(fetch(sys.argv[1], sys.argv[2], Path(sys.argv[3])))"
    )
    argv = [sys.executable, "-c", code, payload.url(server.url), payload.sha256, str(tmp_path)]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert {out.strip() for out, _ in outs} == {str(tmp_path / payload.sha256 / payload.asset)}
    assert len(server.requests) == 1


class _FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_tty(
    payload: PbsAsset, mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeTTY()
    monkeypatch.setattr(sys, "stderr", fake)
    fetch(payload.url(mirror.as_uri()), payload.sha256, tmp_path, progress=True)
    line = fake.getvalue()
    assert line.startswith("\r") and line.endswith("\n")
    assert "100.0%" in line and "MB/s" in line and payload.asset in line

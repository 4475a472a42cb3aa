"""Real servers on loopback for the tests: a PyPI-compatible index that pip installs from and
twine uploads to (pypiserver), git over HTTP as a GitLab serves it, an OCI registry.

Every server listens on 127.0.0.1 only, on a free port, and stops when its context ends or
after ``lifetime`` seconds at the latest, whichever comes first.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name

#: pypiserver's log of each request: <LocalRequest: GET http://127.0.0.1:PORT/simple/x/>
_REQUEST = re.compile(r"<LocalRequest: [A-Z]+ https?://[^/\s]+(/\S*)>")
#: the credentials that may upload to every test index (pypiserver's -a update)
INDEX_USER = "acc-py-ci"
INDEX_PASSWORD = "loopback-only-secret"


@dataclass
class Index:
    """A running pypiserver: ``url`` is its PEP 503 index, ``upload_url`` what twine uploads to
    (with ``user``/``password``); files dropped into ``root`` are served at once."""

    url: str  # http://127.0.0.1:PORT/simple/
    upload_url: str  # http://127.0.0.1:PORT/
    root: Path
    log: Path
    user: str = INDEX_USER
    password: str = INDEX_PASSWORD

    @property
    def requests(self) -> list[str]:
        """The paths asked so far, oldest first (from the server's access log)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return _REQUEST.findall(text)

    def files(self, project: str = "") -> list[str]:
        """The file names the index holds (of ``project``'s, normalized, when given)."""
        names = sorted(p.name for p in self.root.iterdir() if p.is_file())
        if not project:
            return names
        want = canonicalize_name(project)
        return [n for n in names if canonicalize_name(n.split("-")[0]) == want]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            assert proc.poll() is None, f"{what} exited: {log.read_text()[-2000:]}"
            time.sleep(0.05)
    raise AssertionError(f"{what} did not answer on {url}")


@contextmanager
def package_index(root: Path, lifetime: float = 3600) -> Iterator[Index]:
    """A real PyPI-compatible index serving ``root``: pypiserver (on waitress) on 127.0.0.1,
    uploads only with ``INDEX_USER``/``INDEX_PASSWORD``, no fallback to PyPI; killed when the
    context ends or after ``lifetime`` seconds."""
    import base64
    import hashlib
    import sys

    root.mkdir(parents=True, exist_ok=True)
    state = root.parent / f"{root.name}.pypiserver"
    state.mkdir(exist_ok=True)
    # Apache's {SHA} form, which pypiserver (passlib) checks
    digest = base64.b64encode(hashlib.sha1(INDEX_PASSWORD.encode()).digest()).decode()
    (state / "htpasswd").write_text(f"{INDEX_USER}:{{SHA}}{digest}\n")
    port = free_port()
    log = state / "access.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
            "-P", str(state / "htpasswd"), "-a", "update", "--disable-fallback",
            "--backend", "simple-dir", "-v", "--log-stream", "none",
            "--log-file", str(log), str(root),
        ],
        stdout=subprocess.DEVNULL, stderr=(state / "server.err").open("wb"),
    )  # fmt: skip
    timer = threading.Timer(lifetime, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        _wait_http(f"http://127.0.0.1:{port}/simple/", proc, state / "server.err", "pypiserver")
        yield Index(f"http://127.0.0.1:{port}/simple/", f"http://127.0.0.1:{port}/", root, log)
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


@dataclass
class GitServer:
    """Git's smart HTTP protocol on 127.0.0.1 (``git http-backend``), as a GitLab instance serves
    its projects: ``url``/<group>/<project>.git."""

    url: str  # http://127.0.0.1:PORT
    root: Path  # <root>/<group>/<project>.git are bare repositories


class _GitHandler(BaseHTTPRequestHandler):
    root: Path

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _backend


@contextmanager
def git_server(root: Path, lifetime: float = 1800) -> Iterator[GitServer]:
    """Serve the bare repositories under ``root`` over git's smart HTTP on 127.0.0.1 (clones,
    shallow and partial ones included)."""
    root.mkdir(parents=True, exist_ok=True)
    handler = type("GitHandler", (_GitHandler,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        yield GitServer(f"http://127.0.0.1:{server.server_address[1]}", root)
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()


@dataclass
class Registry:
    host: str  # 127.0.0.1:PORT, as image references name it
    root: Path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def container_registry(root: Path, lifetime: float = 1800) -> Iterator[Registry]:
    """A real OCI registry (Debian's docker-registry, the Distribution project's) on 127.0.0.1,
    storing under ``root``; killed when the context ends or after ``lifetime`` seconds."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    log = (root / "registry.log").open("w")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log)
    timer = threading.Timer(lifetime, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        _wait_http(f"http://127.0.0.1:{port}/v2/", proc, root / "registry.log", "docker-registry")
        yield Registry(f"127.0.0.1:{port}", root)
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
        log.close()

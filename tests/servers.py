"""Real servers on loopback for the tests: a PEP 503 package index that pip can install from.

Every server listens on 127.0.0.1 only, on a free port, and stops when its context ends or
after ``lifetime`` seconds at the latest, whichever comes first.
"""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_NORMALIZE = re.compile(r"[-_.]+")


def normalize(name: str) -> str:
    return _NORMALIZE.sub("-", name).lower()


def _project_of(filename: str) -> str:
    # wheel: name-version-...; sdist: name-version.tar.gz
    return normalize(filename.split("-", maxsplit=1)[0])


class _IndexHandler(SimpleHTTPRequestHandler):
    """``/simple/`` and ``/simple/<project>/`` pages (with sha256 fragments), ``/files/<name>``."""

    root: Path

    def log_message(self, format: str, *args: object) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]

    def _page(self, body: str) -> None:
        data = f"<!DOCTYPE html><html><body>\n{body}</body></html>\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        files = sorted(p for p in self.root.iterdir() if p.is_file())
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if parts == ["simple"]:
            projects = sorted({_project_of(p.name) for p in files})
            self._page("".join(f'<a href="/simple/{p}/">{p}</a><br>\n' for p in projects))
        elif len(parts) == 2 and parts[0] == "simple":
            wanted = normalize(parts[1])
            links = []
            for p in files:
                if _project_of(p.name) == wanted:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                    name = html.escape(p.name)
                    links.append(f'<a href="/files/{name}#sha256={digest}">{name}</a><br>\n')
            if links:
                self._page("".join(links))
            else:
                self.send_error(404)
        elif len(parts) == 2 and parts[0] == "files" and (self.root / parts[1]).is_file():
            self.path = "/" + parts[1]
            super().do_GET()
        else:
            self.send_error(404)


@dataclass
class Index:
    url: str  # http://127.0.0.1:PORT/simple/
    root: Path  # drop wheels here; they are served at once
    requests: list[str]


@contextmanager
def package_index(root: Path, lifetime: float = 3600) -> Iterator[Index]:
    """Serve the wheels in ``root`` as a PEP 503 index on 127.0.0.1."""
    root.mkdir(parents=True, exist_ok=True)
    handler_class = type("Handler", (_IndexHandler,), {"root": root})  # one per server
    handler = partial(handler_class, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    timer = threading.Timer(lifetime, server.shutdown)
    timer.daemon = True
    timer.start()
    try:
        port = server.server_address[1]
        yield Index(f"http://127.0.0.1:{port}/simple/", root, server.requests)  # type: ignore[attr-defined]
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
    import subprocess
    import time
    import urllib.request

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
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (root / "registry.log").read_text()
                time.sleep(0.05)
        else:
            raise AssertionError("docker-registry did not answer on /v2/")
        yield Registry(f"127.0.0.1:{port}", root)
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()
        log.close()

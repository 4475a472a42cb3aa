"""Real servers on loopback for the tests: a PyPI-compatible index that pip installs from and
twine uploads to (pypiserver, over https behind nginx, with a certificate of the suite's own
private CA, as a site's index is), git over HTTP as a GitLab serves it, an OCI registry.

Every server listens on 127.0.0.1 only, on a free port, and stops when its context ends or
after ``lifetime`` seconds at the latest, whichever comes first.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
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


@dataclass(frozen=True)
class TestCA:
    """The suite's private certificate authority, as a site has its own: it issues the https
    certificates of every test server (for 127.0.0.1 and localhost). Bases are built to trust
    it (``SITE_CA=``, versions.yaml's ``site.ca_certificates``); the tests' own clients are
    given ``cert``. Nothing of this machine trusts it otherwise."""

    cert: Path  # the CA's certificate (PEM)
    server_chain: Path  # the servers' certificate and the CA's (PEM)
    server_key: Path

    def context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.cert))


def make_ca(where: Path) -> TestCA:
    """The CA under ``where`` (made with trustme on the first call, kept after)."""
    ca = TestCA(where / "ca.pem", where / "server-chain.pem", where / "server-key.pem")
    if not ca.server_key.is_file():
        import trustme

        where.mkdir(parents=True, exist_ok=True)
        authority = trustme.CA(organization_name="Acc-Py test site")
        issued = authority.issue_cert("127.0.0.1", "localhost")
        authority.cert_pem.write_to_path(str(ca.cert))
        issued.private_key_pem.write_to_path(str(ca.server_key))
        chain = b"".join(blob.bytes() for blob in issued.cert_chain_pems)
        ca.server_chain.write_bytes(chain)
    return ca


def suite_ca() -> TestCA:
    """The CA of this test run, shared by every worker (conftest makes it, in ``shared/ca``)."""
    shared = os.environ.get("ACC_PY_TEST_SHARED")
    assert shared, "ACC_PY_TEST_SHARED is unset: run the tests with pytest from tests/"
    return make_ca(Path(shared) / "ca")


@contextmanager
def tls_front(backend: str, ca: TestCA, state: Path, lifetime: float = 3600) -> Iterator[int]:
    """nginx on 127.0.0.1 terminating https with ``ca``'s certificate and passing every request
    to ``backend`` (``host:port``, plain http); yields the https port."""
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    temp = "\n".join(
        f"  {kind}_temp_path {state / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                          "uwsgi", "scgi")
    )  # fmt: skip
    conf = state / "nginx.conf"
    conf.write_text(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"pid {state / 'nginx.pid'};\nerror_log {state / 'error.log'} warn;\n"
        "events { worker_connections 512; }\n"
        "http {\n  access_log off;\n" + temp + "\n  client_max_body_size 0;\n"
        "  server {\n"
        f"    listen 127.0.0.1:{port} ssl;\n"
        f"    ssl_certificate {ca.server_chain};\n    ssl_certificate_key {ca.server_key};\n"
        "    location / {\n"
        f"      proxy_pass http://{backend};\n"
        "      proxy_set_header Host $http_host;\n"
        "      proxy_set_header X-Forwarded-Proto https;\n"
        "      proxy_request_buffering off;\n      proxy_read_timeout 600s;\n"
        "    }\n  }\n}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is not installed: `make test-deps` installs it"
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(state), "-e", str(state / "error.log")],
        stdout=subprocess.DEVNULL, stderr=(state / "nginx.err").open("wb"),
    )  # fmt: skip
    timer = threading.Timer(lifetime, proc.kill)
    timer.daemon = True
    timer.start()
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, f"nginx exited: {(state / 'error.log').read_text()}"
            time.sleep(0.02)
        else:
            raise AssertionError(f"nginx did not listen on {port}")
        yield port
    finally:
        timer.cancel()
        proc.kill()
        proc.wait()


@dataclass
class Index:
    """A running pypiserver behind https: ``url`` is its PEP 503 index, ``upload_url`` what
    twine uploads to (with ``user``/``password``); files dropped into ``root`` are served at
    once. Its certificate is ``ca``'s (the suite's private CA)."""

    url: str  # https://localhost:PORT/simple/ (nginx listens on 127.0.0.1)
    upload_url: str  # https://localhost:PORT/
    root: Path
    log: Path
    ca: TestCA
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


def _wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, what: str, ca: TestCA | None = None
) -> None:
    context = ca.context() if ca else None
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1, context=context).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            assert proc.poll() is None, f"{what} exited: {log.read_text()[-2000:]}"
            time.sleep(0.05)
    raise AssertionError(f"{what} did not answer on {url}")


@contextmanager
def package_index(root: Path, lifetime: float = 3600, ca: TestCA | None = None) -> Iterator[Index]:
    """A real PyPI-compatible index serving ``root``: pypiserver (on waitress) on 127.0.0.1
    behind nginx's https with a certificate of ``ca`` (default: the suite's), uploads only with
    ``INDEX_USER``/``INDEX_PASSWORD``, no fallback to PyPI; killed when the context ends or after
    ``lifetime`` seconds."""
    import base64
    import hashlib
    import sys

    ca = ca or suite_ca()
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
        with tls_front(f"127.0.0.1:{port}", ca, state / "nginx", lifetime) as https:
            # by name, as a site's index is (pip's truststore refuses a bare IP address)
            url = f"https://localhost:{https}/"
            _wait_http(url + "simple/", proc, state / "server.err", "pypiserver over https", ca)
            yield Index(url + "simple/", url, root, log, ca)
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
def git_server(root: Path, lifetime: float = 3600) -> Iterator[GitServer]:
    """Serve the bare repositories under ``root`` over git's smart HTTP on 127.0.0.1 (clones,
    shallow and partial ones included)."""
    root.mkdir(parents=True, exist_ok=True)
    handler = type("GitHandler", (_GitHandler,), {"root": root})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:  # closed, not only stopped: a late client is refused, never left hanging
        server.shutdown()
        server.server_close()

    timer = threading.Timer(lifetime, stop)
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

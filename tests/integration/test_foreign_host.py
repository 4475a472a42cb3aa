"""A base on hosts that are not the build machine: chroots with one distribution's layout each
(RHEL 9, Debian 12; tests/hosts.py), the base read-only inside, nothing sourced, no variable set.

- TLS: ``ssl.create_default_context()`` loads the host's CA store, in the base, in an
  ``acc-py venv`` and in a ``python -m venv``, and a real TLS handshake with a server whose CA
  only the host's store knows succeeds; a user's ``SSL_CERT_FILE`` still wins.
- terminfo: readline and curses find the host's terminal descriptions.
- Tcl/Tk: ``tkinter.Tcl()`` finds the base's script library, and ``tkinter.Tk()`` opens a window
  on Xvfb, from the base and from a venv.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import untar
from hosts import LAYOUTS, Host, foreign_host

HOST_CA_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    d = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=Acc-Py test CA")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out",
            "server.csr", "-subj", "/CN=127.0.0.1")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "san.ext")  # fmt: skip
    return d


@pytest.fixture(scope="module")
def https_url(pki: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate only the test CA vouches for."""

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"hello over TLS\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def tree(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    (tarball,) = base_dist.glob("acc-py-base-*.tar.gz")
    return untar(tarball, tmp_path_factory.mktemp("foreign-base"))


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def host(
    request: pytest.FixtureRequest, tree: Path, pki: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Host]:
    bundle = HOST_CA_STORE.read_bytes() + (pki / "ca.pem").read_bytes()
    where = tmp_path_factory.mktemp(f"host-{request.param}")
    with foreign_host(where / "root", tree, request.param, bundle) as made:
        assert not (made.root / "usr" / "share" / "tcltk").exists()
        assert (request.param == "rhel9") != (made.root / "usr" / "lib" / "ssl").exists()
        yield made


def pythons(host: Host) -> dict[str, str]:
    """The base's python, and the pythons of an acc-py venv and a python -m venv made here."""
    out = {"base": f"{host.base}/bin/python3"}
    for name, argv in (
        ("acc-py venv", [f"{host.base}/bin/acc-py", "venv", "/tmp/acc-venv"]),
        ("python -m venv", [f"{host.base}/bin/python3", "-m", "venv", "--without-pip",
                            "/tmp/plain-venv"]),
    ):  # fmt: skip
        target = argv[-1]
        if not (host.root / target.lstrip("/") / "bin" / "python").exists():
            made = host.run(*argv)
            assert made.returncode == 0, made.stderr
        out[name] = f"{target}/bin/python"
    return out


TLS_PROBE = """\
import ssl, sys, urllib.request
print(ssl.create_default_context().cert_store_stats()["x509_ca"])
print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode().strip())
"""


def test_tls_uses_the_hosts_store(host: Host, https_url: str) -> None:
    for where, python in pythons(host).items():
        proc = host.run(python, "-c", TLS_PROBE, https_url)
        assert proc.returncode == 0, f"{host.layout}, {where}: {proc.stderr}"
        count, answer = proc.stdout.splitlines()
        assert int(count) > 100, (host.layout, where, count)  # the host's whole store
        assert answer == "hello over TLS", (host.layout, where)


def test_a_users_ssl_cert_file_wins(host: Host, https_url: str, pki: Path) -> None:
    """SSL_CERT_FILE naming a store without the test CA: the handshake must fail."""
    other = host.root / "tmp" / "other.pem"
    shutil.copyfile(HOST_CA_STORE, other)
    proc = host.run(f"{host.base}/bin/python3", "-c", TLS_PROBE, https_url,
                    env={"SSL_CERT_FILE": "/tmp/other.pem"})  # fmt: skip
    assert proc.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in proc.stderr, proc.stderr
    with_ca = host.root / "tmp" / "ca-only.pem"
    shutil.copyfile(pki / "ca.pem", with_ca)
    proc = host.run(f"{host.base}/bin/python3", "-c", TLS_PROBE, https_url,
                    env={"SSL_CERT_FILE": "/tmp/ca-only.pem"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # the user's file and the site's CA, which the base carries; nothing of the host's store
    assert proc.stdout.splitlines()[0] == "2"


def test_terminfo_for_readline_and_curses(host: Host) -> None:
    probe = (
        "import curses, readline\n"
        "curses.setupterm('xterm')\n"
        "print(curses.tigetnum('colors'), curses.tigetstr('clear') is not None)\n"
    )
    for where, python in pythons(host).items():
        proc = host.run(python, "-c", probe, env={"TERM": "xterm"})
        assert proc.returncode == 0, f"{host.layout}, {where}: {proc.stderr}"
        assert proc.stdout.split() == ["8", "True"], (host.layout, where, proc.stdout)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """Xvfb on this host, reached over TCP from inside the chroots."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is not installed: `make test-deps` installs it (Debian: xvfb)"
    number = 97
    proc = subprocess.Popen([xvfb, f":{number}", "-listen", "tcp", "-ac", "-nolisten", "unix"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(["xdpyinfo", "-display", f"127.0.0.1:{number}"],
                                   capture_output=True, check=False)  # fmt: skip
            if probe.returncode == 0:
                break
            assert proc.poll() is None, "Xvfb ended at start"
            time.sleep(0.1)
        yield f"127.0.0.1:{number}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def test_tcl_and_tk_find_their_libraries(host: Host, display: str) -> None:
    probe = (
        "import tkinter\n"
        "print(tkinter.Tcl().eval('info library'))\n"
        "root = tkinter.Tk()\n"
        "tkinter.Label(root, text='Acc-Py').pack()\n"
        "root.update()\n"
        "print(root.tk.eval('set tk_library'))\n"
        "root.destroy()\n"
    )
    for where, python in pythons(host).items():
        proc = host.run(python, "-c", probe, env={"DISPLAY": display})
        assert proc.returncode == 0, f"{host.layout}, {where}: {proc.stderr}"
        tcl, tk = proc.stdout.split()
        assert tcl.startswith(f"{host.base}/lib/tcl"), (where, tcl)
        assert tk.startswith(f"{host.base}/lib/tk"), (where, tk)

"""Usage logging end to end: a real base (``base_dist``), venvs made from it, and the real
collector (``acc-py-usage serve``) as a subprocess on 127.0.0.1; PostgreSQL when it is installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_VERSION, PROJECT, builder_dirs, built, run_builder, shared_build, untar
from servers import Index, suite_ca

from accpy_core.collector import FILE_NAME, Entry, parse_address, parse_file, render_file
from accpy_core.errors import SourceError
from accpy_manifest import load_manifest

SCRIPT = "import sys, os\nprint(os.getpid())\n"


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    port: int
    db: str
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def status_file(self) -> Path:
        return self.log.with_name("status.json")

    def wait_stored(self, count: int, timeout: float = 60) -> None:
        """Until the collector's status file says ``count`` records are stored (or settled:
        rejected, lost); the collector rewrites it after every commit."""
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                status = json.loads(self.status_file.read_text())
            settled = sum(status.get(k, 0) for k in ("stored", "lost", "dropped"))
            if settled + sum(status.get("rejected", {}).values()) >= count:
                return
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.02)
        raise AssertionError(f"not {count} records stored in {timeout} s: {status}")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0
        return self.log.read_text()


def serve(tmp: Path, db: str, listen: str = "127.0.0.1:0", within: Sequence[str] = ()) -> Serve:
    """The collector on ``listen``; ``within``: the command that enters a namespace first."""
    log = tmp / "serve.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*within, sys.executable, "-m", "accpy_usage.cli", "serve", "--listen", listen,
             "--db", db, "--status-file", str(tmp / "status.json")],
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "listening on udp 127.0.0.1:" in line:
                return Serve(proc, int(line.rsplit(":", 1)[1]), db, log)
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"the collector did not start: {log.read_text()}")


def rows(db: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    out = [dict(r) for r in conn.execute("SELECT * FROM invocations ORDER BY time")]
    conn.close()
    return out


@pytest.fixture(scope="module")
def base(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    (tarball,) = base_dist.glob("*.tar.gz")
    return untar(tarball, tmp_path_factory.mktemp("usage-base"))


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "USER": "alice", "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8",
            **extra}  # fmt: skip


def run(cmd: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300, check=False,
        stdin=subprocess.DEVNULL, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_base_and_venvs_send_the_right_records(base: Path, tmp_path: Path) -> None:
    collector = serve(tmp_path, str(tmp_path / "usage.db"))
    env = env_for(tmp_path, ACC_PY_USAGE_COLLECTOR=collector.address)
    py = str(base / "bin" / "python3")
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    sys_venv, plain_venv = tmp_path / "venv-sys", tmp_path / "venv-plain"
    for venv, opts in ((sys_venv, ["--system-site-packages"]), (plain_venv, [])):
        made = run([py, "-m", "venv", "--without-pip", *opts, str(venv)], env)
        assert (made.returncode, made.stderr) == (0, ""), made.stderr
    # a user's own sitecustomize in the plain venv still runs (and its module is `sitecustomize`)
    (site,) = plain_venv.glob("lib/python3.*/site-packages")
    (site / "sitecustomize.py").write_text(
        "import sys\nMARK = 'user'\nsys.stderr.write('mine\\n')\n"
    )

    expected: dict[int, tuple[str, str | None]] = {}  # pid -> (exe, venv)
    for exe, venv in (
        (base / "bin" / "python3", None),
        (sys_venv / "bin" / "python", sys_venv),
        (plain_venv / "bin" / "python", plain_venv),
    ):
        proc = run([str(exe), str(script), "--password=hunter2"], env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ("mine\n" if venv == plain_venv else "")
        expected[int(proc.stdout)] = (str(exe), str(venv) if venv else None)
    mark = run(
        [str(plain_venv / "bin" / "python"), "-c", "import sitecustomize as s; print(s.MARK)"], env
    )
    assert mark.stdout == "user\n"
    module = run([py, "-m", "json.tool", "--password=hunter2"], env)
    assert module.returncode != 0  # json.tool refuses the option; the hook changes nothing

    silent = []  # these must send nothing
    for args, extra in (
        (["-c", "import os; print(os.getpid())"], {"ACC_PY_NO_USAGE_LOG": "1"}),
        (["-I", "-c", "import os; print(os.getpid())"], {}),
        (["-S", "-c", "import os; print(os.getpid())"], {}),
    ):
        proc = run([py, *args], {**env, **extra})
        assert (proc.returncode, proc.stderr) == (0, "")
        silent.append(int(proc.stdout))
    collector.wait_stored(7)  # 2 `python -m venv`, 3 scripts, the mark, json.tool
    log = collector.stop()  # what still arrives before the stop is stored too: none may
    assert "rejected 0" in log and "lost 0" in log

    records = rows(tmp_path / "usage.db")
    by_pid = {r["pid"]: r for r in records}
    assert not set(silent) & set(by_pid)
    assert "hunter2" not in json.dumps(records)
    version = run([py, "-c", "import platform; print(platform.python_version())"], env).stdout
    for pid, (exe, venv) in expected.items():
        r = by_pid[pid]
        assert (r["exe"], r["venv"], r["kind"], r["target"]) == (exe, venv, "script", str(script))
        assert (r["base"], r["patch"], r["status"]) == ("2023.06", 1, "pro")
        assert r["python"] == version.strip()
        assert (r["user_name"], r["uid"], r["host"]) == ("alice", os.getuid(), os.uname().nodename)
    kinds = [(r["kind"], r["target"]) for r in records if r["pid"] not in expected]
    assert ("module", "venv") in kinds  # the two `python -m venv` runs
    assert ("module", "json.tool") in kinds


def test_acc_py_venv(base: Path, tmp_path: Path) -> None:
    """The hook logs Python starts: ``acc-py venv`` makes a plain venv without starting Python
    (bin/acc-py, a static program), so it sends nothing; the venv's python sends its record, and
    so does acc-py whenever it runs its Python side (here ``--version``)."""
    acc_py = base / "bin" / "acc-py"
    assert acc_py.exists(), "every base ships acc-py (recipes/acc-py.c.in)"
    collector = serve(tmp_path, str(tmp_path / "usage.db"))
    env = env_for(tmp_path, ACC_PY_USAGE_COLLECTOR=collector.address)
    made = run([str(acc_py), "venv", str(tmp_path / "v")], env)
    assert made.returncode == 0, made.stderr
    proc = run([str(tmp_path / "v" / "bin" / "python"), "-c", "import os; print(os.getpid())"], env)
    collector.wait_stored(1)  # the venv's python
    version = run([str(acc_py), "--version"], env)
    assert version.returncode == 0, version.stderr
    collector.wait_stored(2)  # acc-py's Python side
    log = collector.stop()  # what still arrives before the stop is stored too
    assert "rejected 0" in log and "lost 0" in log
    venv_run, acc_py_run = rows(tmp_path / "usage.db")
    assert (venv_run["pid"], venv_run["venv"]) == (int(proc.stdout), str(tmp_path / "v"))
    assert (acc_py_run["kind"], acc_py_run["venv"]) == ("script", None)
    assert acc_py_run["target"] == str(base / "share" / "acc-py" / "entry" / "acc-py.py")


def closed_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def test_faults_change_nothing(base: Path, tmp_path: Path) -> None:
    """Python starts, its exit code is the program's, and stderr stays empty."""
    py = str(base / "bin" / "python3")
    code = ["-c", "print('ok'); raise SystemExit(5)"]
    home = tmp_path / "home"
    home.mkdir()
    cases = {
        "collector down": {"ACC_PY_USAGE_COLLECTOR": f"127.0.0.1:{closed_port()}"},
        "IPv6 literal, nobody listening": {"ACC_PY_USAGE_COLLECTOR": f"[::1]:{closed_port()}"},
        "unresolvable host name": {"ACC_PY_USAGE_COLLECTOR": "no-such-host.invalid:8514"},
        "strange locale": {"LC_ALL": "xx_XX.garbage", "LANG": "C"},
        "C locale": {"LC_ALL": "", "LANG": "C"},
    }
    for what, extra in cases.items():
        proc = run([py, *code], env_for(home, **extra))
        assert (proc.returncode, proc.stdout, proc.stderr) == (5, "ok\n", ""), what
    # unroutable: in a new network namespace nothing is up, not even lo, so no packet can leave
    unshare = shutil.which("unshare")
    if unshare and run([unshare, "-n", "true"], {}).returncode == 0:
        for collector in ("192.0.2.1:8514", "127.0.0.1:8514", "[2001:db8::1]:8514"):
            env = env_for(home, ACC_PY_USAGE_COLLECTOR=collector)
            proc = run([unshare, "-n", py, *code], env)
            assert (proc.returncode, proc.stdout, proc.stderr) == (5, "ok\n", ""), collector
    # HOME unreadable (mode 000: refused to any user but root), not a directory, or unset
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    for env in (env_for(locked), env_for(Path("/dev/null/home")), {"PATH": "/usr/bin:/bin"}):
        proc = run([py, *code], env)
        assert (proc.returncode, proc.stdout, proc.stderr) == (5, "ok\n", ""), env


def test_read_only_base(base: Path, tmp_path: Path) -> None:
    assert os.getuid() == 0 and shutil.which("mount"), "a read-only bind mount needs root"
    ro = tmp_path / "ro"
    ro.mkdir()
    bound = run(["mount", "--bind", str(base), str(ro)], {})
    assert bound.returncode == 0, f"mount --bind is not permitted here: {bound.stderr}"
    try:
        assert run(["mount", "-o", "remount,bind,ro", str(ro)], {}).returncode == 0
        collector = serve(tmp_path, str(tmp_path / "usage.db"))
        env = env_for(tmp_path, ACC_PY_USAGE_COLLECTOR=collector.address)
        proc = run([str(ro / "bin" / "python3"), "-c", "import os; print(os.getpid())"], env)
        assert (proc.returncode, proc.stderr) == (0, "")
        collector.wait_stored(1)
        collector.stop()
        assert [r["pid"] for r in rows(tmp_path / "usage.db")] == [int(proc.stdout)]
    finally:
        run(["umount", str(ro)], {})


def test_collector_bad_input_flood_and_sigterm(tmp_path: Path) -> None:
    collector = serve(tmp_path, str(tmp_path / "usage.db"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", collector.port)
    good = {
        "v": 1, "time": 1.7e9, "user": "u", "uid": 1, "host": "h", "pid": 0, "base": "2023.06",
        "patch": 1, "status": "pro", "eol": "", "python": "3.11.4", "exe": "/x", "venv": None,
        "kind": "command", "target": None,
    }  # fmt: skip
    hostile = [b"", b"\x00" * 100, b"{" * 8000, b"x" * 60000, b'{"v":1}', b"[]", b"\xff\xfe{}",
               json.dumps({**good, "base": "1; DROP TABLE invocations"}).encode()]  # fmt: skip
    for i in range(3000):  # a bounded flood, interleaved with garbage
        sock.sendto(json.dumps({**good, "pid": i}).encode(), target)
        if i % 10 == 0:
            sock.sendto(hostile[(i // 10) % len(hostile)], target)
        if i % 500 == 0:
            time.sleep(0.01)  # stay under the loopback socket buffer
    # SIGTERM right away: every accepted record is stored before the process ends
    log = collector.stop()
    stored = rows(tmp_path / "usage.db")
    assert len(stored) == 3000, log
    assert "stored 3000, rejected 300" in log
    assert "SIGTERM" in log


def _pg_ctl() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


@pytest.fixture
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a unix socket under tmp (initdb + pg_ctl)."""
    bindir = _pg_ctl()
    assert bindir is not None, "PostgreSQL is not installed: `make test-deps` installs it"
    # not under tmp_path: pytest's directories are private to root, and a unix socket path must
    # stay short
    pg = Path(tempfile.mkdtemp(prefix="accpy-pg-"))
    as_user: list[str] = []
    if os.getuid() == 0:  # initdb refuses root
        runuser = shutil.which("runuser")
        assert runuser is not None, "initdb refuses root and runuser (util-linux) is missing"
        as_user = [runuser, "-u", "postgres", "--"]
        shutil.chown(pg, "postgres")
    data = pg / "data"
    init = run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "acc",
                "-E", "UTF8", "--no-sync"], {"PATH": "/usr/bin:/bin", "LC_ALL": "C"})  # fmt: skip
    assert init.returncode == 0, init.stderr
    opts = f"-k {pg} -c listen_addresses='' -F"
    start = run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
                 "-l", str(pg / "log"), "start"], {"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert start.returncode == 0, start.stderr + (pg / "log").read_text()
    try:
        yield f"postgresql://acc@/postgres?host={pg}"
    finally:
        run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], {})
        shutil.rmtree(pg, ignore_errors=True)


def test_postgresql_store_and_report(postgres: str, base: Path, tmp_path: Path) -> None:
    collector = serve(tmp_path, postgres)
    env = env_for(tmp_path, ACC_PY_USAGE_COLLECTOR=collector.address)
    for _ in range(3):
        assert run([str(base / "bin" / "python3"), "-c", "pass"], env).returncode == 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(b"garbage", ("127.0.0.1", collector.port))
    collector.wait_stored(4)
    log = collector.stop()
    assert "stored 3, rejected 1" in log
    out = run([sys.executable, "-m", "accpy_usage.cli", "report", "--db", postgres,
               "--format", "json"], dict(os.environ))  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["total"] == {"invocations": 3, "users": 1, "hosts": 1}
    assert [r["key"] for r in data["by_version"]] == ["2023.06"]


def test_postgresql_store_made_before_versions_is_migrated(postgres: str, tmp_path: Path) -> None:
    """A PostgreSQL store as the collector made it before the schema was versioned (one row of
    format 1.0), then served by this collector: migrated once, the old row kept; records of
    format 1.1 and of a newer minor stored (its unknown field in extra), a newer major refused."""
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute((PROJECT / "tests" / "data" / "usage-schema-1.sql").read_bytes())
    collector = serve(tmp_path, postgres)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    record = {
        "v": 1, "v_minor": 1, "time": 1.7e9, "user": "u", "uid": 1, "host": "h", "pid": 1,
        "base": "2023.06", "patch": 1, "status": "pro", "eol": "", "python": "3.11.4",
        "exe": "/x", "venv": None, "kind": "command", "target": None,
        "interactive": "2025.03", "interactive_patch": 2,
    }  # fmt: skip
    for datagram in (record, {**record, "pid": 2, "v_minor": 4, "gpu": "A100"},
                     {**record, "pid": 3, "v": 2}):  # fmt: skip
        sock.sendto(json.dumps(datagram).encode(), ("127.0.0.1", collector.port))
    collector.wait_stored(3)
    log = collector.stop()
    assert "migrating the PostgreSQL store from schema version 1 to 2" in log
    assert "stored 2, rejected 1 (newer-major 1)" in log
    with psycopg.connect(postgres) as conn:
        got = conn.execute(
            "SELECT user_name, format, interactive, interactive_patch, extra FROM invocations "
            "ORDER BY time, pid"
        ).fetchall()
        (version,) = conn.execute("SELECT version FROM schema_version").fetchall()
    assert got == [
        ("olduser", None, None, None, None),
        ("u", "1.1", "2025.03", 2, None),
        ("u", "1.4", "2025.03", 2, '{"gpu": "A100"}'),
    ]
    assert version == (2,)
    out = run([sys.executable, "-m", "accpy_usage.cli", "report", "--db", postgres,
               "--format", "json"], dict(os.environ))  # fmt: skip
    assert out.returncode == 0, out.stderr
    by_interactive = {r["key"]: r["invocations"] for r in json.loads(out.stdout)["by_interactive"]}
    assert by_interactive == {"2025.03": 2, "(not interactive)": 1}
    again = serve(tmp_path, postgres)  # migrated once: the second start has nothing to do
    assert "migrating" not in again.stop()


# --------------------------------------------------------------------------- a named collector

#: a DNS server that never answers: it counts the queries it receives, one line each
SILENT_DNS = """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", 53))
log = open(sys.argv[1], "ab", buffering=0)
print("ready", flush=True)
while True:
    sock.recvfrom(4096)
    log.write(b"query\\n")
"""


@dataclass
class Sandbox:
    """A mount and a network namespace (the tests run as root): only ``lo``, up; the test's
    /etc/hosts, /etc/nsswitch.conf (files, then dns) and /etc/resolv.conf, whose only name
    server is :data:`SILENT_DNS` on 127.0.0.1:53. A name missing from /etc/hosts therefore
    hangs in the resolver until its timeout."""

    holder: subprocess.Popen[bytes]
    where: Path

    @property
    def within(self) -> list[str]:
        nsenter = shutil.which("nsenter")
        assert nsenter, "nsenter (util-linux) is not installed"
        return [nsenter, "-t", str(self.holder.pid), "-m", "-n", "--"]

    def run(self, cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return run([*self.within, *cmd], env)

    def hosts(self, text: str) -> None:
        (self.where / "hosts").write_text(text)  # the same inode: the bind mount shows it

    def dns_queries(self) -> int:
        log = self.where / "dns.log"
        return len(log.read_text().splitlines()) if log.exists() else 0


@contextlib.contextmanager
def sandbox(where: Path, hosts: str) -> Iterator[Sandbox]:
    unshare = shutil.which("unshare")
    assert unshare and os.getuid() == 0, "the sandbox needs root and unshare (util-linux)"
    where.mkdir(parents=True)
    (where / "hosts").write_text(hosts)
    (where / "nsswitch.conf").write_text("hosts: files dns\n")
    (where / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    binds = " && ".join(f"mount --bind {where / name} /etc/{name}"
                        for name in ("hosts", "nsswitch.conf", "resolv.conf"))  # fmt: skip
    holder = subprocess.Popen(
        [unshare, "--mount", "--net", "--", "sh", "-c",
         f"ip link set lo up && {binds} && echo ready && exec sleep 3600"],
        stdout=subprocess.PIPE, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )  # fmt: skip
    dns = None
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
        box = Sandbox(holder, where)
        dns = subprocess.Popen([*box.within, sys.executable, "-c", SILENT_DNS,
                                str(where / "dns.log")], stdout=subprocess.PIPE)  # fmt: skip
        assert dns.stdout is not None and dns.stdout.readline() == b"ready\n"
        yield box
    finally:
        for proc in (dns, holder):
            if proc is not None:
                proc.kill()
                proc.wait()


def traced(box: Sandbox, exe: Path, env: dict[str, str], out: Path) -> tuple[int, list[str]]:
    """Start ``exe`` in the sandbox under strace (network calls); its pid and the calls."""
    proc = box.run(["strace", "-f", "-qq", "-e", "trace=network", "-o", str(out), str(exe),
                    "-c", "import os; print(os.getpid())"], env)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return int(proc.stdout), out.read_text().splitlines()


def datagrams(calls: list[str], port: int) -> int:
    """The datagrams sent to ``port`` (sin_port or sin6_port)."""
    return sum(1 for c in calls if "sendto(" in c and f"_port=htons({port})" in c)


def no_dns(calls: list[str]) -> bool:
    """No socket to port 53, and no connect() at all (the hook only sends one datagram)."""
    return not [c for c in calls if "htons(53)" in c or "connect(" in c]


@pytest.fixture(scope="module")
def committed_dist(site_index: Index) -> Path:
    """dist/ of 2023.06 built from versions.yaml as committed: its usage collector is the host
    name there (the index and its CA are the suite's); once per run (shared_build)."""

    def build(work: Path) -> Path:
        proc = run_builder(
            "base", BASE_VERSION, "--interpreter", sys.base_prefix, "--platform", "auto",
            "--index-url", site_index.url, "--site-ca", str(suite_ca().cert), *builder_dirs(work),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        built(f"{BASE_VERSION} (as committed: the site's usage collector)")
        return work / "dist"

    return shared_build("base-2023.06-committed-collector", build)


def test_a_base_built_as_committed_logs_through_its_host_name(
    committed_dist: Path, tmp_path: Path
) -> None:
    """The committed collector is a host name. Installed where the name resolves (/etc/hosts
    of a sandbox), the base logs to the real collector on loopback, and its starts ask no DNS.
    With a resolver that hangs, the starts are the same calls exactly: no query reaches the
    DNS server, no socket to port 53 (counted, not timed); only acc-py-install waits for it."""
    committed = load_manifest(PROJECT / "versions.yaml").site.usage_collector
    address = parse_address(committed)
    assert address.named, f"versions.yaml names its collector by address ({committed})"
    (tarball,) = committed_dist.glob("*.tar.gz")
    env = env_for(tmp_path)  # no ACC_PY_USAGE_COLLECTOR: the name baked into the base
    installer = [sys.executable, "-m", "acc_py_install"]
    with sandbox(tmp_path / "sandbox", f"127.0.0.1 localhost\n127.0.0.1 {address.host}\n") as box:
        collector = serve(tmp_path, str(tmp_path / "usage.db"), f"127.0.0.1:{address.port}",
                          box.within)  # fmt: skip
        root = tmp_path / "root"
        inst = box.run([*installer, "install", str(tarball), "--root", str(root), "--pro"], env)
        assert inst.returncode == 0, inst.stderr
        assert f"usage collector {committed} -> 127.0.0.1:{address.port}" in inst.stderr
        assert parse_file((root / "base" / FILE_NAME).read_text())[committed].addresses == (
            f"127.0.0.1:{address.port}",
        )
        py = root / "base" / BASE_VERSION / "bin" / "python3"
        venv = tmp_path / "venv"
        made = box.run([str(root / "base" / BASE_VERSION / "bin" / "acc-py"), "venv", str(venv)],
                       env)  # fmt: skip
        assert made.returncode == 0, made.stderr
        logged: list[int] = []
        silent: list[int] = []
        traces: list[list[str]] = []

        def start(exe: Path, sent: bool) -> None:
            pid, calls = traced(box, exe, env, tmp_path / f"strace-{len(traces)}")
            assert datagrams(calls, address.port) == (1 if sent else 0), calls
            (logged if sent else silent).append(pid)
            traces.append(calls)

        start(py, sent=True)  # 1. the name resolves
        start(venv / "bin" / "python", sent=True)
        assert box.dns_queries() == 0
        box.hosts("127.0.0.1 localhost\n")  # 2. from now on the name hangs in the resolver
        start(py, sent=True)  # the addresses the installer wrote: no DNS
        start(venv / "bin" / "python", sent=True)
        assert box.dns_queries() == 0
        again = box.run([*installer, "resolve-collector", "--root", str(root)], env)
        assert again.returncode == SourceError.exit_code, again.stderr
        assert "stay in use for ever" in again.stderr  # 0 valid days: never stale
        asked = box.dns_queries()
        assert asked > 0, "the resolver did not ask the silent DNS server: the sandbox is wrong"
        start(py, sent=True)  # the failed re-resolution kept them
        # 3. installed while the resolver hangs: installed, with a warning; nothing to send to
        other = tmp_path / "root2"
        inst = box.run([*installer, "install", str(tarball), "--root", str(other)], env)
        assert inst.returncode == 0, inst.stderr
        assert "did not resolve" in inst.stderr or "does not resolve" in inst.stderr
        assert not (other / "base" / FILE_NAME).exists()
        asked = box.dns_queries()
        start(other / "base" / BASE_VERSION / "bin" / "python3", sent=False)
        # 4. stale addresses (re-resolution stopped long ago): nothing is sent
        stale = {committed: Entry(committed, int(time.time()) - 1, (f"127.0.0.1:{address.port}",))}
        (root / "base" / FILE_NAME).write_text(render_file(stale, "stale"))
        start(py, sent=False)
        assert box.dns_queries() == asked  # none of the starts asked the resolver anything
        collector.wait_stored(len(logged))
        log = collector.stop()
    assert all(no_dns(calls) for calls in traces)
    assert "rejected 0" in log and "lost 0" in log
    records = rows(tmp_path / "usage.db")
    assert sorted(int(str(r["pid"])) for r in records) == sorted(logged)
    assert {(r["base"], r["format"], r["user_name"]) for r in records} == {
        (BASE_VERSION, "1.1", "alice")
    }
    assert [r["venv"] for r in records].count(str(venv)) == 2

"""The usage hook (recipes/@stdlib@/sitecustomize.py.in) executed by each local CPython 3.7+.

The rendered hook is put first on PYTHONPATH (where a base has it in its stdlib directory, ahead
of every site-packages), a user's own sitecustomize in a later entry; a UDP socket on 127.0.0.1
in the test stands for the collector.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT, every_python, python_exe

from accpy_builder.inject import render, template_values
from accpy_core.collector import FILE_NAME as COLLECTOR_FILE
from accpy_core.collector import HEADER, Entry, render_file
from accpy_manifest import BaseSpec, PbsAsset, Site
from accpy_usage.record import KNOWN_FIELDS, parse

HOOK = PROJECT / "recipes" / "sitecustomize.py.in"
#: the hook runs on every base's Python (3.7 to 3.14): tested on every CPython the suite requires
MINORS = every_python()
BASE = BaseSpec(
    version="2020.11",
    patch=3,
    python="3.7.9",
    interpreter=PbsAsset("20200822", "cpython.tar.zst", "0" * 64),
    packages=(),
    status="deprecated",
    end_of_life=dt.date(2024, 12, 31),
)


def render_hook(dest: Path, collector: str = "127.0.0.1:9") -> Path:
    site = Site(index_url="https://x.example/simple/", usage_collector=collector, install_root="/")
    dest.mkdir(parents=True, exist_ok=True)
    text = render(HOOK.read_text(), template_values(BASE, site), HOOK)
    (dest / "sitecustomize.py").write_text(text)
    return dest


@pytest.fixture(params=MINORS)
def python(request: pytest.FixtureRequest) -> Path:
    return python_exe(request.param)


class Receiver:
    def __init__(self, family: socket.AddressFamily = socket.AF_INET) -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        host = "[::1]" if family == socket.AF_INET6 else "127.0.0.1"
        self.address = f"{host}:{self.port}"

    def records(self, wait: float = 0.3) -> list[dict[str, object]]:
        """Every datagram that arrived (the sender has exited: they are all queued already)."""
        out = []
        self.sock.settimeout(wait)
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return out
            out.append(json.loads(data.decode("ascii")))
            self.sock.settimeout(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.sock.close()


def run(
    python: Path, args: list[str], hook: Path, env: dict[str, str] | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    base_env = {"PATH": "/usr/bin:/bin", "HOME": str(hook), "USER": "alice", "LC_ALL": "C.UTF-8"}
    pythonpath = os.pathsep.join([str(hook), *kw.pop("extra_path", [])])  # type: ignore[list-item]
    full = {**base_env, "PYTHONPATH": pythonpath, **(env or {})}
    return subprocess.run(
        [str(python), *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        **kw,  # type: ignore[arg-type]
    )


def test_script_record_fields_and_secrecy(python: Path, receiver: Receiver, tmp_path: Path) -> None:
    hook = render_hook(tmp_path / "hook")
    script = tmp_path / "job.py"
    script.write_text("import sys; print(sys.argv[1:])\n")
    env = {"ACC_PY_USAGE_COLLECTOR": receiver.address}
    proc = run(python, ["job.py", "--password=hunter2"], hook, env, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stderr == ""
    assert proc.stdout == "['--password=hunter2']\n"  # the script still gets its arguments
    (rec,) = receiver.records()
    assert rec["kind"] == "script"
    assert rec["target"] == str(script)
    assert rec["user"] == "alice"
    assert rec["uid"] == os.getuid()
    assert rec["host"] == os.uname().nodename
    assert (rec["base"], rec["patch"], rec["status"], rec["eol"]) == (
        "2020.11", 3, "deprecated", "2024-12-31",
    )  # fmt: skip
    assert str(rec["python"]).startswith(python.name.removeprefix("python") + ".")
    assert rec["exe"] == str(python)
    assert rec["venv"] is None
    assert isinstance(rec["pid"], int)
    assert isinstance(rec["time"], float)
    assert abs(float(rec["time"]) - dt.datetime.now().timestamp()) < 600


def test_module_and_command_record_only_their_names(
    python: Path, receiver: Receiver, tmp_path: Path
) -> None:
    hook = render_hook(tmp_path / "hook")
    env = {"ACC_PY_USAGE_COLLECTOR": receiver.address}
    args = ["-bWignore", "-X", "utf8", "-m", "json.tool", "--password=hunter2"]
    run(python, args, hook, env)
    run(python, ["-c", "import sys; sys.exit(7)", "--password=hunter2"], hook, env)
    proc = run(python, ["-c", "raise SystemExit(7)  # hunter2"], hook, env)
    assert proc.returncode == 7  # the exit code is the program's
    recs = receiver.records()
    assert [(r["kind"], r["target"]) for r in recs] == [
        ("module", "json.tool"),
        ("command", None),
        ("command", None),
    ]
    assert "hunter2" not in json.dumps(recs)


def test_stdin(python: Path, receiver: Receiver, tmp_path: Path) -> None:
    hook = render_hook(tmp_path / "hook")
    env = {"ACC_PY_USAGE_COLLECTOR": receiver.address}
    run(python, ["-"], hook, env)
    run(python, [], hook, env)
    assert [r["kind"] for r in receiver.records()] == ["stdin", "stdin"]


def test_opt_out_sends_nothing(python: Path, receiver: Receiver, tmp_path: Path) -> None:
    hook = render_hook(tmp_path / "hook")
    env = {"ACC_PY_USAGE_COLLECTOR": receiver.address}
    for value in ("1", "yes", "true"):
        proc = run(python, ["-c", "pass"], hook, {**env, "ACC_PY_NO_USAGE_LOG": value})
        assert (proc.returncode, proc.stderr) == (0, "")
    control = run(
        python, ["-c", "import os; print(os.getpid())"], hook, {**env, "ACC_PY_NO_USAGE_LOG": "0"}
    )
    recs = receiver.records()
    assert [r["pid"] for r in recs] == [int(control.stdout)]  # only the control arrived


def test_user_sitecustomize_still_runs(python: Path, receiver: Receiver, tmp_path: Path) -> None:
    hook = render_hook(tmp_path / "hook")
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text(
        "import sys\nMARK = 'user'\nsys.stderr.write('mine\\n')\n"
    )
    code = "import sitecustomize; print(sitecustomize.MARK, sitecustomize.__file__)"
    env = {"ACC_PY_USAGE_COLLECTOR": receiver.address}
    proc = run(python, ["-c", code], hook, env, extra_path=[str(user)])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "mine\n"
    assert proc.stdout == f"user {user / 'sitecustomize.py'}\n"
    assert len(receiver.records()) == 1


def test_user_sitecustomize_error_reported_as_without_hook(python: Path, tmp_path: Path) -> None:
    hook = render_hook(tmp_path / "hook")
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text("raise ValueError('broken on purpose')\n")
    env = {"ACC_PY_NO_USAGE_LOG": "1"}
    with_hook = run(python, ["-c", "print('ran')"], hook, env, extra_path=[str(user)])
    empty = tmp_path / "empty"
    empty.mkdir()
    without = run(python, ["-c", "print('ran')"], empty, env, extra_path=[str(user)])
    assert with_hook.stdout == without.stdout == "ran\n"
    assert "broken on purpose" in without.stderr
    assert with_hook.stderr == without.stderr


@pytest.mark.parametrize(
    "collector",
    [
        "localhost:{port}",  # a host name: never resolved
        "nonexistent.invalid:{port}",
        "127.0.0.1",  # no port
        "127.0.0.1:99999",
        "127.0.0.1:0",
        "[::1]",
        "[zz::1]:{port}",
        "[fe80::1%lo]:{port}",
        "999.1.2.3:{port}",
        "1.2.3:{port}",
        ":{port}",
        "\udcff:{port}",
    ],
)
def test_bad_or_named_collector_sends_nothing_quietly(
    python: Path, receiver: Receiver, tmp_path: Path, collector: str
) -> None:
    hook = render_hook(tmp_path / "hook")
    value = collector.format(port=receiver.port)
    code = "import sys; print('_socket' in sys.modules, 'socket' in sys.modules)"
    env = {"ACC_PY_USAGE_COLLECTOR": value.encode("utf-8", "surrogateescape").decode("latin-1")}
    proc = run(python, ["-c", code], hook, env)
    assert (proc.returncode, proc.stderr) == (0, "")
    if "[" not in value and not value.startswith(("9", "1.")):
        assert proc.stdout == "False False\n"  # refused before any socket code: no DNS possible
    assert receiver.records(wait=0.1) == []


def test_baked_in_host_name_is_never_resolved(
    python: Path, receiver: Receiver, tmp_path: Path
) -> None:
    hook = render_hook(tmp_path / "hook", collector="acc-py-usage.cern.ch:8514")
    proc = run(python, ["-c", "import sys; print('_socket' in sys.modules)"], hook)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "False\n", "")
    # the run-time override wins over the baked-in name
    run(python, ["-c", "pass"], hook, {"ACC_PY_USAGE_COLLECTOR": receiver.address})
    assert len(receiver.records()) == 1


def test_ipv6_literal(python: Path, tmp_path: Path) -> None:
    assert socket.has_ipv6, "this Python has no IPv6: the IPv6 collector cannot be tested"
    r = Receiver(socket.AF_INET6)  # ::1 (loopback IPv6, present on every host of this kind)
    hook = render_hook(tmp_path / "hook")
    proc = run(python, ["-c", "pass"], hook, {"ACC_PY_USAGE_COLLECTOR": r.address})
    assert (proc.returncode, proc.stderr) == (0, "")
    assert [rec["kind"] for rec in r.records()] == ["command"]
    r.sock.close()


def test_faults_leave_python_alone(python: Path, tmp_path: Path) -> None:
    """Collector down, no HOME, a strange locale, a vanished working directory, a closed
    stdin/stdout: Python starts, prints only what the program prints, keeps its exit code."""
    hook = render_hook(tmp_path / "hook")
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    unreadable = tmp_path / "home"
    unreadable.mkdir(mode=0)
    gone = tmp_path / "gone"
    gone.mkdir()
    cases = [
        {"ACC_PY_USAGE_COLLECTOR": f"127.0.0.1:{port}"},
        {"HOME": str(unreadable), "USER": ""},
        {"HOME": "/nonexistent", "LC_ALL": "xx_XX.garbage", "LANG": "C"},
        {"LC_ALL": "", "LANG": "C"},
    ]
    for env in cases:
        proc = run(python, ["-c", "print('ok'); raise SystemExit(3)"], hook, env)
        assert (proc.returncode, proc.stdout, proc.stderr) == (3, "ok\n", ""), env
    proc = run(python, ["-c", "print('ok')"], hook, cwd=gone, preexec_fn=lambda: os.rmdir(gone))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")


def test_undecodable_names_still_make_valid_json(
    python: Path, receiver: Receiver, tmp_path: Path
) -> None:
    hook = render_hook(tmp_path / "hook")
    odd = tmp_path / os.fsdecode(b'caf\xe9 "q" \\ \xe2\x82\xac.py')
    odd.write_text("pass\n")
    env = {"ACC_PY_USAGE_COLLECTOR": receiver.address, "USER": "b\u00e9a"}
    for locale in ("C.UTF-8", "C"):
        proc = run(python, [str(odd)], hook, {**env, "LC_ALL": locale})
        assert (proc.returncode, proc.stderr) == (0, "")
    recs = receiver.records()
    assert len(recs) == 2
    assert all(
        str(r["target"]).endswith('"q" \\ \u20ac.py') or "\\" in str(r["target"]) for r in recs
    )
    assert all(str(r["target"]).startswith(str(tmp_path)) for r in recs)


def test_build_takes_a_named_collector(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A host name is no longer a warning to heed (the base would log nothing): the build says
    that the installer resolves it, and the hook reads the installer's file."""
    import logging

    from accpy_builder.inject import Template, inject

    caplog.set_level(logging.INFO)
    for collector, named in (("acc-py-usage.cern.ch:8514", True), ("10.1.2.3:8514", False),
                             ("[::1]:8514", False)):  # fmt: skip
        tree = tmp_path / collector / "tree"
        (tree / "lib" / "python3.7" / "site-packages").mkdir(parents=True)
        site = Site(index_url="https://x.example/simple/", usage_collector=collector,
                    install_root="/")  # fmt: skip
        caplog.clear()
        hook_only = [Template("{stdlib}/sitecustomize.py", "sitecustomize.py.in")]
        inject(tree, template_values(BASE, site), "3.7", payload=hook_only)
        hook = (tree / "lib" / "python3.7" / "sitecustomize.py").read_text()
        assert f'or "{collector}"' in hook
        assert f'"/{COLLECTOR_FILE}"' in hook and f'"{HEADER}"' in hook
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert ("acc-py-install resolves it" in caplog.text) is named


# --------------------------------------------------------------------------- a named collector


def laid_out_hook(tmp_path: Path, collector: str) -> Path:
    """The hook where a base has it, ``<dir>/._2020.11.3/lib/pythonX.Y``, for a collector named
    ``collector``; returns its directory (``<dir>`` holds the file of resolved addresses)."""
    return render_hook(tmp_path / "area" / "._2020.11.3" / "lib" / "python3.x", collector)


def resolved(hook: Path, entries: list[Entry], header: str = HEADER) -> Path:
    """Write the file of resolved addresses beside the hook's tree, as the installer does."""
    path = hook.parent.parent.parent / COLLECTOR_FILE
    text = render_file({e.collector: e for e in entries}, "test")
    path.write_text(text.replace(HEADER, header, 1))
    return path


def test_named_collector_sends_to_the_resolved_address(
    python: Path, receiver: Receiver, tmp_path: Path
) -> None:
    name = f"acc-py-usage.example:{receiver.port}"
    hook = laid_out_hook(tmp_path, name)
    code = "import os; print(os.getpid())"
    assert run(python, ["-c", code], hook).stdout  # no file yet: nothing sent
    assert receiver.records(wait=0.1) == []
    # the first address refuses the datagram at once (broadcast without SO_BROADCAST): the next
    resolved(hook, [Entry(name, 0, (f"255.255.255.255:{receiver.port}", receiver.address))])
    proc = run(python, ["-c", code], hook)
    assert (proc.returncode, proc.stderr) == (0, "")
    (rec,) = receiver.records()
    assert rec["pid"] == int(proc.stdout)
    # a name given at run time is looked up the same way
    other = f"relay.example:{receiver.port}"
    resolved(hook, [Entry(other, int(time.time()) + 3600, (receiver.address,))])
    run(python, ["-c", "pass"], hook, {"ACC_PY_USAGE_COLLECTOR": other})
    assert len(receiver.records()) == 1
    run(python, ["-c", "pass"], hook)  # the baked-in name has no line now: nothing
    assert receiver.records(wait=0.1) == []


@pytest.mark.parametrize(
    "case", ["stale", "another name", "another format", "garbage", "directory", "fifo"]
)
def test_a_resolved_file_that_cannot_serve_sends_nothing_quietly(
    python: Path, receiver: Receiver, tmp_path: Path, case: str
) -> None:
    name = f"acc-py-usage.example:{receiver.port}"
    hook = laid_out_hook(tmp_path, name)
    good = [Entry(name, 0, (receiver.address,))]
    if case == "stale":
        path = resolved(hook, [Entry(name, int(time.time()) - 60, (receiver.address,))])
    elif case == "another name":
        path = resolved(hook, [Entry(f"other.example:{receiver.port}", 0, (receiver.address,))])
    elif case == "another format":
        path = resolved(hook, good, header="acc-py-usage-collectors 2")
    elif case == "garbage":
        path = resolved(hook, good)
        path.write_bytes(path.read_bytes().replace(b" 0 ", b" \xff ") + b"\0" * 100_000)
    elif case == "directory":
        path = hook.parent.parent.parent / COLLECTOR_FILE
        path.mkdir()
    else:
        path = hook.parent.parent.parent / COLLECTOR_FILE
        os.mkfifo(path)  # nobody writes: an open without O_NONBLOCK would wait for ever
    proc = run(python, ["-c", "print('ok'); raise SystemExit(4)"], hook)
    assert (proc.returncode, proc.stdout, proc.stderr) == (4, "ok\n", ""), case
    assert receiver.records(wait=0.1) == []


def test_the_record_is_format_1_1_and_the_collector_takes_it(
    python: Path, receiver: Receiver, tmp_path: Path
) -> None:
    hook = render_hook(tmp_path / "hook")
    receiver.sock.settimeout(30)
    run(python, ["-c", "pass"], hook, {"ACC_PY_USAGE_COLLECTOR": receiver.address})
    data = receiver.sock.recv(65536)
    rec = parse(data, "127.0.0.1")
    assert (rec.format, rec.interactive, rec.interactive_patch, rec.extra) == (
        "1.1", None, None, None,
    )  # fmt: skip
    assert set(json.loads(data)) == KNOWN_FIELDS


def test_a_start_from_the_interactive_environment_names_its_release(
    python: Path, receiver: Receiver, tmp_path: Path
) -> None:
    """As <root>/pro/setup.sh leaves it: ACC_PY_INTERACTIVE=<root>/2025.03, a symlink to the
    release's tree ._2025.03.2, on this base (2020.11)."""
    hook = render_hook(tmp_path / "hook")
    minor = python.name.removeprefix("python")
    tree = tmp_path / "root" / "._2025.03.2"
    (tree / "lib" / f"python{minor}" / "site-packages").mkdir(parents=True)
    (tmp_path / "root" / "2025.03").symlink_to("._2025.03.2")
    env = {
        "ACC_PY_USAGE_COLLECTOR": receiver.address,
        "ACC_PY_INTERACTIVE": str(tmp_path / "root" / "2025.03"),
        "ACC_PY_INTERACTIVE_BASE": "2020.11",
        "ACC_PY_INTERACTIVE_VERSION": "2025.03",
    }
    code = f"import sys; print('{tree}/lib/python{minor}/site-packages' in sys.path)"
    proc = run(python, ["-c", code], hook, env)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "True\n", "")
    run(python, ["-c", "pass"], hook, {**env, "ACC_PY_INTERACTIVE_BASE": "2024.12"})  # another base
    recs = receiver.records()
    assert [(r["interactive"], r["interactive_patch"]) for r in recs] == [
        ("2025.03", 2), (None, None),
    ]  # fmt: skip
    assert parse(json.dumps(recs[0]).encode()).interactive == "2025.03"

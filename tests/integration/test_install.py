"""acc-py-install on small fake bases (a tree with a ``bin/python`` sh script, packed by the real
pack stage): every command, crash safety under SIGKILL, races, hostile archives, readers, a full
disk. Installs take milliseconds; the real base is in test_install_real.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from acc_py_install.cli import main
from conftest import PROJECT, REQUIRED_PYTHONS, python_exe

from accpy_builder.pack import pack
from accpy_core.errors import (
    ArchiveError,
    ChecksumError,
    LockError,
    MetadataError,
    RecordError,
    SourceError,
    SpaceError,
)
from accpy_core.lock import LOCK_NAME, OWNER_NAME
from accpy_core.record import RECORD_NAME, compare_record, read_record, write_record

HOST_TAG = "manylinux_2_17_x86_64"
EPOCH = 1_686_000_000


def fake_base(
    dist: Path,
    version: str = "2023.06",
    patch: int = 1,
    *,
    platform: str = HOST_TAG,
    status: str = "supported",
    end_of_life: str | None = None,
    files: int = 3,
    big: int = 0,
    collector: str | None = None,
) -> Path:
    """Pack a tiny base into ``dist``; return the .tar.gz (with .tar.zst and .sha256 beside)."""
    tree = dist / f".tree-{version}-{patch}"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "python").write_text("#!/bin/sh\nexit 0\n")
    (tree / "bin" / "python").chmod(0o755)
    (tree / "bin" / "python3").symlink_to("python")
    (tree / "lib").mkdir()
    for i in range(files):
        (tree / "lib" / f"mod{i}.py").write_text(f"X = {i}  # patch {patch}\n")
    if big:
        (tree / "lib" / "big.bin").write_bytes(random.Random(patch).randbytes(big))
    meta = {
        "schema": 1, "name": "acc-py-base", "version": version, "patch": patch,
        "release": f"{version}.{patch}", "python": "3.11.7", "platform": platform,
        "status": status, "end_of_life": end_of_life, "packages": [],
    }  # fmt: skip
    if collector is not None:  # the usage collector this base sends to (test_resolve_collector)
        meta["site"] = {"usage_collector": collector}
    (tree / "ACC-PY.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_record(tree)
    stem = f"acc-py-base-{version}-{platform}"
    result = pack(tree, top=version, dist_dir=dist, stem=stem, source_date_epoch=EPOCH)
    shutil.rmtree(tree)
    return result.tar_gz


def cli(*args: str, root: Path) -> int:
    return main([*args, "--root", str(root)])


def run_cli(
    *args: str, root: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "acc_py_install", *args, "--root", str(root)],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def patch_of(root: Path, name: str) -> int:
    return int(json.loads((root / "base" / name / "ACC-PY.json").read_text())["patch"])


def assert_complete(root: Path, name: str) -> None:
    """``base/<name>`` resolves to a tree that matches its record exactly."""
    tree = Path(os.path.realpath(root / "base" / name))
    assert tree.is_dir(), f"{root / 'base' / name} dangles"
    diff = compare_record(tree, read_record(tree / RECORD_NAME))
    assert not diff, f"{tree} is incomplete: {diff}"


def one_error(err: str) -> bool:
    """stderr ends with exactly one ``error: ...`` line, and has no traceback."""
    lines = err.splitlines()
    return (
        bool(lines)
        and lines[-1].startswith("error: ")
        and "Traceback" not in err
        and sum(line.startswith("error:") for line in lines) == 1
    )


def hidden_leftovers(root: Path) -> list[str]:
    hidden = (".staging", ".trash", ".lock")
    return sorted(
        p.name for p in (root / "base").iterdir() if p.name.startswith(hidden) or ".tmp-" in p.name
    )


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fake-dists")
    return {
        "23p1": fake_base(d / "23p1"),
        "23p2": fake_base(d / "23p2", patch=2),
        "23p3": fake_base(d / "23p3", patch=3, files=400, big=2 << 20),
        "21p1": fake_base(d / "21p1", "2021.12", status="supported"),
        "eol": fake_base(d / "eol", "2020.11", status="deprecated", end_of_life="2024-01-01"),
    }


def test_two_versions_two_patches_and_every_command(
    bases: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    base = root / "base"
    assert cli("install", str(bases["23p1"]), "--pro", root=root) == 0
    assert cli("install", str(bases["21p1"]), root=root) == 0
    assert cli("install", str(bases["23p2"]), root=root) == 0
    assert os.readlink(base / "2023.06") == "._2023.06.2"
    assert os.readlink(base / "2021.12") == "._2021.12.1"
    assert os.readlink(base / "pro") == "2023.06"
    assert (base / "._2023.06.1").is_dir(), "the previous patch tree is kept for rollback"
    assert patch_of(root, "pro") == 2
    capsys.readouterr()

    assert cli("install", str(bases["23p2"]), root=root) == 0
    assert "already installed" in capsys.readouterr().err

    assert cli("list", "--json", root=root) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["pro"] == "2023.06"
    by_version = {v["version"]: v for v in listing["versions"]}
    assert by_version["2023.06"]["current"] == "2023.06.2"
    assert by_version["2023.06"]["pro"] is True and by_version["2021.12"]["pro"] is False
    assert [t["patch"] for t in by_version["2023.06"]["trees"]] == [1, 2]
    assert by_version["2021.12"]["status"] == "supported"
    assert all(v["disk_bytes"] > 0 for v in listing["versions"])
    assert cli("list", root=root) == 0
    assert "2023.06  2" in capsys.readouterr().out

    assert cli("set-pro", "2021.12", root=root) == 0
    assert os.readlink(base / "pro") == "2021.12"
    assert cli("rollback", "2023.06", root=root) == 0
    assert os.readlink(base / "2023.06") == "._2023.06.1"
    assert cli("rollback", "2023.06", root=root) == 2  # nothing older than .1
    assert cli("verify", root=root) == 0
    assert capsys.readouterr().out.count(": ok") == 3

    tree = base / "._2023.06.1"
    (tree / "lib" / "mod0.py").write_text("tampered\n")
    (tree / "lib" / "mod1.py").unlink()
    (tree / "lib" / "added.py").write_text("new\n")
    assert cli("verify", "2023.06", root=root) == RecordError.exit_code
    out = capsys.readouterr()
    assert "modified: lib/mod0.py" in out.out
    assert "missing: lib/mod1.py" in out.out
    assert "extra: lib/added.py" in out.out
    assert one_error(out.err) and "error: 2023.06.1 differ" in out.err
    assert cli("verify", "2023.06.2", root=root) == 0

    assert cli("remove", "2023.06.1", root=root) == 2  # current patch
    assert cli("remove", "2021.12", root=root) == 2  # pro
    assert "set-pro" in capsys.readouterr().err
    assert cli("remove", "2023.06.2", root=root) == 0  # an older... no: the newer, not current
    assert not (base / "._2023.06.2").exists()
    assert cli("set-pro", "2023.06", root=root) == 0
    assert cli("remove", "2021.12", root=root) == 0
    assert not (base / "2021.12").exists() and not (base / "._2021.12.1").exists()
    assert cli("remove", "2021.12", root=root) == 2
    assert sorted(p.name for p in base.iterdir()) == ["._2023.06.1", "2023.06", "pro"]


def test_set_pro_refuses_end_of_life_and_missing(bases: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert cli("install", str(bases["eol"]), root=root) == 0
    assert cli("set-pro", "2020.11", root=root) == 2
    assert not (root / "base" / "pro").exists()
    assert cli("set-pro", "2020.11", "--force", root=root) == 0
    assert os.readlink(root / "base" / "pro") == "2020.11"
    assert cli("set-pro", "2023.06", root=root) == 2
    assert cli("set-pro", "banana", root=root) == 2


def test_remove_force_current_patch_rolls_back(bases: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    for b in ("23p1", "23p2"):
        assert cli("install", str(bases[b]), "--pro", "--read-only", root=root) == 0
    tree = root / "base" / "._2023.06.2"
    assert not (tree / "lib").stat().st_mode & 0o222  # the mode, whoever runs the test
    assert not (tree / "lib" / "mod0.py").stat().st_mode & 0o222
    assert cli("remove", "2023.06.2", "--force", root=root) == 0
    assert os.readlink(root / "base" / "2023.06") == "._2023.06.1"
    assert not tree.exists()
    assert cli("remove", "2023.06", "--force", root=root) == 0
    assert sorted(p.name for p in (root / "base").iterdir()) == []


def test_remove_refuses_a_tree_in_use_on_this_host(bases: dict[str, Path], tmp_path: Path) -> None:
    """An old patch tree that a process of this host runs from (here: its working directory; a
    Python's executable and mapped libraries count too) is kept unless --force."""
    root = tmp_path / "root"
    for b in ("23p1", "23p2"):
        assert cli("install", str(bases[b]), "--pro", root=root) == 0
    old = root / "base" / "._2023.06.1"
    user = subprocess.Popen(["sleep", "60"], cwd=old / "lib")
    try:
        proc = run_cli("remove", "2023.06.1", root=root)
        assert proc.returncode == 2 and one_error(proc.stderr), proc.stderr
        assert f"in use on this host by 1 process(es) (pid {user.pid}: sleep 60)" in proc.stderr
        assert "--force" in proc.stderr and old.is_dir()
        assert run_cli("remove", "2023.06.1", "--force", root=root).returncode == 0
        assert not old.exists() and user.poll() is None  # removed under it; it still runs
    finally:
        user.kill()
        user.wait()
    assert_complete(root, "pro")


def test_zst_url_and_file_url(bases: dict[str, Path], tmp_path: Path) -> None:
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "root"
    zst = bases["23p1"].with_name(bases["23p1"].name.replace(".tar.gz", ".tar.zst"))
    assert cli("install", str(zst), root=root) == 0
    assert patch_of(root, "2023.06") == 1
    assert cli("install", bases["23p2"].as_uri(), root=root) == 0
    assert patch_of(root, "2023.06") == 2

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = lambda *a: Quiet(*a, directory=str(bases["21p1"].parent))  # noqa: E731
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{bases['21p1'].name}"
        assert cli("install", url, root=root) == 0
        assert cli("install", url.replace("2021.12", "2022.12"), root=root) == (
            SourceError.exit_code
        )  # 404
    finally:
        server.shutdown()
        server.server_close()
    assert patch_of(root, "2021.12") == 1
    assert hidden_leftovers(root) == []


@pytest.mark.parametrize("minor", REQUIRED_PYTHONS)
def test_runs_on_every_python(bases: dict[str, Path], tmp_path: Path, minor: str) -> None:
    """The installer is stdlib-only and runs on every base's Python (3.7 to 3.14, it ships in
    each of them) and on RHEL 9's system python (3.9): install, verify, list, rollback, remove."""
    python = python_exe(minor)
    env = {"PYTHONPATH": f"{PROJECT / 'src'}:{PROJECT / 'installer'}", "PATH": "/usr/bin:/bin"}
    root = tmp_path / "root"
    for args in (
        ("install", str(bases["23p1"]), "--pro"),
        ("install", str(bases["23p2"])),
        ("verify",),
        ("list", "--json"),
        ("rollback", "2023.06"),
        ("remove", "2023.06.2"),
    ):
        proc = subprocess.run(
            [str(python), "-m", "acc_py_install", *args, "--root", str(root)],
            capture_output=True, text=True, env=env, check=False, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert patch_of(root, "pro") == 1
    assert [t.name for t in (root / "base").glob("._*")] == ["._2023.06.1"]


# --- hostile and broken input ------------------------------------------------------------------


def _hostile(dist: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A gzipped tarball like a base (metadata first, right checksum) plus ``extra`` members."""
    dist.mkdir(parents=True)
    meta = json.dumps({"version": "2023.06", "patch": 9, "platform": HOST_TAG}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (
            ("2023.06/ACC-PY.RECORD", b"ACC-PY.RECORD,,\n"),
            ("2023.06/ACC-PY.json", meta),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path = dist / f"acc-py-base-2023.06-{HOST_TAG}.tar.gz"
    path.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644,
            data: bytes = b"x\n") -> tuple[tarfile.TarInfo, bytes | None]:  # fmt: skip
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


HOSTILE = {
    "absolute path": [_member("/tmp/evil")],
    "dot-dot": [_member("2023.06/../../evil")],
    "symlink out": [_member("2023.06/lnk", tarfile.SYMTYPE, "../../../etc")],
    "absolute symlink": [_member("2023.06/lnk", tarfile.SYMTYPE, "/etc/passwd")],
    "write through symlink": [
        _member("2023.06/d", tarfile.SYMTYPE, ".."),
        _member("2023.06/d/escaped"),
    ],
    "hard link out": [_member("2023.06/hl", tarfile.LNKTYPE, "/etc/passwd")],
    "device": [_member("2023.06/dev", tarfile.CHRTYPE)],
    "fifo": [_member("2023.06/fifo", tarfile.FIFOTYPE)],
    "setuid": [_member("2023.06/bin/su", mode=0o4755)],
    "setgid": [_member("2023.06/bin/sg", mode=0o2755)],
    "second top dir": [_member("other/file")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_refused_and_nothing_written(
    case: str, bases: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    assert cli("install", str(bases["23p1"]), "--pro", root=root) == 0
    before = sorted(os.listdir(root / "base"))
    capsys.readouterr()
    code = cli("install", str(_hostile(tmp_path / "dist", HOSTILE[case])), root=root)
    err = capsys.readouterr().err
    assert code in (ArchiveError.exit_code, MetadataError.exit_code), err
    assert one_error(err), err
    assert sorted(os.listdir(root / "base")) == before
    assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()
    assert_complete(root, "pro")


def _broken(bases: dict[str, Path], tmp: Path, how: str) -> Path:
    src = bases["23p1"]
    dist = tmp / "broken"
    dist.mkdir()
    data = src.read_bytes()
    name = src.name
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "corrupt":
        data = data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:]
    elif how == "renamed":
        name = name.replace("2023.06", "2024.01")
    elif how == "foreign platform":
        return fake_base(dist, platform="manylinux_2_99_x86_64")
    elif how == "other arch":
        return fake_base(dist, platform="manylinux_2_17_aarch64")
    path = dist / name
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    if how == "wrong checksum":
        digest = hashlib.sha256(b"other").hexdigest()
    if how != "no checksum":
        path.with_name(name + ".sha256").write_text(f"{digest}  {name}\n")
    return path


@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("truncated", ArchiveError.exit_code), ("corrupt", ArchiveError.exit_code),
        ("wrong checksum", ChecksumError.exit_code), ("no checksum", ChecksumError.exit_code),
        ("renamed", MetadataError.exit_code), ("foreign platform", MetadataError.exit_code),
        ("other arch", MetadataError.exit_code),
    ],
)  # fmt: skip
def test_broken_tarball_refused(
    how: str, code: int, bases: dict[str, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    root = tmp_path / "root"
    assert cli("install", str(bases["23p2"]), "--pro", root=root) == 0
    before = sorted(os.listdir(root / "base"))
    capsys.readouterr()
    assert cli("install", str(_broken(bases, tmp_path, how)), root=root) == code
    err = capsys.readouterr().err
    assert one_error(err), err
    assert sorted(os.listdir(root / "base")) == before
    assert patch_of(root, "pro") == 2


# --- crash safety, races, locks, readers -------------------------------------------------------


def _check_after_kill(root: Path, patches: set[int]) -> None:
    assert_complete(root, "2023.06")
    assert patch_of(root, "2023.06") in patches
    assert os.readlink(root / "base" / "pro") == "2023.06"
    assert_complete(root, "pro")


def test_sigkill_at_every_step_of_install_rollback_remove(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """For each command, kill it (SIGKILL) at step 1, 2, ... until it runs to the end; after
    each kill the symlinks point to complete trees and a re-run completes."""
    trials = 0
    commands = {
        "install": (("install", str(bases["23p3"]), "--pro"), {3}),
        "rollback": (("rollback", "2023.06"), {1}),
        "remove": (("remove", "2023.06.2", "--force"), {1}),
    }
    for what, (args, final) in commands.items():
        for step in range(1, 50):
            root = tmp_path / f"{what}-{step}"
            for b in ("23p1", "23p2"):
                assert cli("install", str(bases[b]), "--pro", root=root) == 0
            proc = run_cli(*args, root=root, env={"ACC_PY_INSTALL_CRASH_AT": str(step)})
            trials += 1
            _check_after_kill(root, {1, 2, 3})
            if proc.returncode == 0:
                break
            assert proc.returncode == -signal.SIGKILL, proc.stderr
            # Killed after its last switch, the command is done: rollback and remove are not
            # idempotent, so only a mutating no-op runs (it cleans up under the lock).
            done = patch_of(root, "2023.06") in final and not (
                what == "remove" and (root / "base" / "._2023.06.2").exists()
            )
            again = run_cli(*(("set-pro", "2023.06") if done else args), root=root)
            assert again.returncode == 0, again.stderr
            _check_after_kill(root, final)
            assert hidden_leftovers(root) == [], f"{what} killed at step {step}"
            shutil.rmtree(root)
        else:
            pytest.fail(f"{what} never ran to the end")
        assert step > 3, f"{what}: only {step} steps?"
    print(f"\nSIGKILL trials at every step: {trials}")


def test_sigkill_at_random_times(bases: dict[str, Path], tmp_path: Path) -> None:
    rng = random.Random(3)
    root = tmp_path / "root"
    for b in ("23p1", "23p2"):
        assert cli("install", str(bases[b]), "--pro", root=root) == 0
    cmd = [sys.executable, "-m", "acc_py_install", "install", str(bases["23p3"]),
           "--root", str(root), "--pro"]  # fmt: skip
    # how long a whole run takes here: the kills land inside it, at random times
    start = time.monotonic()
    assert subprocess.run(cmd, capture_output=True, check=False).returncode == 0
    duration = time.monotonic() - start
    assert cli("remove", "2023.06.3", "--force", root=root) == 0
    # counted, not timed: runs until that many kills landed mid-run; a run that ended first
    # (a faster machine than the first run said) makes the next delays shorter
    wanted, kills, attempts = 12, 0, 0
    while kills < wanted:
        attempts += 1
        assert attempts <= 20 * wanted, f"{kills} of {attempts} kills landed before the run ended"
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.8) * duration)
        proc.send_signal(signal.SIGKILL)
        landed = proc.wait() == -signal.SIGKILL
        kills += landed
        duration *= 1.0 if landed else 0.7
        _check_after_kill(root, {2, 3})
        if patch_of(root, "2023.06") == 3:  # done: go back to .2 for the next trial
            assert cli("remove", "2023.06.3", "--force", root=root) == 0
    print(f"\nrandom-time SIGKILL: {kills} kills mid-run in {attempts} runs")
    # a kill between mkdir(.lock.<token>) and writing its owner file leaves a directory that
    # nobody can tell from a racer's lock in the making for a minute: age such leftovers, as
    # the next run a minute later would find them
    for leftover in (root / "base").glob(".lock.*"):
        os.utime(leftover, (time.time() - 120, time.time() - 120))
    assert run_cli("install", str(bases["23p3"]), root=root).returncode == 0
    assert patch_of(root, "2023.06") == 3 and hidden_leftovers(root) == []


def test_two_installers_race(bases: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    for pair in (("23p1", "21p1"), ("23p2", "23p2")):
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "acc_py_install",
                    "install",
                    str(bases[b]),
                    "--root",
                    str(root),
                ],
                stderr=subprocess.PIPE,
                text=True,
            )
            for b in pair
        ]
        errs = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errs
    assert patch_of(root, "2023.06") == 2 and patch_of(root, "2021.12") == 1
    assert "nothing to do" in "".join(errs)  # the second of the same release was a no-op
    assert hidden_leftovers(root) == []
    assert_complete(root, "2023.06")


def _fake_lock(root: Path, pid: int, when: float, host: str | None = None) -> None:
    import socket

    lock = root / "base" / LOCK_NAME
    lock.mkdir(parents=True)
    owner = {"user": "alice", "host": host or socket.gethostname(), "pid": pid, "start": "",
             "time": when, "token": "feedface"}  # fmt: skip
    (lock / OWNER_NAME).write_text(json.dumps(owner))


def test_lock_waits_then_times_out_and_breaks_stale(bases: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    _fake_lock(root, os.getpid(), time.time())  # a live holder: this test process
    proc = run_cli("install", str(bases["23p1"]), "--timeout", "1", root=root)
    assert proc.returncode == LockError.exit_code
    assert proc.stderr.count("waiting for the lock held by alice@") == 1
    assert "pid" in proc.stderr and "since" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("error: ")
    assert not (root / "base" / "2023.06").exists()

    shutil.rmtree(root / "base" / LOCK_NAME)
    dead = subprocess.run(["true"], check=True)  # noqa: F841 - its pid is gone now
    _fake_lock(root, 2**22 + 12345, time.time())  # same host, no such process
    proc = run_cli("install", str(bases["23p1"]), "--timeout", "5", root=root)
    assert proc.returncode == 0, proc.stderr
    assert "removed the stale lock" in proc.stderr

    shutil.rmtree(root / "base")
    _fake_lock(root, 1, time.time() - 5 * 3600, host="elsewhere.cern.ch")  # too old
    proc = run_cli("install", str(bases["23p1"]), "--timeout", "5", root=root)
    assert proc.returncode == 0, proc.stderr
    assert not (root / "base" / LOCK_NAME).exists()


@pytest.fixture
def reader_loop() -> Iterator[tuple[list[str], list[int], Path]]:
    """A thread running ``<root>/base/pro/bin/python -c pass`` in a loop: (failures, runs, root)
    with root filled in by the test through ``holder``."""
    failures: list[str] = []
    runs = [0]
    stop = threading.Event()
    holder: list[Path] = []

    def loop() -> None:
        while not stop.is_set():
            if not holder:
                time.sleep(0.01)
                continue
            proc = subprocess.run(
                [str(holder[0] / "base" / "pro" / "bin" / "python"), "-c", "pass"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            runs[0] += 1
            if proc.returncode != 0:
                failures.append(f"{proc.returncode}: {proc.stderr.strip()}")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield failures, runs, holder  # type: ignore[misc]
    stop.set()
    thread.join()


def test_reader_loop_never_fails(bases: dict[str, Path], tmp_path: Path, reader_loop) -> None:  # type: ignore[no-untyped-def]
    failures, runs, holder = reader_loop
    root = tmp_path / "root"
    assert cli("install", str(bases["23p1"]), "--pro", root=root) == 0
    assert cli("install", str(bases["21p1"]), root=root) == 0
    holder.append(root)
    for _ in range(3):
        for args in (
            ("install", str(bases["23p2"])), ("set-pro", "2021.12"), ("set-pro", "2023.06"),
            ("install", str(bases["23p3"])), ("rollback", "2023.06"), ("rollback", "2023.06"),
            ("remove", "2023.06.3"), ("remove", "2023.06.2"),
        ):  # fmt: skip
            assert cli(*args, root=root) == 0, args
            seen = runs[0]  # a reader run starts and ends in every state
            deadline = time.monotonic() + 60
            while runs[0] < seen + 2 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert runs[0] >= seen + 2, "the reader loop stalled"
    assert runs[0] > 20
    assert failures == []
    print(f"\nreader loop: {runs[0]} runs of pro/bin/python, 0 failures")


MOUNT_HELP = "mounting a tmpfs needs root (or CAP_SYS_ADMIN): run the suite as root"


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 20 MiB tmpfs: a full disk on demand."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(
            f"cannot mount a tmpfs for the full-disk test ({proc.stderr.strip()}); {MOUNT_HELP}"
        )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_fails_cleanly(
    small_fs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_fs / "acc-py"
    p1 = fake_base(tmp_path / "p1", big=6 << 20)
    p2 = fake_base(tmp_path / "p2", patch=2, big=18 << 20)  # does not fit beside p1
    assert cli("install", str(p1), "--pro", root=root) == 0
    before = sorted(os.listdir(root / "base"))
    capsys.readouterr()
    assert cli("install", str(p2), root=root) == SpaceError.exit_code
    err = capsys.readouterr().err
    assert "no space left" in err and one_error(err), err
    assert sorted(os.listdir(root / "base")) == before
    _check_after_kill(root, {1})
    assert shutil.disk_usage(small_fs).used < 10 << 20  # the partial tree is gone


def test_ownerless_lock_leftovers_are_kept_a_minute_then_removed(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    """A prepared ``.lock.<token>`` without owner file may be a racer's lock in the making;
    after a minute it is an interrupted run's leftover, and the next run removes it."""
    root = tmp_path / "root"
    assert cli("install", str(bases["23p1"]), root=root) == 0
    young, old = root / "base" / ".lock.0123456789abcdef", root / "base" / ".lock.fedcba9876543210"
    young.mkdir()
    old.mkdir()
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert run_cli("install", str(bases["23p1"]), root=root).returncode == 0  # a no-op run
    assert young.is_dir() and not old.exists()


def test_make_install(bases: dict[str, Path], tmp_path: Path) -> None:
    """`make install TARBALL=… ROOT=…`, as the README shows it."""
    root = tmp_path / "root"
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT), "install",
         f"TARBALL={bases['23p1']}", f"ROOT={root}", "INSTALL_ARGS=--pro"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert os.readlink(root / "base" / "pro") == "2023.06"
    assert os.readlink(root / "base" / "2023.06") == "._2023.06.1"
    missing = subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT), "install"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "TARBALL=" in missing.stdout + missing.stderr


def test_install_refuses_a_downgrade_and_an_end_of_life_pro(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    assert cli("install", str(bases["23p2"]), "--pro", root=root) == 0
    older = run_cli("install", str(bases["23p1"]), root=root)
    assert (
        older.returncode == 2 and "rollback 2023.06" in older.stderr and "--force" in older.stderr
    )
    assert patch_of(root, "2023.06") == 2 and not (root / "base" / "._2023.06.1").exists()
    assert cli("install", str(bases["23p1"]), "--force", root=root) == 0
    assert patch_of(root, "2023.06") == 1
    eol = run_cli("install", str(bases["eol"]), "--pro", root=root)
    assert eol.returncode == 2 and "end of life" in eol.stderr
    assert not (root / "base" / "2020.11").exists()  # refused before anything was written
    assert os.readlink(root / "base" / "pro") == "2023.06"
    assert cli("install", str(bases["eol"]), root=root) == 0  # without --pro: fine


# --- durability --------------------------------------------------------------------------------


def test_durable_before_visible(bases: dict[str, Path], tmp_path: Path) -> None:
    """A power cut must find either no tree or a complete one: the system calls, in order, are
    syncfs (every file and directory of the new tree written back) before the tree is renamed
    into place, an fsync of base/ after that rename, and an fsync of base/ after each symlink
    is renamed over the old one."""
    strace = shutil.which("strace")
    assert strace, "strace is not installed: `make test-deps` installs it"
    root = tmp_path / "root"
    trace = tmp_path / "trace"
    proc = subprocess.run(
        [strace, "-f", "-qq", "-o", str(trace), "-e", "trace=syncfs,fsync,rename,renameat,"
         "renameat2,openat", sys.executable, "-m", "acc_py_install", "install",
         str(bases["23p1"]), "--pro", "--root", str(root)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    fds: dict[str, str] = {}  # fd -> path of the directories opened
    events: list[str] = []
    for line in trace.read_text().splitlines():
        call = line.split(None, 1)[1] if " " in line else line
        if call.startswith("openat(") and "O_DIRECTORY" in call and "= " in call:
            fds[call.rsplit("= ", 1)[1].strip()] = call.split('"')[1]
        elif call.startswith("fsync(") and "= 0" in call:
            fd = call[len("fsync(") :].split(")", 1)[0]
            events.append(f"fsync {fds.get(fd, '?')}")
        elif call.startswith("syncfs(") and "= 0" in call:
            events.append("syncfs")
        elif call.startswith("rename") and "= 0" in call:
            events.append("rename " + call.split('"')[3].rsplit("/", 1)[-1])
    base = str(root / "base")
    tree = events.index("rename ._2023.06.1")
    assert "syncfs" in events[:tree], events
    after = events[tree + 1 :]
    assert after[0] == f"fsync {base}", events
    for link in ("2023.06", "pro"):
        at = events.index(f"rename {link}")
        assert events[at + 1] == f"fsync {base}", events

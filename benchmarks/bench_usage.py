#!/usr/bin/env python3
"""Benchmark the usage logging, in one run: the hook's start-up cost and the collector's rate.

Start-up: ``python -c pass`` on one real 2023.06 base (built with ``make base``, or ``--dist``),
installed with acc-py-install into a root (``<root>/base/2023.06/bin/python3``, through the
version symlink, as consoles start it), interleaved, ``--runs`` times per mode, medians:
  - ``bare interpreter``: the base installed a second time, into another root of the same
    depth, without sitecustomize.py, its interpreter ``._2023.06.1/bin/.python3.X`` started
    directly: CPython with nothing of Acc-Py;
  - ``launcher, no hook``: that copy's ``2023.06/bin/python3``, the launcher that keeps a
    process on its tree (exec of the interpreter by its physical path), still without the hook;
  - ``opted out``: ACC_PY_NO_USAGE_LOG=1 (the hook pins the process to its tree and returns);
  - ``on, collector up`` / ``on, collector down``: a datagram to a listening / closed port;
  - ``venv, bare interpreter`` / ``venv, on``: a venv's python, made by ``python -m venv`` from
    the bare interpreter, and by ``acc-py venv`` from the installed base (the launcher, then the
    hook's pin of base_prefix and sys.path through the version symlink, then the datagram).
File-system calls per start are counted with ``strace -f -e trace=%file``.
Goal (the hook's budget, which now holds the launcher and the pin too): <= 1 ms added and <= 3
extra file-system calls over the bare interpreter.

Collector: ``acc-py-usage serve`` (SQLite) on 127.0.0.1; ``--burst`` datagrams sent as fast as
one sender can, stored per second from the first send to the last commit; then ``--paced``
seconds at 5,000 datagrams/s, where every datagram must be stored.
Goal: >= 20,000 datagrams/s stored, zero loss at 5,000/s. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "src"), str(PROJECT / "tests")]

from conftest import make_base  # noqa: E402

RECORD = {
    "v": 1, "time": 1.7e9, "user": "alice", "uid": 1000, "host": "pc1", "pid": 0,
    "base": "2023.06", "patch": 1, "status": "pro", "eol": "", "python": "3.11.7",
    "exe": "/acc/local/share/python/acc-py/base/2023.06/bin/python3",
    "venv": "/user/alice/venvs/project", "kind": "script", "target": "/user/alice/job.py",
}  # fmt: skip


def start_collector(work: Path) -> tuple[subprocess.Popen[bytes], int, Path, Path]:
    db, log = work / "usage.db", work / "serve.log"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "accpy_usage.cli", "serve", "--listen", "127.0.0.1:0",
             "--db", str(db)],
            stderr=err, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    for _ in range(600):
        for line in log.read_text().splitlines():
            if "listening on udp" in line:
                return proc, int(line.rsplit(":", 1)[1]), db, log
        time.sleep(0.05)
    raise SystemExit(f"collector did not start: {log.read_text()}")


def stop(proc: subprocess.Popen[bytes], log: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return log.read_text().strip().splitlines()[-1]


def count(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM invocations").fetchone()[0])
    finally:
        conn.close()


def file_calls(python: Path, env: dict[str, str]) -> int:
    with tempfile.NamedTemporaryFile() as out:
        subprocess.run(
            ["strace", "-f", "-e", "trace=%file", "-o", out.name, str(python), "-c", "pass"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        lines = Path(out.name).read_text().splitlines()
    return sum(1 for ln in lines if "+++" not in ln and "---" not in ln)


def startup(root: Path, bare_root: Path, runs: int, work: Path) -> dict[str, object]:
    proc, port, _db, log = start_collector(work)
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    down = closed.getsockname()[1]
    closed.close()
    env = {"HOME": str(work), "PATH": "/usr/bin:/bin", "USER": "bench", "LC_ALL": "C.UTF-8"}
    base = root / "base" / "2023.06"
    (interpreter,) = (bare_root / "base" / "2023.06").resolve().glob("bin/.python3.*")
    subprocess.run([str(interpreter), "-m", "venv", "--without-pip", "--system-site-packages",
                    str(work / "venv-bare")], env=env, check=True)  # fmt: skip
    subprocess.run([str(base / "bin" / "acc-py"), "venv", str(work / "venv-on")], env=env,
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    up = {**env, "ACC_PY_USAGE_COLLECTOR": f"127.0.0.1:{port}"}
    modes = {
        "bare interpreter": (interpreter, env),
        "launcher, no hook": (bare_root / "base" / "2023.06" / "bin" / "python3", env),
        "opted out": (base / "bin" / "python3", {**env, "ACC_PY_NO_USAGE_LOG": "1"}),
        "on, collector up": (base / "bin" / "python3", up),
        "on, collector down": (base / "bin" / "python3",
                               {**env, "ACC_PY_USAGE_COLLECTOR": f"127.0.0.1:{down}"}),
        "venv, bare interpreter": (work / "venv-bare" / "bin" / "python", env),
        "venv, on": (work / "venv-on" / "bin" / "python", up),
    }  # fmt: skip
    times: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    order = list(modes)
    for _ in range(runs):
        random.shuffle(order)  # no mode always runs first (or right after the collector woke)
        for mode in order:
            exe, e = modes[mode]
            start = time.perf_counter()
            pid = os.posix_spawn(exe, [str(exe), "-c", "pass"], e)
            _pid, status, usage = os.wait4(pid, 0)
            times[mode].append(time.perf_counter() - start)
            cpu[mode].append(usage.ru_utime + usage.ru_stime)
            assert os.waitstatus_to_exitcode(status) == 0
    stats_line = stop(proc, log)
    medians = {m: statistics.median(v) * 1000 for m, v in times.items()}
    cpu_medians = {m: statistics.median(v) * 1000 for m, v in cpu.items()}
    calls = {}
    if shutil.which("strace"):
        calls = {m: file_calls(exe, e) for m, (exe, e) in modes.items()}
    return {"median_ms": medians, "cpu_ms": cpu_medians, "file_calls": calls,
            "collector": stats_line}  # fmt: skip


def throughput(work: Path, burst: int, paced: float) -> dict[str, object]:
    proc, port, db, log = start_collector(work)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", port)
    data = [json.dumps({**RECORD, "pid": i}).encode() for i in range(burst)]
    start = time.perf_counter()
    for d in data:
        sock.sendto(d, target)
    sent_in = time.perf_counter() - start
    last, last_change = -1, time.perf_counter()
    while time.perf_counter() - last_change < 1.0:  # until the count stops growing for 1 s
        n = count(db)
        if n != last:
            last, last_change = n, time.perf_counter()
        if n >= burst:
            break
        time.sleep(0.02)
    stored_in = last_change - start
    burst_line = stop(proc, log)
    stored = count(db)

    paced_results = []
    for rate in (5000, 20000):
        proc, port, db, log = start_collector(work)
        target = ("127.0.0.1", port)
        total = int(rate * paced)
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            while time.perf_counter() < due:
                pass
            sock.sendto(data[i % burst], target)
        line = stop(proc, log)
        paced_results.append((rate, total, count(db), line))
    return {
        "burst": burst,
        "burst_send_rate": burst / sent_in,
        "burst_stored": stored,
        "stored_per_s": stored / stored_in if stored_in > 0 else float("inf"),
        "burst_collector": burst_line,
        "paced": paced_results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dist", type=Path, help="dist/ of a built base (default: build one)")
    parser.add_argument("--runs", type=int, default=200, help="starts per mode (default 200)")
    parser.add_argument("--burst", type=int, default=100_000, help="datagrams in the burst")
    parser.add_argument("--paced", type=float, default=5.0, help="seconds at 5,000/s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-usage-") as tmp:
        work = Path(tmp)
        dist = args.dist
        if dist is None:
            proc = make_base(work, "http://127.0.0.1:1/simple/")
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            dist = work / "dist"
        (tarball,) = sorted(dist.glob("acc-py-base-*.tar.gz"))
        root, bare_root = work / "root", work / "bare"
        for where in (root, bare_root):
            subprocess.run([sys.executable, "-m", "acc_py_install", "-q", "install",
                            str(tarball), "--root", str(where)], check=True)  # fmt: skip
        bare = (bare_root / "base" / "2023.06").resolve()  # the same names, the same depth
        for p in bare.glob("lib/python3.*/**/sitecustomize*"):
            p.unlink()
        s = startup(root, bare_root, args.runs, work)
        t = throughput(work, args.burst, args.paced)
    med: dict[str, float] = s["median_ms"]  # type: ignore[assignment]
    cpu: dict[str, float] = s["cpu_ms"]  # type: ignore[assignment]
    calls: dict[str, int] = s["file_calls"]  # type: ignore[assignment]
    print(f"start-up, python -c pass, median of {args.runs} runs each (interleaved):")
    print("  mode                    wall ms  (vs bare)   CPU ms  (vs bare)  file calls (vs bare)")
    for mode, ms in med.items():
        ref = "venv, bare interpreter" if mode.startswith("venv") else "bare interpreter"
        c = cpu[mode]
        extra = f"{calls[mode]:4d} ({calls[mode] - calls[ref]:+3d})" if calls else ""
        print(f"  {mode:22s} {ms:7.2f}  ({ms - med[ref]:+5.2f})   {c:6.2f}  ({c - cpu[ref]:+5.2f})"
              f"   {extra}")  # fmt: skip
    bare_ms, venv_ms = med["bare interpreter"], med["venv, bare interpreter"]
    print(
        f"  of which the launcher: {med['launcher, no hook'] - bare_ms:+.2f} ms; the hook "
        f"(pin + datagram): {med['on, collector up'] - med['launcher, no hook']:+.2f} ms"
    )
    print(
        f"  ratio base on/bare: {med['on, collector up'] / bare_ms:.3f}, venv on/bare: "
        f"{med['venv, on'] / venv_ms:.3f} (goal: <= 1 ms added, <= 3 extra file calls)"
    )
    print(f"  collector during the start-up runs: {s['collector']}")
    print(f"collector (SQLite, loopback): burst of {t['burst']} sent at "
          f"{t['burst_send_rate']:,.0f}/s, {t['burst_stored']} stored, "
          f"{t['stored_per_s']:,.0f} datagrams/s stored (goal >= 20,000)")  # fmt: skip
    print(f"  {t['burst_collector']}")
    for rate, sent, stored, line in t["paced"]:  # type: ignore[attr-defined]
        print(f"  paced {rate:,}/s for {args.paced:g} s: sent {sent}, stored {stored}, "
              f"lost {sent - stored}" + (" (goal 0)" if rate == 5000 else ""))  # fmt: skip
        print(f"    {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
  - ``on, host name``: the collector named ``localhost:PORT``, its address read from the file
    that ``acc-py-install resolve-collector`` wrote beside the trees (one open, no DNS);
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "src"), str(PROJECT / "tests")]

from _results import Results, add_results_argument, median, ratio, verdict  # noqa: E402
from conftest import make_base  # noqa: E402

ADDED_MS, EXTRA_CALLS = 1.0, 3  # the hook's budget over the bare interpreter
STORED_PER_S = 20_000  # the collector's goal, and zero loss at 5,000/s

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
    named = f"localhost:{port}"  # resolved now, into <root>/base/.usage-collector
    subprocess.run([sys.executable, "-m", "acc_py_install", "-q", "resolve-collector", named,
                    "--root", str(root)], check=True)  # fmt: skip
    modes = {
        "bare interpreter": (interpreter, env),
        "launcher, no hook": (bare_root / "base" / "2023.06" / "bin" / "python3", env),
        "opted out": (base / "bin" / "python3", {**env, "ACC_PY_NO_USAGE_LOG": "1"}),
        "on, collector up": (base / "bin" / "python3", up),
        "on, collector down": (base / "bin" / "python3",
                               {**env, "ACC_PY_USAGE_COLLECTOR": f"127.0.0.1:{down}"}),
        "on, host name": (base / "bin" / "python3", {**env, "ACC_PY_USAGE_COLLECTOR": named}),
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
    medians = {m: median(v) * 1000 for m, v in times.items()}
    cpu_medians = {m: median(v) * 1000 for m, v in cpu.items()}
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
    add_results_argument(parser)
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
    results = Results("bench_usage", "The usage logging: start-up cost and collector rate", __doc__)
    rows = []
    for mode, ms in med.items():
        ref = "venv, bare interpreter" if mode.startswith("venv") else "bare interpreter"
        c = cpu[mode]
        extra = [f"{calls[mode]}", f"{calls[mode] - calls[ref]:+d}"] if calls else ["", ""]
        rows.append([mode, f"{ms:.2f}", f"{ms - med[ref]:+.2f}", f"{ratio(ms, med[ref]):.3f}x",
                     f"{c:.2f}", f"{c - cpu[ref]:+.2f}", *extra])  # fmt: skip
    results.table(
        f"start-up, python -c pass, median of {args.runs} runs each (interleaved)",
        ["mode", "wall ms", "vs bare", "/ bare", "CPU ms", "vs bare", "file calls", "vs bare"],
        rows,
    )
    bare_ms, venv_ms = med["bare interpreter"], med["venv, bare interpreter"]
    launcher = med["launcher, no hook"]
    added = max(med["on, collector up"] - bare_ms, med["venv, on"] - venv_ms)
    met = added <= ADDED_MS
    counted = " (file-system calls not counted: no strace)"
    if calls:
        extra_calls = max(calls["on, collector up"] - calls["bare interpreter"],
                          calls["venv, on"] - calls["venv, bare interpreter"])  # fmt: skip
        met &= extra_calls <= EXTRA_CALLS
        counted = f" and {extra_calls:+d} file-system calls"
    results.summary(
        f"the hook (with the launcher and the pin) adds {added:+.2f} ms{counted} over the bare "
        f"interpreter (goal <= {ADDED_MS:g} ms, <= {EXTRA_CALLS} calls): {verdict(met)}"
    )
    results.summary(
        f"of which the launcher: {launcher - bare_ms:+.2f} ms; the hook (pin + datagram): "
        f"{med['on, collector up'] - launcher:+.2f} ms, by host name: "
        f"{med['on, host name'] - launcher:+.2f} ms"
    )
    results.summary(
        f"ratio base on / bare: {ratio(med['on, collector up'], bare_ms):.3f}x, venv on / bare: "
        f"{ratio(med['venv, on'], venv_ms):.3f}x"
    )
    print(f"  collector during the start-up runs: {s['collector']}")
    results.figures.update(startup_median_ms=med, startup_cpu_ms=cpu, file_calls=calls)

    burst: int = t["burst"]  # type: ignore[assignment]
    stored: int = t["burst_stored"]  # type: ignore[assignment]
    send_rate: float = t["burst_send_rate"]  # type: ignore[assignment]
    stored_per_s: float = t["stored_per_s"]  # type: ignore[assignment]
    paced: list[tuple[int, int, int, str]] = t["paced"]  # type: ignore[assignment]
    results.table(
        "collector (acc-py-usage serve, SQLite, loopback)",
        ["load", "sent", "stored", "lost", "stored per s"],
        [[f"burst, sent at {send_rate:,.0f}/s", burst, stored, burst - stored,
          f"{stored_per_s:,.0f}"],
         *([f"paced {rate:,}/s for {args.paced:g} s", n, kept, n - kept, ""]
           for rate, n, kept, _line in paced)],
    )  # fmt: skip
    print(f"  burst: {t['burst_collector']}")
    for rate, _sent, _stored, line in paced:
        print(f"  paced {rate:,}/s: {line}")
    lost_5000 = next(sent - stored for rate, sent, stored, _ in paced if rate == 5000)
    results.summary(
        f"the collector stores {stored_per_s:,.0f} datagrams/s (goal >= {STORED_PER_S:,}): "
        f"{verdict(stored_per_s >= STORED_PER_S)}; loses {lost_5000} at 5,000/s (goal 0): "
        f"{verdict(lost_5000 == 0)}"
    )
    results.figures.update(collector={k: v for k, v in t.items() if "collector" not in k})
    results.write(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

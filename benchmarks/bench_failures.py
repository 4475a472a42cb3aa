#!/usr/bin/env python3
"""How fast the builder says no: the figures that used to be timing assertions in the tests.

    benchmarks/bench_failures.py [--runs 3]

Each case runs ``acc-py-build base 2023.06`` as a user would, with an empty cache, and must
fail with its error line (the checks list the offending files below it); the median wall time
of ``--runs`` runs is printed:

- an unreachable mirror (a closed port on 127.0.0.1): the way out (PBS_MIRROR=, INTERPRETER=)
  at once, no retries against a refused connection;
- the default source, GitHub, from a machine that cannot reach it (these machines);
- ``PLATFORM=manylinux_2_28_x86_64`` for this machine's interpreter: refused by the ELF checks,
  before bytecode and packing (the wheels come from the warm test cache).
Goals: under 5 s, 15 s and 120 s.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _results import Results, add_results_argument, median, ratio, runs, verdict

PROJECT = Path(__file__).resolve().parent.parent
CACHE = PROJECT / ".cache" / "test-wheels"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(args: list[str], work: Path, cache: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "accpy_builder.cli", "base", "2023.06", *args,
         "--manifest", str(PROJECT / "versions.yaml"), "--cache-dir", str(cache),
         "--work-dir", str(work / "build"), "--dist-dir", str(work / "dist")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    if proc.returncode == 0 or len(errors) != 1:
        raise SystemExit(f"expected one error line from {args}, got:\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    add_results_argument(parser)
    args = parser.parse_args()
    refused = ["--interpreter", sys.base_prefix, "--platform", "manylinux_2_28_x86_64"]
    # name -> (arguments, goal in seconds, whether the warm wheel cache is used)
    cases: dict[str, tuple[Callable[[], list[str]], float, bool]] = {
        "unreachable mirror (closed port)": (
            lambda: ["--pbs-mirror", f"http://127.0.0.1:{closed_port()}/pbs"], 5.0, False,
        ),
        "default source, GitHub unreachable": (list, 15.0, False),
        "manylinux_2_28 refused by the checks": (lambda: refused, 120.0, True),
    }  # fmt: skip
    rows = []
    ok = True
    for name, (make_args, goal, warm) in cases.items():
        times = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-fail-") as tmp:
                work = Path(tmp)
                times.append(timed(make_args(), work, CACHE if warm else work / "cache"))
        med = median(times)
        ok &= med <= goal
        rows.append([name, f"{med:.2f} s", f"{goal:g} s", f"{ratio(med, goal):.2f}x", runs(times)])
    results = Results("bench_failures", "How fast the builder says no", __doc__)
    results.table(
        f"acc-py-build base 2023.06 refusing, median of {args.runs} runs each",
        ["case", "median", "goal (at most)", "median / goal", "runs (s)"],
        rows,
    )
    results.summary(f"every refusal within its goal: {verdict(ok)}")
    results.write(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Time ``acc-py-install install`` of a base tarball against a plain ``tar xf`` of the same
tarball into the same file system; median of N runs each (interleaved), and their ratio.

    python benchmarks/bench_install.py [--tarball dist/acc-py-base-2023.06-<platform>.tar.gz]
                                       [--runs 3] [--dir DIR]

Without --tarball it uses dist/ or builds the base first (make base VERSION=2023.06
INTERPRETER=auto PLATFORM=auto). The install includes everything it always does: sha256 check,
metadata and host checks, unpacking with hostile-member checks and hashing, verification of every
file against ACC-PY.RECORD, making the tree durable before it is renamed into place (syncfs,
then fsync of base/ after the renames: tar xf does none of this), the rename and the symlink
switch. Every timed run starts after an untimed sync. Goal: at most 1.3x tar xf.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import Results, add_results_argument, clock

PROJECT = Path(__file__).resolve().parent.parent
GOAL = 1.3  # acc-py-install install / tar xf


def find_tarball() -> Path:
    found = sorted((PROJECT / "dist").glob("acc-py-base-2023.06-*.tar.gz"))
    if not found:
        subprocess.run(
            ["make", "-C", str(PROJECT), "base", "VERSION=2023.06", "INTERPRETER=auto",
             "PLATFORM=auto"],
            check=True,
        )  # fmt: skip
        found = sorted((PROJECT / "dist").glob("acc-py-base-2023.06-*.tar.gz"))
    return found[-1]


def timed(cmd: list[str]) -> float:
    return clock(subprocess.run, cmd, check=True, stdout=subprocess.DEVNULL, sync=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to install (default: a temp dir)")
    add_results_argument(parser)
    args = parser.parse_args()
    tarball = (args.tarball or find_tarball()).resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-install-", dir=args.dir))
    installer = [sys.executable, "-m", "acc_py_install", "-q", "install"]
    tar_times: list[float] = []
    install_times: list[float] = []
    try:
        for i in range(args.runs):
            dest = work / f"tar-{i}"
            dest.mkdir()
            tar_times.append(timed(["tar", "xf", str(tarball), "-C", str(dest)]))
            install_times.append(timed([*installer, str(tarball), "--root", str(work / f"r-{i}")]))
            shutil.rmtree(dest)
            shutil.rmtree(work / f"r-{i}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = Results("bench_install", "acc-py-install install against tar xf", __doc__)
    ratio = results.compare(
        f"{tarball.name} ({tarball.stat().st_size / 2**20:.0f} MiB), median of {args.runs}",
        ("acc-py-install install", install_times),
        ("tar xf", tar_times),
        goal=GOAL,
    )
    results.summary(
        f"acc-py-install install takes {ratio:.2f}x tar xf of the same tarball "
        f"(goal <= {GOAL:g}x), verification and durability included"
    )
    results.write(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Time ``acc-py venv`` against ``python -m venv --system-site-packages`` and ``uv venv
--system-site-packages`` on the same Acc-Py base, in one run; print medians and ratios.

    benchmarks/bench_venv.py                  # builds 2023.06 (make base ... INTERPRETER=auto)
    benchmarks/bench_venv.py --base DIR       # an unpacked base (its top directory)

Each tool makes ``--runs`` fresh venvs (default 10) in the same temp directory; afterwards pip
must work in the acc-py venv (``venv/bin/python -m pip --version``). Goal: acc-py median
<= 60 ms and >= 30x faster than python -m venv.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
VERSION = "2023.06"


def build_base(work: Path) -> Path:
    subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT), "base", f"VERSION={VERSION}",
         "INTERPRETER=auto", "PLATFORM=auto", f"WORK_DIR={work / 'build'}",
         f"DIST_DIR={work / 'dist'}"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    (tarball,) = (work / "dist").glob("*.tar.gz")
    root = work / "root" / "base"
    root.mkdir(parents=True)
    subprocess.run(["tar", "xf", str(tarball), "-C", str(root)], check=True)
    (root / VERSION).rename(root / f"._{VERSION}.1")
    (root / VERSION).symlink_to(f"._{VERSION}.1")
    return root / VERSION


def timed(cmd: list[str], target: Path, runs: int) -> list[float]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(target.parent), "LC_ALL": "C.UTF-8"}
    times = []
    for _ in range(runs):
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run(
            [*cmd, str(target)], check=True, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="an unpacked base (default: build 2023.06)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-venv-") as tmp:
        work = Path(tmp)
        base = args.base.absolute() if args.base else build_base(work)
        python = sorted(base.glob("bin/python3.*[0-9]"))[0]
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        target = work / "venv"
        tools = {
            "acc-py venv": [str(base / "bin" / "acc-py"), "venv"],
            "python -m venv --system-site-packages": [
                str(python), "-m", "venv", "--system-site-packages"],
            "uv venv --system-site-packages": [
                uv, "venv", "--quiet", "--system-site-packages", "--python", str(python)],
        }  # fmt: skip
        medians = {name: statistics.median(timed(cmd, target, args.runs)) for name, cmd in
                   tools.items()}  # fmt: skip
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([*tools["acc-py venv"], str(target)], check=True, stdout=subprocess.DEVNULL)
        pip = subprocess.run(
            [str(target / "bin" / "python"), "-m", "pip", "--version"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    acc = medians["acc-py venv"]
    print(f"base {base} ({python.name}), {args.runs} runs each, medians:")
    print(f"{'tool':40} {'median':>10} {'vs acc-py':>10}")
    for name, med in medians.items():
        print(f"{name:40} {med * 1000:8.1f}ms {med / acc:9.1f}x")
    ok = pip.returncode == 0
    print(f"pip in the acc-py venv: {pip.stdout.strip() if ok else 'FAILED ' + pip.stderr}")
    goal = acc <= 0.060 and medians["python -m venv --system-site-packages"] / acc >= 30
    print(f"goal (<= 60 ms, >= 30x python -m venv): {'met' if goal else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

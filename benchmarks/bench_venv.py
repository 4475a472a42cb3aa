#!/usr/bin/env python3
"""Time ``acc-py venv`` against ``python -m venv --system-site-packages`` and ``uv venv
--system-site-packages`` on the same Acc-Py base, in one run; print medians and ratios.

    benchmarks/bench_venv.py                  # builds 2023.06 (make base ... INTERPRETER=auto)
    benchmarks/bench_venv.py --base DIR       # an unpacked base (its top directory)

Each tool makes ``--runs`` fresh venvs (default 10) at the same path, the tools taking turns
(run 1 of each, then run 2 of each, ...), timed from this process (fork, exec, wait). Afterwards
pip must work in the acc-py venv (``venv/bin/python -m pip --version``). Goal: acc-py's median
<= 0.5x uv's, pip working.
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
GOAL = 0.5  # acc-py venv / uv venv


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


def timed(cmd: list[str], target: Path) -> float:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(target.parent), "LC_ALL": "C.UTF-8"}
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(
        [*cmd, str(target)], check=True, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start


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
        times: dict[str, list[float]] = {name: [] for name in tools}
        for _ in range(args.runs):
            for name, cmd in tools.items():
                times[name].append(timed(cmd, target))
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([*tools["acc-py venv"], str(target)], check=True, stdout=subprocess.DEVNULL)
        pip = subprocess.run(
            [str(target / "bin" / "python"), "-m", "pip", "--version"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    medians = {name: statistics.median(t) for name, t in times.items()}
    acc = medians["acc-py venv"]
    print(f"base {base} ({python.name}), {args.runs} runs each, interleaved:")
    print(f"{'tool':40} {'median':>10} {'vs acc-py':>10}  runs (ms)")
    for name, med in medians.items():
        runs = ", ".join(f"{t * 1000:.1f}" for t in times[name])
        print(f"{name:40} {med * 1000:8.2f}ms {med / acc:9.1f}x  {runs}")
    ok = pip.returncode == 0
    print(f"pip in the acc-py venv: {pip.stdout.strip() if ok else 'FAILED ' + pip.stderr}")
    ratio = acc / medians["uv venv --system-site-packages"]
    met = ratio <= GOAL and ok
    print(f"acc-py venv / uv venv: {ratio:.2f}x")
    print(f"goal (<= {GOAL}x uv venv, pip working): {'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

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
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import Results, add_results_argument, clock, median, ratio, runs, verdict

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
    return clock(
        subprocess.run, [*cmd, str(target)], check=True, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="an unpacked base (default: build 2023.06)")
    parser.add_argument("--runs", type=int, default=10)
    add_results_argument(parser)
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
    medians = {name: median(t) for name, t in times.items()}
    acc = medians["acc-py venv"]
    uv_name = "uv venv --system-site-packages"
    results = Results("bench_venv", "acc-py venv against python -m venv and uv venv", __doc__)
    print(f"base {base} ({python.name})")
    results.table(
        f"a fresh venv on {python.name}, median of {args.runs} runs each, interleaved",
        ["tool", "median", "acc-py venv / this", "runs (ms)"],
        [[name, f"{med * 1000:.2f} ms", f"{ratio(acc, med):.3f}x", runs(times[name], 1, 1000)]
         for name, med in medians.items()],
    )  # fmt: skip
    ok = pip.returncode == 0
    to_uv = ratio(acc, medians[uv_name])
    results.figures.update(runs_s=times, acc_py_over_uv=to_uv, pip_works=ok)
    results.summary(f"acc-py venv takes {to_uv:.2f}x uv venv (goal <= {GOAL:g}x, pip working): "
                    f"{verdict(to_uv <= GOAL and ok)}")  # fmt: skip
    version = pip.stdout.split(" from ")[0].strip()  # not the temporary venv's path
    results.summary(f"pip in the acc-py venv: {version if ok else 'FAILED'}")
    if not ok:
        print(pip.stderr, file=sys.stderr)
    results.write(args.results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

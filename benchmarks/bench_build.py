#!/usr/bin/env python3
"""Benchmark: ``make base`` from a warm cache against the bare pipeline, in one run.

The bare pipeline is what any build must do at least: untar the interpreter, ``uv pip install``
the pinned wheels from the wheelhouse, tar and compress the result. ``make base`` adds
relocation, bytecode, every check, metadata and a second (zstd) archive.

Both start from the same python-build-standalone-layout archive, served from a ``file://``
mirror that this script makes from a CPython on this machine (GitHub is not reachable here).
Reports the median of ``--runs`` runs of each (interleaved) and their ratio. Goal: ratio <= 1.3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(PROJECT / "src"), str(PROJECT / "tests")]

from conftest import local_pythons  # noqa: E402
from pbs_mirror import make_pbs_mirror  # noqa: E402

from accpy_manifest import get_base, load_manifest  # noqa: E402

sys.path.insert(0, str(PROJECT / "tests" / "integration"))
from _results import Results, add_results_argument, clock  # noqa: E402
from test_build_pbs import patched_manifest  # noqa: E402

GOAL = 1.3  # make base / the bare pipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2023.06", help="base version (default 2023.06)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each pipeline (default 3)")
    add_results_argument(parser)
    args = parser.parse_args()

    base = get_base(load_manifest(PROJECT / "versions.yaml"), args.version)
    prefix = local_pythons().get(base.python_minor)
    if prefix is None:
        sys.exit(f"no CPython {base.python_minor} on this machine to make the mirror from")
    bin_dir = Path(sys.executable).parent
    uv = shutil.which("uv", path=str(bin_dir)) or "uv"

    with tempfile.TemporaryDirectory(prefix="acc-py-bench-") as tmp_name:
        tmp = Path(tmp_name)
        mirror = tmp / "mirror"
        asset = make_pbs_mirror(mirror, prefix, flavor="install_only", python_version=prefix.name)
        manifest = patched_manifest(tmp, args.version, prefix.name, asset)
        cache = tmp / "cache"
        make_base = [
            "make",
            "--no-print-directory",
            "-C",
            str(PROJECT),
            "base",
            f"VERSION={args.version}",
            f"MANIFEST={manifest}",
            f"PBS_MIRROR={mirror.as_uri()}",
            "PLATFORM=auto",
            f"CACHE_DIR={cache}",
            f"WORK_DIR={tmp / 'build'}",
            f"DIST_DIR={tmp / 'dist'}",
        ]
        print(f"warming the cache: one make base {args.version} (not timed)", flush=True)
        subprocess.run(make_base, check=True, capture_output=True)
        reqs = tmp / "requirements.txt"
        reqs.write_text("".join(p.requirement() + "\n" for p in base.packages))
        archive = mirror / asset.tag / asset.asset

        def bare() -> None:
            work = tmp / "bare"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
            subprocess.run(["tar", "xzf", str(archive), "-C", str(work)], check=True)
            subprocess.run(
                [
                    uv,
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    str(work / "python" / "bin" / "python3"),
                    "--no-config",
                    "--no-cache",
                    "--break-system-packages",
                    "--link-mode",
                    "copy",
                    "--no-index",
                    "--find-links",
                    str(cache / "wheels"),
                    "--require-hashes",
                    "-r",
                    str(reqs),
                ],
                check=True,
                env=env,
            )
            subprocess.run(
                ["tar", "czf", str(tmp / "bare.tar.gz"), "-C", str(work), "python"], check=True
            )

        ours: list[float] = []
        theirs: list[float] = []
        for i in range(args.runs):
            ours.append(clock(subprocess.run, make_base, check=True, capture_output=True))
            theirs.append(clock(bare))
            print(
                f"run {i + 1}: make base {ours[-1]:.1f} s, bare pipeline {theirs[-1]:.1f} s",
                flush=True,
            )

    results = Results("bench_build", "make base against the bare pipeline", __doc__)
    ratio = results.compare(
        f"base {args.version}, warm cache, median of {args.runs}",
        ("make base (warm cache)", ours),
        ("bare pipeline", theirs),
        digits=1,
        goal=GOAL,
    )
    results.summary(
        f"make base takes {ratio:.2f}x the bare pipeline (goal <= {GOAL:g}x), on CPython "
        f"{prefix.name} from a file:// mirror"
    )
    results.write(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Time building the interactive environment from a warm wheel cache against
``python -m venv --system-site-packages`` plus ``pip install -r lock.txt --require-hashes`` from
the same wheelhouse, bytecode included in both; then the import time of
``python -c "import matplotlib.pyplot, pandas"`` in each. Medians of N interleaved runs.

    python benchmarks/bench_interactive.py [--tarball dist/acc-py-base-2023.06-<p>.tar.gz]
                                           [--runs 3] [--imports 21]

The set is the tests' (IPython, matplotlib, pandas, numexpr, ipykernel, jupyter_client,
tabulate: 40 packages), from the package index, resolved into a lock on the base 2023.06.
Ours: ``uv pip install --prefix`` of the lock (hashes checked, offline) + the scripts'
trampolines + the bytecode stage (unchecked-hash pycs, one process per package, side by side).
The anchor: the base's own python, ``-m venv --system-site-packages``, then the base's pip
installing the same lock from the same wheelhouse (pip compiles bytecode as it installs).
Goal: at most 0.3x.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "tests"))
sys.path.insert(0, str(PROJECT / "benchmarks"))

from _results import Results, add_results_argument, clock, median  # noqa: E402
from bench_install import find_tarball  # noqa: E402
from servers import make_ca, package_index  # noqa: E402

from accpy_builder import bytecode, trust  # noqa: E402
from accpy_builder.interactive import build as ibuild  # noqa: E402
from accpy_builder.interactive.lock import read_lock, resolve  # noqa: E402
from accpy_builder.packages import fill_wheelhouse  # noqa: E402
from accpy_core.proc import clean_env  # noqa: E402
from accpy_manifest import InteractiveSpec, Wanted, get_base, load_manifest  # noqa: E402

SET = ("ipython", "matplotlib", "pandas", "numexpr==2.10.2", "ipykernel", "jupyter-client",
       "tabulate")  # fmt: skip
IMPORT = "import matplotlib.pyplot, pandas"
GOAL = 0.3  # the environment / venv + pip


def download(dest: Path) -> None:
    if (dest / ".complete").is_file():
        return
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "c.txt").write_text("numpy==1.24.3\nscipy==1.10.1\n")
    platforms = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                 "manylinux_2_5_x86_64", "manylinux1_x86_64")  # fmt: skip
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            *(a for p in platforms for a in ("--platform", p)),
            "-c", str(dest / "c.txt"), "-d", str(dest), *SET,
        ],
        env=clean_env(), check=True,
    )  # fmt: skip
    (dest / ".complete").write_text("\n".join(SET))


def import_time(argv: list[str], env: dict[str, str]) -> float:
    return clock(subprocess.run, argv, env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--imports", type=int, default=21)
    add_results_argument(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    tarball = (args.tarball or find_tarball()).resolve()
    cache = PROJECT / ".cache" / "bench-interactive"
    download(cache / "index")
    work = Path(tempfile.mkdtemp(prefix="bench-interactive-"))
    try:
        manifest = load_manifest(PROJECT / "versions.yaml")
        base = get_base(manifest, "2023.06")
        wanted = tuple(
            Wanted(n, f"=={v}" if v else "") for n, _, v in (w.partition("==") for w in SET)
        )
        spec = InteractiveSpec(release="2025.03", base=base.version, status="pro", packages=wanted)
        root = work / "root"
        base_tree, base_meta = ibuild.unpack_base(tarball, root, base)
        python = base_tree / "bin" / "python3.11"
        platform = str(base_meta["platform"])
        ca = make_ca(cache / "ca")  # the index is https, as a site's is, with a CA of its own
        cafile = trust.ca_bundle(ca.cert.read_text(), cache)
        with package_index(cache / "index", ca=ca) as idx:
            lock = resolve(spec, base, idx.url, cache / "uv", work / "2025.03.lock", cafile=cafile)
            wheelhouse = fill_wheelhouse(
                ibuild.pins(lock), python_version="3.11", platform=platform,
                cache_dir=cache, index_url=idx.url, cafile=cafile,
            )  # fmt: skip
        lock = read_lock(work / "2025.03.lock")
        reqs = work / "lock.txt"
        reqs.write_text(lock.requirements())

        parts: dict[str, list[float]] = {"install": [], "bytecode": []}

        def ours(tree: Path) -> None:
            parts["install"].append(
                clock(ibuild.install, python, tree, lock, wheelhouse, cache / "uv")
            )
            ibuild.fix_scripts(tree, spec, base)
            parts["bytecode"].append(clock(bytecode.compile_bytecode, python, tree, "3.11"))

        def anchor(venv: Path) -> None:
            env = clean_env()
            subprocess.run([python, "-m", "venv", "--system-site-packages", venv], env=env,
                           check=True)  # fmt: skip
            subprocess.run(
                [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-index",
                 "--find-links", wheelhouse, "--require-hashes", "--no-cache-dir",
                 "--disable-pip-version-check", "-r", reqs],
                env=env, check=True,
            )  # fmt: skip

        ibuild.install(python, root / "warm-up", lock, wheelhouse, cache / "uv")  # untimed
        t_ours, t_anchor = [], []
        for i in range(args.runs):
            tree = root / f"r{i}"
            tree.mkdir()
            t_ours.append(clock(ours, tree, sync=True))
            t_anchor.append(clock(anchor, work / f"venv{i}", sync=True))

        env = clean_env({"ACC_PY_NO_USAGE_LOG": "1", "MPLBACKEND": "Agg"})
        ienv = dict(env, ACC_PY_INTERACTIVE=str(root / "r0"), ACC_PY_INTERACTIVE_BASE="2023.06")
        venv_python = str(work / "venv0" / "bin" / "python")
        pairs = [
            (import_time([str(python), "-c", IMPORT], ienv),
             import_time([venv_python, "-c", IMPORT], env))
            for _ in range(args.imports + 2)  # interleaved; the first two warm the page cache
        ][2:]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = Results(
        "bench_interactive", "The interactive environment against venv + pip", __doc__
    )
    ratio = results.compare(
        f"{len(lock.packages)} locked packages on {tarball.name}, median of {args.runs}",
        ("environment (uv + bytecode)", t_ours),
        ("venv --system-site-packages + pip", t_anchor),
        digits=1,
        goal=GOAL,
    )
    results.summary(
        f"the environment takes {ratio:.2f}x venv + pip (goal <= {GOAL:g}x, bytecode included); "
        f"of it, install {median(parts['install']):.1f} s, bytecode "
        f"{median(parts['bytecode']):.1f} s"
    )
    results.figures["parts"] = parts
    imports = results.compare(
        f'python -c "{IMPORT}", median of {args.imports}',
        ("environment", [o for o, _ in pairs]),
        ("plain venv", [a for _, a in pairs]),
        unit="ms",
        digits=0,
        scale=1000,
    )
    results.summary(f"importing matplotlib.pyplot and pandas takes {imports:.2f}x a plain venv's")
    results.write(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

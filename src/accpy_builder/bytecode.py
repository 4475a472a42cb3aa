"""Stage 5: precompile the base's bytecode so that a read-only install never compiles at import.

* ``unchecked-hash`` pycs (PEP 552): valid whatever mtimes an installer leaves; the base is
  read-only, so its sources never change under them.
* Optimisation level 0 only: ``python -O`` on the base compiles in memory.
* Reproducible: ``PYTHONHASHSEED=0`` (frozenset constants are marshalled in hash order), source
  paths recorded relative to the tree (``-d lib/pythonX.Y/...``), and each compileall process
  compiles a FIXED list of files in order. marshal's FLAG_REF depends on reference counts in
  the compiling process, so ``compileall -j`` (which hands files to reused workers in a
  timing-dependent order) is not byte-reproducible. Instead, the work is split into fixed
  groups (the stdlib, each top-level entry of site-packages), one process per group, run side
  by side: as fast as ``-j`` on two cores, and identical output every time.
* Files that fail to compile (lib2to3's deliberately broken test data) are skipped and counted.
* Modules imported at EVERY start of every Python of the base (the usage hook, which is the
  stdlib's ``sitecustomize``) are then shipped as sourceless bytecode: ``lib/pythonX.Y/NAME.pyc``
  with no ``NAME.py`` beside it. The import system then stats one file fewer per start. The
  source stays readable in ``share/acc-py/NAME.py``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from accpy_core.errors import CommandError, PackagesError
from accpy_core.proc import clean_env, run

log = logging.getLogger(__name__)

#: stdlib modules imported at every interpreter start: shipped as sourceless bytecode.
SOURCELESS = ("sitecustomize",)

#: compileall exits non-zero when any file fails; report the status instead of dying with it.
_COMPILEALL = """\
import runpy, sys
sys.argv = ["compileall"] + sys.argv[1:]
try:
    runpy.run_module("compileall", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    print("compileall-exit-status:", exc.code)
"""


@dataclass(frozen=True)
class _Group:
    path: Path  # a directory or a single file
    recurse: bool
    exclude: str | None = None  # regex of paths to leave to another group


def _groups(tree: Path, minor: str) -> list[_Group]:
    stdlib = tree / "lib" / f"python{minor}"
    site = stdlib / "site-packages"
    groups = [_Group(stdlib, True, re.escape(str(site) + os.sep))]
    if site.is_dir():
        groups.append(_Group(site, False))  # its top-level modules
        groups += [_Group(p, True) for p in sorted(site.iterdir()) if p.is_dir()]
    # biggest first, so that the longest group does not start last
    return sorted(groups, key=lambda g: -_size(g))


def _size(group: _Group) -> int:
    if not group.recurse:
        return 0
    return sum(len(files) for _d, _s, files in os.walk(group.path))


def _compile(python: Path, tree: Path, group: _Group) -> int:
    """Compile one group in its own process; return how many files failed."""
    cmd = [str(python), "-s", "-c", _COMPILEALL, "-q", "-f", "-j", "1"]
    cmd += ["--invalidation-mode", "unchecked-hash", "-r", "1000" if group.recurse else "0"]
    if group.exclude:
        cmd += ["-x", group.exclude]
    cmd += ["-d", group.path.relative_to(tree).as_posix(), str(group.path)]
    try:
        out = run(cmd, env=clean_env({"PYTHONHASHSEED": "0"}), what="compileall")
    except CommandError as exc:
        raise PackagesError(f"compiling bytecode in {group.path} failed: {exc}") from exc
    failed = [ln for ln in out.splitlines() if ln.startswith("*** Error compiling")]
    status = re.search(r"^compileall-exit-status: (\S+)$", out, re.MULTILINE)
    if status and status[1] not in ("0", "None") and not failed:
        tail = " ".join(out.strip().splitlines()[-3:])
        raise PackagesError(f"compiling bytecode in {group.path} failed: {tail}")
    for line in failed:
        log.debug("%s", line)
    return len(failed)


def compile_bytecode(python: Path, tree: Path, minor: str, *, jobs: int | None = None) -> None:
    """Precompile the stdlib and site-packages of ``tree`` with its own interpreter."""
    start = time.monotonic()
    tree = tree.resolve()
    groups = _groups(tree, minor)
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
        failed = sum(pool.map(lambda g: _compile(python, tree, g), groups))
    if failed:
        log.warning("%d source files do not compile and were skipped (run with -v to list)", failed)
    log.info("compiled %d groups in %.1f s", len(groups), time.monotonic() - start)


def make_sourceless(tree: Path, minor: str, names: tuple[str, ...] = SOURCELESS) -> list[str]:
    """Move each compiled ``names`` module of the stdlib next to where its source was, and the
    source to ``share/acc-py/``; return the modules moved."""
    stdlib = tree / "lib" / f"python{minor}"
    tag = "cpython-" + minor.replace(".", "")
    moved = []
    for name in names:
        source = stdlib / f"{name}.py"
        compiled = stdlib / "__pycache__" / f"{name}.{tag}.pyc"
        if not (source.is_file() and compiled.is_file()):
            continue
        keep = tree / "share" / "acc-py" / f"{name}.py"
        keep.parent.mkdir(parents=True, exist_ok=True)
        compiled.replace(stdlib / f"{name}.pyc")
        source.replace(keep)
        moved.append(name)
    return moved

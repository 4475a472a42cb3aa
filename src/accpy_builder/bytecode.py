"""Stage 5: precompile bytecode so that a read-only install never compiles at import.

For a base (its stdlib and site-packages) and an interactive release (its site-packages), with
the base's own interpreter:

* ``unchecked-hash`` pycs (PEP 552): valid whatever mtimes an installer leaves; the trees are
  read-only, so their sources never change under them.
* Optimisation level 0 only: ``python -O`` compiles in memory.
* Reproducible: ``PYTHONHASHSEED=0`` (frozenset constants are marshalled in hash order), source
  paths recorded relative to the tree (``lib/pythonX.Y/...``), and each process compiles a
  FIXED list of files in a fixed order. marshal's FLAG_REF depends on reference counts in the
  compiling process, so ``compileall -j`` (which hands files to reused workers in a
  timing-dependent order) is not byte-reproducible. Instead, every ``.py`` file of the tree's
  ``lib/pythonX.Y`` is listed (sorted by path) and cut into chunks of :data:`CHUNK` files, one
  process per chunk, run side by side on every core: the chunks depend only on the tree, so
  the output does not depend on the core count or on timing, and no big package (pandas) is
  left to one process at the end.
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
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from accpy_core.errors import CommandError, PackagesError
from accpy_core.proc import clean_env, run

log = logging.getLogger(__name__)

#: stdlib modules imported at every interpreter start: shipped as sourceless bytecode.
SOURCELESS = ("sitecustomize",)

#: files per compiling process: small enough to balance two cores, big enough that starting
#: the processes costs little (fixed: the chunks, hence the bytes, depend only on the tree)
CHUNK = 250

#: run by the tree's interpreter (any Python >= 3.7): compile the tree-relative files listed in
#: argv[2], one per line, under the tree argv[1]; report the ones that do not compile
_COMPILE = """\
import py_compile, sys
tree, listing = sys.argv[1], sys.argv[2]
with open(listing, encoding="utf-8") as fh:
    names = fh.read().splitlines()
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
for rel in names:
    try:
        py_compile.compile(tree + "/" + rel, dfile=rel, doraise=True, invalidation_mode=mode)
    except (py_compile.PyCompileError, SyntaxError, ValueError) as exc:
        print("*** Error compiling", rel, str(exc).splitlines()[-1:])
print("compiled", len(names))
"""


def sources(tree: Path, minor: str) -> list[str]:
    """Every ``.py`` file under ``lib/pythonX.Y`` of ``tree``, tree-relative, sorted; not
    through symlinks, not in ``__pycache__``."""
    top = tree / "lib" / f"python{minor}"
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(
            d for d in dirnames if d != "__pycache__" and not Path(dirpath, d).is_symlink()
        )
        rel = Path(dirpath).relative_to(tree).as_posix()
        for name in sorted(filenames):
            if name.endswith(".py") and not Path(dirpath, name).is_symlink():
                out.append(f"{rel}/{name}")
    return out


def _compile(python: Path, tree: Path, listing: Path) -> int:
    """Compile one chunk in its own process; return how many files failed."""
    cmd = [str(python), "-s", "-c", _COMPILE, str(tree), str(listing)]
    try:
        out = run(cmd, env=clean_env({"PYTHONHASHSEED": "0"}), what="compiling bytecode")
    except CommandError as exc:
        raise PackagesError(f"compiling the bytecode of {tree} failed: {exc}") from exc
    failed = [ln for ln in out.splitlines() if ln.startswith("*** Error compiling")]
    if not re.search(r"^compiled \d+$", out, re.MULTILINE):
        tail = " ".join(out.strip().splitlines()[-3:])
        raise PackagesError(f"compiling the bytecode of {tree} failed: {tail}")
    for line in failed:
        log.debug("%s", line)
    return len(failed)


def compile_bytecode(python: Path, tree: Path, minor: str, *, jobs: int | None = None) -> None:
    """Precompile every module under ``lib/pythonX.Y`` of ``tree`` with ``python``."""
    start = time.monotonic()
    tree = tree.resolve()
    files = sources(tree, minor)
    chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
    with tempfile.TemporaryDirectory(prefix="acc-py-bytecode-") as tmp:
        listings = []
        for number, chunk in enumerate(chunks):
            listing = Path(tmp, f"{number}.txt")
            listing.write_text("\n".join(chunk) + "\n", encoding="utf-8")
            listings.append(listing)
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            failed = sum(pool.map(lambda listing: _compile(python, tree, listing), listings))
    if failed:
        log.warning("%d source files do not compile and were skipped (run with -v to list)", failed)
    log.info(
        "compiled %d files in %d processes in %.1f s",
        len(files) - failed, len(chunks), time.monotonic() - start,
    )  # fmt: skip


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

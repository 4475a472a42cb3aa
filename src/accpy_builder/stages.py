"""The stages of a build, the one list of them: their names and numbers in the log lines
(``[3/8] packages``), in the docstrings that point here, and in the documentation's table
(``docs/generate.py`` writes it from :data:`BASE_STAGES`, and ``make lint`` fails when it lags).

Before any stage, :mod:`.plan` turns versions.yaml (through :mod:`accpy_manifest`) and the
command line into a frozen plan; :mod:`.build` runs the stages of a base in this order and
:mod:`.interactive.build` those of an interactive release.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from accpy_core.errors import AccPyError

log = logging.getLogger("accpy_builder.build")


@dataclass(frozen=True)
class Stage:
    name: str
    modules: str  # where it lives, for the documentation (Markdown)
    what: str  # what it does, for the documentation (Markdown)


#: the stages of a base (``make base``), in order
BASE_STAGES = (
    Stage(
        "interpreter",
        "`interpreter/pbs.py`, `download.py` / `interpreter/adopt.py`",
        "PBS asset through mirror and cache (unpacked by `accpy_core.archive`), or a copy of a "
        "local prefix without tests, site-packages and foreign scripts",
    ),
    Stage(
        "relocate",
        "`relocate.py`, `elf.py`, `policy.py`",
        "bundles libraries outside the manylinux whitelist (auditwheel's policy), `$ORIGIN` "
        "RUNPATHs (patchelf), `/bin/sh` shebang trampolines, `_sysconfigdata` that computes its "
        "prefix, `${pcfiledir}` in `.pc` files, relative `Makefile` prefix",
    ),
    Stage(
        "packages",
        "`packages.py`",
        "pinned wheels into a hash-checked wheelhouse, installed with `--require-hashes` (uv, or "
        "pip from its own wheel)",
    ),
    Stage(
        "inject",
        "`inject.py`, `native.py` + `recipes/`",
        "one table, `inject.PAYLOAD`, says what goes where: the recipes (`setup.sh`, "
        "`setup.csh`, `pip.conf`, `EXTERNALLY-MANAGED`, the usage hook, `bin/acc-py` compiled "
        "static from `acc-py.c.in`, acc-py's Python entry point), the sources of `accpy_core`, "
        "`acc_py_install` and `acc_py`, and the venv skeleton the base's own Python writes "
        "(`share/acc-py/venv.skeleton`). `acc-py-build render RECIPE --version V` shows a "
        "recipe as a base gets it",
    ),
    Stage(
        "bytecode",
        "`bytecode.py`",
        "`unchecked-hash` pycs, so a read-only base never compiles at import",
    ),
    Stage("checks", "`checks.py`", "see below"),
    Stage(
        "metadata",
        "`metadata.py`, `accpy_sbom`, `accpy_core.record`",
        "`ACC-PY.json`, the SBOM `ACC-PY.cdx.json`, `ACC-PY.RECORD`",
    ),
    Stage(
        "pack",
        "`pack.py`, `selfextract.py`",
        "reproducible `.tar.gz` and `.tar.zst` with `.sha256`, the self-extracting "
        "`-installer.sh`, the SBOM beside them",
    ),
)
#: the stages of an interactive release (``make interactive``), in order: the bases' own
#: modules for what they share
RELEASE_STAGES = (
    Stage(
        "base", "`interactive/build.py`", "the base's tarball, unpacked where the release finds it"
    ),
    Stage("wheels", "`packages.py`", "the lock's wheels into the hash-checked wheelhouse"),
    Stage("install", "`interactive/build.py`", "uv, `--require-hashes`, offline; the scripts"),
    Stage("inject", "`inject.py`", "`inject.INTERACTIVE_PAYLOAD`"),
    Stage("bytecode", "`bytecode.py`", "as a base's"),
    Stage("checks", "`checks.py`", "as a base's"),
    Stage(
        "metadata", "`interactive/build.py`, `accpy_sbom`", "ACC-PY.json, CHANGELOG.md, the record"
    ),
    Stage("pack", "`pack.py`", "as a base's"),
)


def number(stages: tuple[Stage, ...], name: str) -> int:
    """The 1-based number of the stage ``name``."""
    for i, s in enumerate(stages, start=1):
        if s.name == name:
            return i
    raise AccPyError(f"internal error: no stage {name!r} in {[s.name for s in stages]}")


@contextmanager
def stage(stages: tuple[Stage, ...], name: str, detail: str = "") -> Iterator[None]:
    """Log ``[n/N] name`` (``detail`` in brackets after it), run the block, log its time."""
    log.info(
        "[%d/%d] %s", number(stages, name), len(stages), f"{name} ({detail})" if detail else name
    )
    start = time.perf_counter()
    yield
    log.info("      %s done in %.1f s", name, time.perf_counter() - start)


def markdown_table(stages: tuple[Stage, ...] = BASE_STAGES) -> str:
    """The documentation's table of ``stages``."""
    rows = ["| stage | module | what it does |", "|---|---|---|"]
    rows += [f"| {i} {s.name} | {s.modules} | {s.what} |" for i, s in enumerate(stages, 1)]
    return "\n".join(rows) + "\n"

"""Adopt a CPython install prefix from this machine (``INTERPRETER=/prefix`` or ``auto``).

The copy leaves out the test suite, site-packages, static libraries and any script that a
site-package put into ``bin/``; the relocate stage then makes it relocatable.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from accpy_core.errors import SourceError
from accpy_core.proc import clean_env, run

log = logging.getLogger(__name__)

_PROBE = (
    "import json, sys, sysconfig; print(json.dumps({"
    "'version': '%d.%d.%d' % sys.version_info[:3], "
    "'base_prefix': sys.base_prefix, "
    "'build_prefix': sysconfig.get_config_var('prefix'), "
    "'shared': bool(sysconfig.get_config_var('Py_ENABLE_SHARED'))}))"
)

#: stdlib directories that only hold tests.
_TEST_DIRS = frozenset(
    {
        "test",
        "tests",
        "idle_test",
        "__pycache__",
    }
)
#: bin/ entries that CPython itself installs; anything else came from a site-package.
_CPYTHON_BIN_PREFIXES = ("python", "pydoc", "idle", "2to3")


@dataclass(frozen=True)
class InterpreterInfo:
    prefix: Path
    version: str  # "3.11.7"
    build_prefix: str  # the --prefix it was configured with
    shared: bool

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class AdoptedTree:
    prefix: Path  # the copy, inside the work directory
    origin: InterpreterInfo


def probe(python: Path) -> InterpreterInfo:
    """Ask an interpreter what it is (isolated mode, clean environment)."""
    try:
        out = subprocess.run(
            [os.fspath(python), "-I", "-c", _PROBE],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise SourceError(f"{python} does not run as a CPython interpreter: {exc}") from exc
    data = json.loads(out)
    return InterpreterInfo(
        prefix=Path(data["base_prefix"]),
        version=data["version"],
        build_prefix=data["build_prefix"],
        shared=data["shared"],
    )


def _interpreter_in(prefix: Path, minor: str | None) -> Path | None:
    names = [f"python{minor}"] if minor else []
    names += ["python3", "python"]
    for name in names:
        candidate = prefix / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _candidate_prefixes() -> Iterator[Path]:
    """Install prefixes of CPythons on this machine: pyenv's, then those on PATH."""
    roots = [os.environ.get("PYENV_ROOT", "")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.append(run([pyenv, "root"], env=clean_env()).strip())
        except Exception:
            log.debug("pyenv root failed", exc_info=True)
    for root in filter(None, roots):
        versions = Path(root) / "versions"
        if versions.is_dir():
            yield from sorted(versions.iterdir(), reverse=True)
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or "shims" in Path(directory).parts:
            continue
        bindir = Path(directory)
        if bindir.name == "bin" and bindir.is_dir():
            yield bindir.parent


def find_prefix(minor: str) -> InterpreterInfo:
    """``INTERPRETER=auto``: the newest CPython ``minor`` installed on this machine."""
    tried: list[str] = []
    best: InterpreterInfo | None = None
    seen: set[Path] = set()
    for prefix in _candidate_prefixes():
        python = _interpreter_in(prefix, minor)
        if python is None or prefix.resolve() in seen:
            continue
        seen.add(prefix.resolve())
        tried.append(str(prefix))
        try:
            info = probe(python)
        except SourceError:
            continue
        if info.minor != minor or Path(info.prefix).resolve() != prefix.resolve():
            continue  # a venv, or a different version behind the name
        key = tuple(int(p) for p in info.version.split("."))
        if best is None or key > tuple(int(p) for p in best.version.split(".")):
            best = info
    if best is None:
        where = ", ".join(tried) or "nothing (no pyenv, no python on PATH)"
        raise SourceError(
            f"INTERPRETER=auto found no CPython {minor} install prefix on this machine "
            f"(looked at {where}); pass INTERPRETER=/path/to/prefix or PBS_MIRROR=<mirror>"
        )
    return best


def _ignore(minor: str, src_root: Path) -> object:
    stdlib = src_root / "lib" / f"python{minor}"
    site = stdlib / "site-packages"
    bindir = src_root / "bin"

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory)
        skipped: set[str] = set()
        if here == bindir:
            skipped = {n for n in names if not n.startswith(_CPYTHON_BIN_PREFIXES)}
        elif here == site:
            skipped = set(names)  # an empty site-packages; the packages stage fills it
        elif here == stdlib or stdlib in here.parents:
            skipped = {n for n in names if n in _TEST_DIRS}
        if here.name.startswith("config-"):
            # static libpython and the objects to relink it: nothing a shared base needs
            skipped |= {n for n in names if n.endswith((".a", ".o"))}
        skipped |= {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}
        return skipped

    return ignore


def adopt(prefix: Path | None, minor: str, dest: Path) -> AdoptedTree:
    """Copy the CPython at ``prefix`` (or the one ``find_prefix`` picks) into ``dest``."""
    if prefix is None:
        info = find_prefix(minor)
    else:
        prefix = prefix.expanduser().absolute()
        python = _interpreter_in(prefix, minor)
        if python is None:
            raise SourceError(
                f"INTERPRETER={prefix} is not a CPython install prefix "
                f"(no bin/python{minor} or bin/python3 in it); pass the directory that "
                f"holds bin/ and lib/, or INTERPRETER=auto"
            )
        info = probe(python)
        if info.minor != minor:
            raise SourceError(
                f"INTERPRETER={prefix} is CPython {info.version}, but this base needs {minor}; "
                f"pass a {minor} prefix or INTERPRETER=auto"
            )
    log.info("adopting CPython %s from %s", info.version, info.prefix)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        info.prefix,
        dest,
        symlinks=True,
        ignore=_ignore(minor, info.prefix),  # type: ignore[arg-type]
    )
    (dest / "lib" / f"python{minor}" / "site-packages").mkdir(parents=True, exist_ok=True)
    return AdoptedTree(prefix=dest, origin=info)

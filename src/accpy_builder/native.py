"""Compile a C recipe into a static executable, reproducibly (the ``inject.Program`` entries).

The system's C compiler (``cc``, else ``gcc``) links against a static C library, so the result
has no NEEDED library, no program interpreter and no symbol version: it runs on any platform a
base can claim, and the ELF checks have nothing to object to. Reproducible: fixed flags,
``-frandom-seed``, compiled in a scratch directory under a relative name with that directory
mapped away (``-ffile-prefix-map``), stripped (``-s``); the recipes use no ``__FILE__``,
``__DATE__`` or ``__TIME__``. Warnings are errors.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from accpy_core.errors import CommandError, InjectError
from accpy_core.proc import clean_env, run

from .elf import read_elf
from .relocate import patchelf

log = logging.getLogger(__name__)

COMPILERS = ("cc", "gcc")
CFLAGS = ("-std=c99", "-O2", "-s", "-static", "-Wall", "-Wextra", "-Wpedantic", "-Werror")
_INSTALL_HINT = (
    "install a C compiler with the static C library (Debian/Ubuntu: apt-get install gcc "
    "libc6-dev; EL/Fedora: dnf install gcc glibc-static)"
)
#: what the linker says when there is no libc.a (GNU ld, gold, lld)
_NO_STATIC_LIBC = re.compile(r"cannot find -lc\b|unable to find library -lc\b")


def find_compiler() -> str:
    for name in COMPILERS:
        found = shutil.which(name)
        if found:
            return found
    raise InjectError(f"no C compiler ({' or '.join(COMPILERS)}) on PATH; {_INSTALL_HINT}")


def compile_static(
    source: str,
    dest: Path,
    *,
    name: str,
    scratch: Path,
    headers: Mapping[str, str] | None = None,
    blobs: Mapping[str, bytes] | None = None,
) -> None:
    """Compile the C ``source`` into the static executable ``dest``; ``name`` names the program
    (its source file and random seed), ``scratch`` holds the temporary build directory,
    ``headers`` (file name -> text) are written beside the source for it to include, and
    ``blobs`` (file name -> bytes) for it to ``.incbin``."""
    cc = find_compiler()
    with tempfile.TemporaryDirectory(prefix=".cc-", dir=scratch) as tmp:
        work = Path(tmp)
        (work / f"{name}.c").write_text(source, encoding="utf-8")
        for header, text in (headers or {}).items():
            (work / header).write_text(text, encoding="utf-8")
        for blob, data in (blobs or {}).items():
            (work / blob).write_bytes(data)
        cmd = [cc, *CFLAGS, f"-ffile-prefix-map={work}=.", f"-frandom-seed={name}"]
        cmd += ["-o", name, f"{name}.c"]
        try:
            run(cmd, env=clean_env(), cwd=work, what=f"{Path(cc).name} {name}.c")
        except CommandError as exc:
            if _NO_STATIC_LIBC.search(str(exc)):
                raise InjectError(
                    f"{cc} cannot link {name} statically: there is no static C library "
                    f"(libc.a); {_INSTALL_HINT}"
                ) from None
            raise InjectError(f"{name}.c does not compile: {exc}") from None
        info = read_elf(work / name)
        if info is not None and (info.needed or info.version_needs):
            raise InjectError(
                f"{cc} did not link {name} statically (it needs {', '.join(info.needed)}); "
                f"{_INSTALL_HINT}"
            )
        shutil.copyfile(work / name, dest)
    log.debug("compiled %s with %s", dest, cc)


#: The room a carried interpreter's RUNPATH gets (bytes, with its NUL): a path of PATH_MAX.
RUNPATH_SLOT = 4096
_SLOT_MARK = "/.acc-py-runpath-slot/"


def carried_interpreter(interpreter: Path, scratch: Path) -> tuple[bytes, str]:
    """What a launcher carries of ``interpreter`` (recipes/python.c.in: a copy of the launcher
    out of its tree runs it from memory): its bytes, with the RUNPATH, when it has one with
    ``$ORIGIN``, made a slot of :data:`RUNPATH_SLOT` bytes that the launcher fills with what
    the loader would make of ``$ORIGIN`` for a copy of the interpreter where the launcher is;
    and ``carried.h``, the header that says where the slot is and what goes in it."""
    info = read_elf(interpreter)
    runpath = ":".join(info.search_path) if info is not None else ""
    if "ORIGIN" not in runpath:
        return interpreter.read_bytes(), _carried_header("", -1)
    if not runpath.isascii() or not runpath.isprintable() or any(c in runpath for c in '"\\'):
        raise InjectError(f"the RUNPATH of {interpreter.name} ({runpath!r}) cannot go into C")
    mark = (_SLOT_MARK + "x" * RUNPATH_SLOT)[: RUNPATH_SLOT - 1]
    with tempfile.TemporaryDirectory(prefix=".carried-", dir=scratch) as tmp:
        copy = Path(tmp) / interpreter.name
        shutil.copyfile(interpreter, copy)
        keep = ["--force-rpath"] if info is not None and not info.runpath else []  # DT_RPATH
        try:
            run([patchelf(), *keep, "--set-rpath", mark, copy], what=f"patchelf {copy.name}")
        except CommandError as exc:
            raise InjectError(str(exc)) from None
        data = copy.read_bytes()
    slot = data.find(mark.encode())
    if slot < 0 or data.count(mark.encode()) != 1 or data[slot + len(mark)] != 0:
        raise InjectError(f"patchelf did not leave one RUNPATH slot in {interpreter.name}")
    return data, _carried_header(runpath, slot)


def _carried_header(runpath: str, slot: int) -> str:
    return (
        "/* carried.h: the interpreter that recipes/python.c.in carries (native.py) */\n"
        f'#define CARRIED_RUNPATH "{runpath}"\n'
        f"#define CARRIED_SLOT {slot}L /* its offset in the file; -1: none to fill */\n"
        f"#define CARRIED_SLOT_SIZE {RUNPATH_SLOT}\n"
    )

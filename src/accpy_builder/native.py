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
) -> None:
    """Compile the C ``source`` into the static executable ``dest``; ``name`` names the program
    (its source file and random seed), ``scratch`` holds the temporary build directory,
    ``headers`` (file name -> text) are written beside the source for it to include."""
    cc = find_compiler()
    with tempfile.TemporaryDirectory(prefix=".cc-", dir=scratch) as tmp:
        work = Path(tmp)
        (work / f"{name}.c").write_text(source, encoding="utf-8")
        for header, text in (headers or {}).items():
            (work / header).write_text(text, encoding="utf-8")
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

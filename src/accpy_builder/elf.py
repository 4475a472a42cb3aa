"""Read what the dynamic loader sees in an ELF file: SONAME, NEEDED, RPATH/RUNPATH, and
the versioned symbols it needs (``GLIBC_2.28`` ...). pyelftools does the parsing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from accpy_core.errors import CheckError

ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    soname: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    #: (library file, version name), e.g. ("libc.so.6", "GLIBC_2.34")
    version_needs: tuple[tuple[str, str], ...]

    @property
    def search_path(self) -> tuple[str, ...]:
        """What the loader searches for this object's NEEDED entries (RUNPATH wins over RPATH)."""
        return self.runpath or self.rpath


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def iter_files(tree: Path) -> Iterator[Path]:
    """Every regular file under ``tree`` (symlinks neither listed nor followed), sorted."""
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if not path.is_symlink():
                yield path


def iter_elf_files(tree: Path) -> Iterator[Path]:
    """Every regular ELF file under ``tree``, sorted."""
    return (path for path in iter_files(tree) if is_elf(path))


def read_elf(path: Path) -> ElfInfo | None:
    """Dynamic information of ``path``; None for objects without a dynamic section (.o).

    A file that starts like an ELF but cannot be parsed raises CheckError naming it."""
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            dynamic = elf.get_section_by_name(".dynamic")
            if not isinstance(dynamic, DynamicSection):
                return None
            soname = None
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            for dyn_tag in dynamic.iter_tags():
                tag: Any = dyn_tag  # pyelftools adds the per-tag attributes at run time
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(tag.needed)
                elif tag.entry.d_tag == "DT_SONAME":
                    soname = tag.soname
                elif tag.entry.d_tag == "DT_RPATH":
                    rpath.extend(p for p in tag.rpath.split(":") if p)
                elif tag.entry.d_tag == "DT_RUNPATH":
                    runpath.extend(p for p in tag.runpath.split(":") if p)
            needs: list[tuple[str, str]] = []
            for section in elf.iter_sections():
                if isinstance(section, GNUVerNeedSection):
                    for verneed, auxiliaries in section.iter_versions():
                        for aux in auxiliaries:
                            needs.append((str(verneed.name), str(aux.name)))
    except (ELFError, OSError, ValueError) as exc:  # checks lists them; relocate stops on one
        raise CheckError(f"{path}: not a readable ELF file ({exc}); the tree is corrupt") from exc
    return ElfInfo(
        path=path,
        soname=soname,
        needed=tuple(needed),
        rpath=tuple(rpath),
        runpath=tuple(runpath),
        version_needs=tuple(needs),
    )


def expand_origin(entry: str, elf_path: Path) -> str:
    """Replace ``$ORIGIN`` / ``${ORIGIN}`` by the directory holding ``elf_path``."""
    origin = str(elf_path.parent)
    return entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)

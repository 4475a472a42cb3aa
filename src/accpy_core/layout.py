"""The names of an install root and of a base tree, and the layout operations on a root.

::

    <root>/base/._2023.06.1/        real trees, one per patch release (never renamed once in place)
    <root>/base/._2023.06.2/
    <root>/base/2023.06 -> ._2023.06.2
    <root>/base/pro     -> 2023.06
    <root>/base/.lock/              while an installer runs (lock.py)
    <root>/base/.staging-*/         a tree being unpacked (hidden; removed by the next run)
    <root>/base/.trash-*/           a tree being deleted (hidden; removed by the next run)
    <root>/._2025.03.0/             the interactive environment's releases, the same way
    <root>/2025.03 -> ._2025.03.0   at the top of the root (their area), each on a base
    <root>/pro     -> 2025.03

Every visible name changes by one ``rename(2)`` (see :mod:`accpy_core.fs`). Inside each base:
``ACC-PY.json`` (what the base is: :mod:`accpy_core.metadata`) and ``ACC-PY.RECORD`` (every
file's hash). A base tarball is named ``acc-py-base-<version>-<platform>.tar.gz`` (or
``.tar.zst``), with its ``.sha256``; an interactive release
``acc-py-interactive-<release>-<platform>.tar.gz``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .errors import MetadataError, UsageError
from .fs import read_link, switch_symlink
from .names import (
    BASE_AREA,
    BASE_KIND,
    DEFAULT_ROOT,
    INTERACTIVE_KIND,
    KINDS,
    LEFTOVER_PREFIXES,
    LOCK_NAME,
    METADATA_NAME,
    RECORD_NAME,
    ROOT_ENV,
    TARBALL_PREFIXES,
    TARBALL_SUFFIXES,
    tarball_stem,
    tree_name,
)
from .versions import PRO, VERSION_PATTERN, is_version

TREE_RE = re.compile(r"^\._(" + VERSION_PATTERN + r")\.(\d+)$")
_PREFIXES = "|".join(TARBALL_PREFIXES.values())
TARBALL_RE = re.compile(
    r"^(?P<prefix>" + _PREFIXES + r")-(?P<version>" + VERSION_PATTERN + r")"
    r"-(?P<platform>[a-z0-9_]+)\.(?P<suffix>tar\.gz|tgz|tar\.zst|tar)$"
)

__all__ = [
    "BASE_AREA",
    "BASE_KIND",
    "DEFAULT_ROOT",
    "INTERACTIVE_KIND",
    "KINDS",
    "LEFTOVER_PREFIXES",
    "LOCK_NAME",
    "METADATA_NAME",
    "PRO",
    "RECORD_NAME",
    "ROOT_ENV",
    "TARBALL_SUFFIXES",
    "TREE_RE",
    "Layout",
    "TarballName",
    "Tree",
    "default_root",
    "parse_tarball_name",
    "tarball_stem",
    "tree_name",
]


def default_root() -> str:
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


@dataclass(frozen=True)
class TarballName:
    version: str
    platform: str
    kind: str = BASE_KIND


def parse_tarball_name(name: str) -> TarballName:
    """The version, platform and kind in a tarball's file name."""
    m = TARBALL_RE.match(name)
    if not m:
        raise MetadataError(
            f"{name} is not named like a base tarball ({TARBALL_PREFIXES[BASE_KIND]}-<version>-"
            f"<platform>.tar.gz) or an interactive release's "
            f"({TARBALL_PREFIXES[INTERACTIVE_KIND]}-<release>-<platform>.tar.gz); keep the name "
            "the builder gave it"
        )
    kind = next(k for k, v in TARBALL_PREFIXES.items() if v == m.group("prefix"))
    return TarballName(m.group("version"), m.group("platform"), kind)


@dataclass(frozen=True)
class Tree:
    version: str
    patch: int
    path: Path

    @property
    def release(self) -> str:
        return f"{self.version}.{self.patch}"


class Layout:
    """The area of one kind in an install root: ``<root>/base/`` for the bases, ``<root>``
    itself for the interactive environment's releases."""

    def __init__(self, root: Path, kind: str = BASE_KIND) -> None:
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
        self.root = root
        self.kind = kind
        self.area = root / BASE_AREA if kind == BASE_KIND else root

    @property
    def what(self) -> str:
        """What the area holds, for messages: "base" or "interactive release"."""
        return "base" if self.kind == BASE_KIND else "interactive release"

    def ensure(self) -> None:
        try:
            self.area.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create {self.area}: {exc.strerror}; check --root and your permissions"
            ) from exc

    def tree(self, version: str, patch: int) -> Tree:
        return Tree(version, patch, self.area / tree_name(version, patch))

    def trees(self, version: str | None = None) -> list[Tree]:
        """Every patch tree (of ``version``), sorted by version then patch."""
        found: list[Tree] = []
        if not self.area.is_dir():
            return found
        for entry in os.scandir(self.area):
            m = TREE_RE.match(entry.name)
            if m and entry.is_dir(follow_symlinks=False) and version in (None, m.group(1)):
                found.append(Tree(m.group(1), int(m.group(2)), Path(entry.path)))
        return sorted(found, key=lambda t: (t.version, t.patch))

    def versions(self) -> list[str]:
        """Every version that has a version symlink or a patch tree."""
        names = {t.version for t in self.trees()}
        if self.area.is_dir():
            names.update(
                e.name for e in os.scandir(self.area) if is_version(e.name) and e.is_symlink()
            )
        return sorted(names)

    def current(self, version: str) -> Tree | None:
        """The patch tree that ``base/<version>`` points to (None: no symlink or not a tree)."""
        target = read_link(self.area / version)
        m = TREE_RE.match(target or "")
        if target is None or not m or m.group(1) != version:
            return None
        if not (self.area / target).is_dir():
            return None
        return self.tree(version, int(m.group(2)))

    def pro(self) -> str | None:
        """The version ``pro`` points to, or None."""
        target = read_link(self.area / PRO)
        return target if target is not None and is_version(target) else None

    def switch(self, name: str, target: str) -> str | None:
        """Point ``base/<name>`` at ``target`` atomically; return the previous target."""
        link = self.area / name
        if os.path.lexists(link) and not os.path.islink(link):
            raise UsageError(f"{link} exists and is not a symlink; move it away, then retry")
        return switch_symlink(link, target)

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.area / name)

    def hidden(self, prefix: str) -> Path:
        """A new unique hidden name under base/ (not created)."""
        return self.area / f"{prefix}{secrets.token_hex(4)}"

    def leftovers(self, keep: Path | None = None) -> list[Path]:
        """What an interrupted run left behind: staging, trash, downloads, temporary symlinks,
        locks being taken (``keep``: a path that is in use, e.g. a staged tree handed over)."""
        found: list[Path] = []
        if not self.area.is_dir():
            return found
        for entry in os.scandir(self.area):
            path = Path(entry.path)
            if keep is not None and path == keep:
                continue
            if entry.name.startswith(LEFTOVER_PREFIXES) or (
                ".tmp-" in entry.name and entry.is_symlink()
            ):
                found.append(path)
            elif entry.name.startswith(LOCK_NAME + ".") and entry.is_dir(follow_symlinks=False):
                found.append(path)  # a lock that was being taken or broken
        return sorted(found)

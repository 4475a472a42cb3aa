"""The names of an install root and of a base tree, and the layout operations on a root.

::

    <root>/base/._2023.06.1/        real trees, one per patch release (never renamed once in place)
    <root>/base/._2023.06.2/
    <root>/base/2023.06 -> ._2023.06.2
    <root>/base/pro     -> 2023.06
    <root>/base/.lock/              while an installer runs (lock.py)
    <root>/base/.staging-*/         a tree being unpacked (hidden; removed by the next run)
    <root>/base/.trash-*/           a tree being deleted (hidden; removed by the next run)

Every visible name changes by one ``rename(2)`` (see :mod:`accpy_core.fs`). Inside each base:
``ACC-PY.json`` (what the base is) and ``ACC-PY.RECORD`` (every file's hash). A base tarball is
named ``acc-py-base-<version>-<platform>.tar.gz`` (or ``.tar.zst``), with its ``.sha256``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MetadataError, UsageError
from .fs import read_link, switch_symlink
from .names import (
    BASE_AREA,
    DEFAULT_ROOT,
    LEFTOVER_PREFIXES,
    LOCK_NAME,
    METADATA_NAME,
    RECORD_NAME,
    ROOT_ENV,
    TARBALL_PREFIX,
    TARBALL_SUFFIXES,
    read_json_object,
    tarball_stem,
    tree_name,
)
from .versions import PRO, VERSION_PATTERN, is_version

TREE_RE = re.compile(r"^\._(" + VERSION_PATTERN + r")\.(\d+)$")
TARBALL_RE = re.compile(
    r"^" + TARBALL_PREFIX + r"-(?P<version>" + VERSION_PATTERN + r")-(?P<platform>[a-z0-9_]+)"
    r"\.(?P<suffix>tar\.gz|tgz|tar\.zst|tar)$"
)

__all__ = [
    "BASE_AREA",
    "DEFAULT_ROOT",
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
    "read_metadata",
    "tarball_stem",
    "tree_name",
]


def default_root() -> str:
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


@dataclass(frozen=True)
class TarballName:
    version: str
    platform: str


def parse_tarball_name(name: str) -> TarballName:
    """The version and platform in a base tarball's file name."""
    m = TARBALL_RE.match(name)
    if not m:
        raise MetadataError(
            f"{name} is not named like a base tarball ({TARBALL_PREFIX}-<version>-<platform>"
            ".tar.gz); keep the name the builder gave it"
        )
    return TarballName(m.group("version"), m.group("platform"))


def read_metadata(tree: Path) -> dict[str, Any]:
    """The ``ACC-PY.json`` of a base tree, as a dict."""
    return read_json_object(tree / METADATA_NAME, MetadataError, "is this an Acc-Py base tree?")


@dataclass(frozen=True)
class Tree:
    version: str
    patch: int
    path: Path

    @property
    def release(self) -> str:
        return f"{self.version}.{self.patch}"


class Layout:
    """The ``base/`` directory of one install root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root / BASE_AREA

    def ensure(self) -> None:
        try:
            self.base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create {self.base}: {exc.strerror}; check --root and your permissions"
            ) from exc

    def tree(self, version: str, patch: int) -> Tree:
        return Tree(version, patch, self.base / tree_name(version, patch))

    def trees(self, version: str | None = None) -> list[Tree]:
        """Every patch tree (of ``version``), sorted by version then patch."""
        found: list[Tree] = []
        if not self.base.is_dir():
            return found
        for entry in os.scandir(self.base):
            m = TREE_RE.match(entry.name)
            if m and entry.is_dir(follow_symlinks=False) and version in (None, m.group(1)):
                found.append(Tree(m.group(1), int(m.group(2)), Path(entry.path)))
        return sorted(found, key=lambda t: (t.version, t.patch))

    def versions(self) -> list[str]:
        """Every version that has a version symlink or a patch tree."""
        names = {t.version for t in self.trees()}
        if self.base.is_dir():
            names.update(
                e.name for e in os.scandir(self.base) if is_version(e.name) and e.is_symlink()
            )
        return sorted(names)

    def current(self, version: str) -> Tree | None:
        """The patch tree that ``base/<version>`` points to (None: no symlink or not a tree)."""
        target = read_link(self.base / version)
        m = TREE_RE.match(target or "")
        if target is None or not m or m.group(1) != version:
            return None
        if not (self.base / target).is_dir():
            return None
        return self.tree(version, int(m.group(2)))

    def pro(self) -> str | None:
        """The version ``pro`` points to, or None."""
        target = read_link(self.base / PRO)
        return target if target is not None and is_version(target) else None

    def switch(self, name: str, target: str) -> str | None:
        """Point ``base/<name>`` at ``target`` atomically; return the previous target."""
        link = self.base / name
        if os.path.lexists(link) and not os.path.islink(link):
            raise UsageError(f"{link} exists and is not a symlink; move it away, then retry")
        return switch_symlink(link, target)

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.base / name)

    def hidden(self, prefix: str) -> Path:
        """A new unique hidden name under base/ (not created)."""
        return self.base / f"{prefix}{secrets.token_hex(4)}"

    def leftovers(self, keep: Path | None = None) -> list[Path]:
        """What an interrupted run left behind: staging, trash, downloads, temporary symlinks,
        locks being taken (``keep``: a path that is in use, e.g. a staged tree handed over)."""
        found: list[Path] = []
        if not self.base.is_dir():
            return found
        for entry in os.scandir(self.base):
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

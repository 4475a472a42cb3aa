"""The shared area's layout, and the atomic operations on it.

::

    <root>/base/._2023.06.1/        real trees, one per patch release (never renamed once in place)
    <root>/base/._2023.06.2/
    <root>/base/2023.06 -> ._2023.06.2
    <root>/base/pro     -> 2023.06
    <root>/base/.lock/              while an installer runs (see lock.py)
    <root>/base/.staging-*/         a tree being unpacked (hidden; removed by the next run)
    <root>/base/.trash-*/           a tree being deleted (hidden; removed by the next run)

Every visible name changes by one ``rename(2)``: a new tree is renamed into place complete, a
symlink is switched by renaming a new symlink over it (``name.tmp-XXXX``, then ``os.replace``),
a tree is removed by renaming it to ``.trash-*`` first. A reader therefore sees the old state or
the new one, on a local disk and on NFS alike (rename is one atomic NFS operation).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MetadataError, UsageError

DEFAULT_ROOT = "/acc/local/share/python/acc-py"
ROOT_ENV = "ACC_PY_ROOT"
METADATA_NAME = "ACC-PY.json"
RECORD_NAME = "ACC-PY.RECORD"
PRO = "pro"
_VERSION = r"\d{4}\.\d{2}(?:\.dev\d+)?"
VERSION_RE = re.compile(rf"^{_VERSION}$")
TREE_RE = re.compile(rf"^\._({_VERSION})\.(\d+)$")
RELEASE_RE = re.compile(rf"^({_VERSION})(?:\.(\d+))?$")
LEFTOVER_PREFIXES = (".staging-", ".trash-", ".download-")


def default_root() -> str:
    return os.environ.get(ROOT_ENV) or DEFAULT_ROOT


def tree_name(version: str, patch: int) -> str:
    return f"._{version}.{patch}"


def parse_release(text: str) -> tuple[str, int | None]:
    """``2023.06`` -> ("2023.06", None); ``2023.06.2`` -> ("2023.06", 2)."""
    m = RELEASE_RE.match(text)
    if not m:
        raise UsageError(f"{text!r} is not a base version; write e.g. 2023.06 or 2023.06.2")
    return m.group(1), int(m.group(2)) if m.group(2) is not None else None


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
        self.base = root / "base"

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
                e.name for e in os.scandir(self.base) if VERSION_RE.match(e.name) and e.is_symlink()
            )
        return sorted(names)

    def current(self, version: str) -> Tree | None:
        """The patch tree that ``base/<version>`` points to (None: no symlink or not a tree)."""
        try:
            target = os.readlink(self.base / version)
        except OSError:
            return None
        m = TREE_RE.match(target)
        if not m or m.group(1) != version or not (self.base / target).is_dir():
            return None
        return self.tree(version, int(m.group(2)))

    def pro(self) -> str | None:
        """The version ``pro`` points to, or None."""
        try:
            target = os.readlink(self.base / PRO)
        except OSError:
            return None
        return target if VERSION_RE.match(target) else None

    def switch(self, name: str, target: str) -> str | None:
        """Point ``base/<name>`` at ``target`` atomically; return the previous target."""
        link = self.base / name
        try:
            previous: str | None = os.readlink(link)
        except FileNotFoundError:
            previous = None
        except OSError as exc:
            raise UsageError(
                f"{link} exists and is not a symlink; move it away, then retry"
            ) from exc
        tmp = self.base / f"{name}.tmp-{secrets.token_hex(4)}"
        os.symlink(target, tmp)
        crash_point(f"temporary symlink {tmp.name} -> {target}")
        os.replace(tmp, link)
        return previous

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.base / name)

    def hidden(self, prefix: str) -> Path:
        """A new unique hidden name under base/ (not created)."""
        return self.base / f"{prefix}{secrets.token_hex(4)}"

    def leftovers(self) -> list[Path]:
        """What an interrupted run left behind: staging, trash, downloads, temporary symlinks."""
        found: list[Path] = []
        if not self.base.is_dir():
            return found
        for entry in os.scandir(self.base):
            if entry.name.startswith(LEFTOVER_PREFIXES) or (
                ".tmp-" in entry.name and entry.is_symlink()
            ):
                found.append(Path(entry.path))
            elif entry.name.startswith(".lock.") and entry.is_dir(follow_symlinks=False):
                found.append(Path(entry.path))  # a lock that was being taken or broken
        return sorted(found)


def read_metadata(tree: Path) -> dict[str, Any]:
    path = tree / METADATA_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MetadataError(f"cannot read {path}: {exc}; is this an Acc-Py base tree?") from exc
    if not isinstance(data, dict):
        raise MetadataError(f"{path} is not a JSON object; is this an Acc-Py base tree?")
    return data


def remove_tree(path: Path) -> None:
    """Delete a tree, also a read-only one (``--read-only`` installs)."""

    def onerror(func: Any, failed: str, exc_info: Any) -> None:
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | stat.S_IWUSR)
            if not os.path.islink(failed) and os.path.isdir(failed):
                os.chmod(failed, stat.S_IMODE(os.lstat(failed).st_mode) | 0o700)
            func(failed)
        except FileNotFoundError:
            pass

    if os.path.islink(path) or not path.exists():
        if os.path.lexists(path):
            os.unlink(path)
        return
    shutil.rmtree(path, onerror=onerror)


def disk_usage(path: Path) -> int:
    """Bytes allocated to the files of a tree (like ``du -s``, hard links counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [os.fspath(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


def crash_point(what: str) -> None:
    """Test hook: ``ACC_PY_INSTALL_CRASH_AT=N`` SIGKILLs this process at the N-th step.

    Every step of a mutating command calls this; the crash-safety tests iterate N over them.
    """
    _STEPS.append(what)
    at = os.environ.get("ACC_PY_INSTALL_CRASH_AT")
    if at and int(at) == len(_STEPS):
        import signal
        import sys

        print(f"crash_point {len(_STEPS)}: {what}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


_STEPS: list[str] = []


def end_of_life_reason(metadata: dict[str, object], today: datetime.date | None = None) -> str:
    """Why a base must not become pro ("" if it may)."""
    status = metadata.get("status")
    eol = metadata.get("end_of_life")
    today = today or datetime.date.today()
    if status in ("end-of-life", "eol", "retired"):
        return f"its status is {status}"
    if isinstance(eol, str):
        try:
            date = datetime.date.fromisoformat(eol)
        except ValueError:
            return ""
        if date <= today:
            return f"it reached its end of life on {eol} (status {status})"
    return ""

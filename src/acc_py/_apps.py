"""Deployed applications on disk: one tree per version and base, and the names users keep.

::

    <deploy-base>/<app>/
      .<version>@<base>/          the deployment of <version> on <base>: venv/, exec/,
                                  requirements.txt (the lock), app.json
      <version> -> .<version>@<base>           the version's current deployment
      .<version>@previous -> .<version>@<base0> the deployment it replaced (rollback)
      latest -> <version>, pro -> <version>
      .lock/                      held while these names are switched

A tree is written under a temporary name, made durable and renamed into place; once there it is
never renamed nor changed, and every path baked into it (the venv's, in ``exec/`` launchers,
shebangs and activate scripts) names the tree itself, never ``<version>``. So a process keeps
the tree it started from, down to its last import, while ``<version>`` moves to another base
(one symlink renamed over the other, :func:`accpy_core.fs.switch_symlink`). ``@`` cannot occur
in a version, and a base is ``YYYY.MM``: a tree's name says which version and which base.

What an older acc-py made, ``<version>/`` as a real directory (its paths name
``<version>/venv``), works as it is, and is migrated when the version is deployed on another
base (:func:`migrate`): renamed to its tree's name in the same step as ``<version>`` becomes a
symlink to it (a swap, ``renameat2(RENAME_EXCHANGE)``; two renames where the file system cannot
swap, NFS), then its paths are rewritten to name the tree, one file at a time while both names
lead to it. Processes started from it before the migration name ``<version>/venv``: they see
the new base at their next import, so restart them.

Two deployments of a version are the same when :class:`Content` is: the base, the lock's pins
and the wheel's files (:func:`wheel_digest`, which does not depend on when the wheel was built).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from accpy_core.errors import AccPyError, RefusedError
from accpy_core.fs import atomic_write, crash_point, exchange, read_link, switch_symlink
from accpy_core.versions import is_version

from .app import parse_lock

SEP = "@"
PREVIOUS = "previous"
META = "app.json"
#: how long a deploy waits for another one switching the same application's names
LOCK_TIMEOUT = 300.0
#: a temporary symlink of :func:`accpy_core.fs.switch_symlink`
_LEFT_SYMLINK = re.compile(r"^.+\.tmp-[0-9a-f]{8}$")
#: the files of a wheel's .dist-info that pip writes or rewrites when it installs it
_INSTALLER_FILES = frozenset(
    ("RECORD", "RECORD.jws", "RECORD.p7s", "INSTALLER", "REQUESTED", "direct_url.json")
)


def deploy_base(args: argparse.Namespace) -> str:
    """--deploy-base, else $ACC_PY_DEPLOY_BASE, else ~/acc-py-apps (absolute)."""
    d = args.deploy_base or os.environ.get("ACC_PY_DEPLOY_BASE")
    return os.path.abspath(d or os.path.join(os.path.expanduser("~"), "acc-py-apps"))


def switch_link(app_dir: str, link: str, version: str) -> None:
    """Point ``app_dir/link`` (latest, pro) at ``version``: a new symlink renamed over the old."""
    switch_symlink(os.path.join(app_dir, link), version)


def app_key(name: str) -> str:
    """The directory name of an application: its wheel name, lower case (my-app -> my_app)."""
    return "".join(c if c.isalnum() or c == "." else "_" for c in name.lower())


def tree_name(version: str, base: str) -> str:
    return f".{version}{SEP}{base}"


def previous_name(version: str) -> str:
    return f".{version}{SEP}{PREVIOUS}"


def parse_tree(name: str) -> tuple[str, str] | None:
    """(version, base) of a tree's name, None for any other name."""
    if not name.startswith("."):
        return None
    version, sep, base = name[1:].rpartition(SEP)
    return (version, base) if sep and version and is_version(base) else None


def read_meta(app_dir: str, name: str) -> dict[str, object]:
    """The ``app.json`` of the deployment ``name`` ({} if it has none)."""
    try:
        with open(os.path.join(app_dir, name, META), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_deployment(app_dir: str, name: str) -> bool:
    return os.path.isfile(os.path.join(app_dir, name, META))


def current(app_dir: str, version: str) -> str | None:
    """The entry of ``app_dir`` that holds the current deployment of ``version``: the tree its
    symlink names, ``version`` itself for a real directory (an older acc-py's), or None."""
    path = os.path.join(app_dir, version)
    target = read_link(path)
    if target is None:
        if os.path.isdir(path) and _is_deployment(app_dir, version):
            return version
        return None
    found = parse_tree(target)
    if found is None or found[0] != version or not _is_deployment(app_dir, target):
        return None
    return target


def is_legacy(app_dir: str, name: str) -> bool:
    """Is ``name`` a version's real directory (the layout of an older acc-py)?"""
    return not os.path.islink(os.path.join(app_dir, name)) and parse_tree(name) is None


def versions(app_dir: str) -> list[str]:
    """The deployed versions of an application (unsorted)."""
    return [
        n for n in os.listdir(app_dir) if not n.startswith(".") and current(app_dir, n) is not None
    ]


def trees(app_dir: str, version: str) -> dict[str, str]:
    """{base: tree name} of the trees of ``version``."""
    out = {}
    for name in os.listdir(app_dir):
        found = parse_tree(name)
        if found and found[0] == version and _is_deployment(app_dir, name):
            out[found[1]] = name
    return out


def base_of(app_dir: str, name: str) -> str:
    found = parse_tree(name)
    return found[1] if found else str(read_meta(app_dir, name).get("base", "?"))


def previous(app_dir: str, version: str) -> str | None:
    """The tree ``version`` was switched away from last, if it is still there."""
    target = read_link(os.path.join(app_dir, previous_name(version)))
    if target is None or target == current(app_dir, version):
        return None
    found = parse_tree(target)
    if found is None or found[0] != version or not _is_deployment(app_dir, target):
        return None
    return target


@contextlib.contextmanager
def locked(app_dir: str) -> Iterator[None]:
    """Hold ``app_dir``/.lock (:class:`accpy_core.lock.RootLock`, NFS-safe) for the block, in
    which every symlink of ``app_dir`` is switched; the temporary symlinks a killed switch left
    (``name.tmp-XXXXXXXX``) are removed first."""
    from accpy_core.lock import RootLock

    with RootLock(Path(app_dir), timeout=LOCK_TIMEOUT):
        for name in os.listdir(app_dir):
            path = os.path.join(app_dir, name)
            if _LEFT_SYMLINK.match(name) and os.path.islink(path):
                os.unlink(path)
        yield


# ------------------------------------------------------------------- what a deployment is


@dataclass(frozen=True)
class Content:
    """What makes two deployments of a version the same: the base, the lock's pins (sorted
    ``name==version --hash=sha256:...`` lines) and :func:`wheel_digest` of the app's wheel."""

    base: str
    pins: tuple[str, ...]
    wheel: str

    def to_json(self) -> dict[str, object]:
        return {"base": self.base, "pins": list(self.pins), "wheel": self.wheel}

    def differs(self, other: Content) -> str:
        """What differs from ``other``, in words ("" when nothing does)."""
        parts = [
            what
            for what, same in (
                ("the lock's pins", self.pins == other.pins),
                ("the wheel's files", self.wheel == other.wheel),
                ("the base", self.base == other.base),
            )
            if not same
        ]
        return " and ".join(parts)


def content(base: str, reqs: Iterable[str], wheel: str) -> Content:
    return Content(base, tuple(sorted(reqs)), wheel_digest(wheel))


def _digest(files: Iterable[tuple[str, str]]) -> str:
    """sha256 of the sorted ``path sha256`` lines of a wheel's files, leaving out what pip
    writes when it installs a wheel and bytecode."""
    lines = []
    for path, digest in files:
        parts = path.split("/")
        if parts[-1].endswith(".pyc") or "__pycache__" in parts:
            continue
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in _INSTALLER_FILES:
            continue
        lines.append(f"{path} {digest}\n")
    return hashlib.sha256("".join(sorted(lines)).encode("utf-8")).hexdigest()


def wheel_digest(wheel: str) -> str:
    """The digest of the files of ``wheel`` (their names and contents: not the zip's dates nor
    its order, so the same sources built again give the same digest)."""
    with zipfile.ZipFile(wheel) as zf:
        files = [
            (info.filename, hashlib.sha256(zf.read(info)).hexdigest())
            for info in zf.infolist()
            if not info.is_dir()
        ]
    return _digest(files)


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def installed_digest(venv: str, app: str, version: str) -> str | None:
    """:func:`wheel_digest` of the wheel of ``app`` ``version`` installed in ``venv``, from the
    files its RECORD lists, as they are on disk; None if it is not there. Files a wheel installs
    outside site-packages (its .data) have no wheel path: such a wheel never matches."""
    lib = os.path.join(venv, "lib")
    for pydir in sorted(os.listdir(lib)) if os.path.isdir(lib) else []:
        site = os.path.join(lib, pydir, "site-packages")
        for info in sorted(os.listdir(site)) if os.path.isdir(site) else []:
            name, _, rest = info.partition("-")
            if rest != f"{version}.dist-info" or app_key(name) != app:
                continue
            try:
                with open(os.path.join(site, info, "RECORD"), encoding="utf-8", newline="") as f:
                    rows = [row[0] for row in csv.reader(f) if row]
                files = [(p, _file_sha256(os.path.join(site, p))) for p in rows if _inside(p)]
            except OSError:
                return None
            return _digest(files)
    return None


def _inside(path: str) -> bool:
    return not os.path.isabs(path) and ".." not in path.split("/")


def content_of(app_dir: str, name: str) -> Content | None:
    """The :class:`Content` of the deployment ``name``: as its app.json records it, or, for one
    made by an older acc-py, read from its lock and its installed files."""
    meta = read_meta(app_dir, name)
    recorded = meta.get("content")
    if isinstance(recorded, dict):
        pins = recorded.get("pins")
        return Content(
            str(recorded.get("base")),
            tuple(str(p) for p in pins) if isinstance(pins, list) else (),
            str(recorded.get("wheel")),
        )
    top = os.path.join(app_dir, name)
    lock = os.path.join(top, "requirements.txt")
    try:
        with open(lock, encoding="utf-8") as f:
            _, reqs = parse_lock(f.read(), lock)
    except (OSError, AccPyError):
        return None
    digest = installed_digest(
        os.path.join(top, "venv"), str(meta.get("app")), str(meta.get("version"))
    )
    if digest is None:
        return None
    return Content(str(meta.get("base")), tuple(sorted(reqs)), digest)


# ------------------------------------------------------------------- switching the names


def rewrite_paths(files: Iterable[str], old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the text files among ``files`` (one atomic rename each;
    symlinks and binaries are left alone)."""
    old_b, new_b = old.encode(), new.encode()
    for path in files:
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if old_b in data and b"\0" not in data:
            atomic_write(path, data.replace(old_b, new_b), os.stat(path).st_mode & 0o7777)


def script_files(top: str) -> list[str]:
    """The files of a deployment that name its venv's path: venv/bin/*, exec/*, pyvenv.cfg."""
    out = [os.path.join(top, "venv", "pyvenv.cfg")]
    for sub in (os.path.join("venv", "bin"), "exec"):
        d = os.path.join(top, sub)
        out += [os.path.join(d, n) for n in sorted(os.listdir(d))] if os.path.isdir(d) else []
    return out


_SH_EXEC = "'''exec' "


def _baked_venv(top: str) -> str | None:
    """The venv path the deployment ``top`` was made for (the shebang of its bin/pip, or the
    exec line of the /bin/sh form pip writes where that path is over 127 bytes)."""
    try:
        with open(os.path.join(top, "venv", "bin", "pip"), "rb") as f:
            first = f.readline().decode("utf-8", "replace").strip()
            second = f.readline().decode("utf-8", "replace").strip()
    except OSError:
        return None
    suffix = "/bin/python"
    if first == "#!/bin/sh" and second.startswith(_SH_EXEC):
        first = "#!" + second[len(_SH_EXEC) :].split(" ", 1)[0].strip("'")
    if first.startswith("#!/") and first.endswith(suffix):
        return first[2 : -len(suffix)]
    return None


def relocate(app_dir: str, name: str) -> None:
    """Make the tree ``name`` name itself in every path it holds (a migrated older deployment
    names ``<version>/venv``); app.json says ``"tree"`` once done. Run while ``<version>``
    leads to the tree, so that it works at every step."""
    meta = read_meta(app_dir, name)
    if meta.get("tree") == name or parse_tree(name) is None:
        return
    top = os.path.join(app_dir, name)
    old, new = _baked_venv(top), os.path.join(top, "venv")
    if old is None:
        return  # nothing says which path it names: it keeps working through <version>
    if old != new:
        rewrite_paths(script_files(top), old, new)
    crash_point(f"relocated {name}")
    meta["tree"] = name
    atomic_write(os.path.join(top, META), json.dumps(meta, indent=2, sort_keys=True) + "\n")


def migrate(app_dir: str, version: str) -> str:
    """Turn the real directory ``<version>`` (an older acc-py's) into the tree of its base,
    with ``<version>`` a symlink to it; the tree's name. Nothing is copied."""
    legacy = os.path.join(app_dir, version)
    name = tree_name(version, str(read_meta(app_dir, version).get("base")))
    tree = os.path.join(app_dir, name)
    if os.path.islink(tree) and read_link(tree) == name:
        os.unlink(tree)  # left by an interrupted migration
    if os.path.lexists(tree):
        raise RefusedError(
            f"{legacy} (made by an older acc-py) cannot move to {tree}, which exists; move that "
            "away and deploy again"
        )
    os.symlink(name, tree)  # a symlink to itself, which the swap turns into <version>'s
    crash_point(f"migrating {version}: symlink {name}")
    try:
        swapped = exchange(tree, legacy)
    except BaseException:
        os.unlink(tree)
        raise
    if not swapped:
        os.unlink(tree)
        os.rename(legacy, tree)
        crash_point(f"migrating {version}: renamed to {name}")
        switch_symlink(legacy, name)
    crash_point(f"migrated {version} to {name}")
    return name


def repair(app_dir: str, version: str) -> None:
    """After an interrupted deploy: ``<version>`` missing beside its trees gets one back, the
    one an interrupted migration left (no ``"tree"`` yet), else the only one."""
    if os.path.lexists(os.path.join(app_dir, version)):
        return
    found = sorted(trees(app_dir, version).values())
    unmoved = [n for n in found if read_meta(app_dir, n).get("tree") != n]
    chosen = unmoved if len(unmoved) == 1 else found
    if len(chosen) == 1:
        switch_symlink(os.path.join(app_dir, version), chosen[0])


def switch(app_dir: str, version: str, name: str) -> str | None:
    """Point ``<version>`` at the tree ``name`` (an older acc-py's directory is migrated first);
    ``.<version>@previous`` at the one it leaves, which is returned (None if there was none)."""
    was = current(app_dir, version)
    if was is not None and is_legacy(app_dir, was):
        was = migrate(app_dir, version)
    if was is not None:
        relocate(app_dir, was)  # self-contained before it stops being <version>
    if was is not None and was != name:
        switch_symlink(os.path.join(app_dir, previous_name(version)), was)
    switch_symlink(os.path.join(app_dir, version), name)
    relocate(app_dir, name)
    return was if was != name else None

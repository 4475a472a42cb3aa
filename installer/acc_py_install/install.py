"""``install``: put a base tarball onto the shared area, atomically, under the root's lock.

Steps (each one leaves ``base/<version>`` and ``pro`` pointing to a complete tree, so that a
crash anywhere, even SIGKILL, is harmless and a re-run completes the job):

1. take the lock; remove what an interrupted run left (``.staging-*``, ``.trash-*``, temporary
   symlinks);
2. check the ``.sha256`` (a URL is downloaded first, with its ``.sha256``);
3. read ``ACC-PY.json`` from the archive: version and platform must match the file name, the
   platform tag this host (architecture, glibc); nothing is written before this;
4. unpack into ``base/.staging-XXXX`` (same file system), refusing hostile members, hashing
   every file as it is written; check the tree against ``ACC-PY.RECORD``;
5. optionally make it read-only; rename it to ``base/._<version>.<patch>``;
6. switch ``base/<version>`` by renaming a new symlink over it; ``--pro`` then switches ``pro``.

The previous patch tree stays (``rollback``, ``remove``). Installing a release that is already
there with the same record is a no-op (or only the symlink switch an interrupted run missed).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from pathlib import Path

from .archive import safe_extract
from .errors import ArchiveError, InstallError, RecordError, SpaceError, UsageError
from .layout import (
    PRO,
    RECORD_NAME,
    Layout,
    crash_point,
    end_of_life_reason,
    read_metadata,
    remove_tree,
)
from .lock import DEFAULT_STALE_HOURS, RootLock, is_stale, read_owner
from .record import compare_record as _compare
from .record import read_record
from .tarball import (
    check_host,
    check_metadata,
    download,
    is_url,
    parse_name,
    peek,
    verify_checksum,
)

log = logging.getLogger(__name__)

_LOCK_LEFTOVER_AGE = 60.0  # .lock.<token> dirs younger than this may be a racer's, in progress


def clean_leftovers(layout: Layout) -> None:
    """Remove what interrupted runs left behind (call with the lock held)."""
    for path in layout.leftovers():
        if path.name.startswith(".lock."):  # a lock being taken, broken or released
            owner = read_owner(path)
            try:
                young = time.time() - path.lstat().st_mtime < _LOCK_LEFTOVER_AGE
            except OSError:
                continue
            if young and (owner is None or not is_stale(owner, DEFAULT_STALE_HOURS)):
                continue
        log.info("removing %s, left by an interrupted run", path.name)
        try:
            remove_tree(path)
        except OSError as exc:
            raise InstallError(f"cannot remove {path}: {exc}; remove it by hand") from exc


def install(
    source: str,
    layout: Layout,
    *,
    pro: bool = False,
    read_only: bool = False,
    force: bool = False,
    timeout: float = 600.0,
    stale_hours: float = DEFAULT_STALE_HOURS,
) -> str:
    """Install ``source`` (a tarball path or URL); return the release installed."""
    layout.ensure()
    with RootLock(layout.base, timeout=timeout, stale_hours=stale_hours):
        crash_point("lock taken")
        clean_leftovers(layout)
        crash_point("leftovers removed")
        download_dir = None
        try:
            if is_url(source):
                download_dir = layout.hidden(".download-")
                download_dir.mkdir()
                tarball = download(source, download_dir)
            else:
                tarball = Path(source)
                verify_checksum(tarball)
            crash_point("checksum verified")
            return _install_checked(tarball, layout, pro=pro, read_only=read_only, force=force)
        except OSError as exc:
            raise _os_error(exc, layout) from exc
        finally:
            if download_dir is not None:
                remove_tree(download_dir)


def _os_error(exc: OSError, layout: Layout) -> InstallError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SpaceError(
            f"no space left on the file system of {layout.base}; nothing visible changed: "
            "free some space and retry"
        )
    return InstallError(f"{exc}; nothing visible changed, fix it and retry")


def _install_checked(
    tarball: Path, layout: Layout, *, pro: bool, read_only: bool, force: bool
) -> str:
    name = parse_name(tarball)
    peeked = peek(tarball, name.version)
    patch = check_metadata(tarball, name, peeked.metadata)
    check_host(name.platform)
    target = layout.tree(name.version, patch)
    current = layout.current(name.version)
    if current is not None and current.patch > patch and not force:
        raise UsageError(
            f"{name.version} is at patch {current.patch}, newer than this tarball's {patch}; "
            f"`acc-py-install rollback {name.version}` goes back, or add --force to install it"
        )
    why = end_of_life_reason(peeked.metadata) if pro else ""
    if why and not force:
        raise UsageError(
            f"{name.version} must not become pro: {why}; install it without --pro, or add --force"
        )
    crash_point("metadata checked")

    if target.path.exists():
        _reuse(target.path, peeked.record, target.release)
    else:
        _unpack(tarball, layout, name.version, peeked.record, target.path, read_only=read_only)

    current = layout.current(name.version)  # again: _reuse/_unpack took time, but the lock is ours
    if current == target:
        log.info("%s is already installed as %s; nothing to do", target.release, name.version)
    else:
        previous = layout.switch(name.version, target.path.name)
        crash_point("version symlink switched")
        kept = f" ({previous} is kept: `rollback {name.version}` goes back)" if previous else ""
        log.info("installed %s: %s -> %s%s", target.release, name.version, target.path.name, kept)
    if pro:
        if layout.pro() == name.version:
            log.info("pro is already %s", name.version)
        else:
            set_pro_link(layout, name.version)
    elif layout.pro() is None:
        log.info("no pro version yet: `acc-py-install set-pro %s` makes it pro", name.version)
    return target.release


def set_pro_link(layout: Layout, version: str) -> None:
    previous = layout.switch(PRO, version)
    crash_point("pro switched")
    log.info("pro -> %s%s", version, f" (was {previous})" if previous else "")


def _reuse(path: Path, record: bytes, release: str) -> None:
    try:
        installed = (path / RECORD_NAME).read_bytes()
    except OSError:
        installed = b""
    if installed != record:
        raise UsageError(
            f"{release} is installed at {path} with other contents than this tarball; a "
            f"rebuilt base needs a new patch number, or run `remove {release} --force` first"
        )


def _unpack(
    tarball: Path, layout: Layout, version: str, record: bytes, target: Path, *, read_only: bool
) -> None:
    staging = layout.hidden(".staging-")
    staging.mkdir()
    crash_point("staging directory created")
    try:
        digests: dict[str, tuple[str, int] | None] = {}
        log.info("unpacking %s into %s", tarball.name, staging.name)
        safe_extract(tarball, staging, digests=digests, strict=True)
        crash_point("unpacked")
        tops = sorted(os.listdir(staging))
        if tops != [version]:
            raise ArchiveError(
                f"{tarball.name} holds {tops} at its top; a base tarball holds one directory "
                f"named {version}"
            )
        tree = staging / version
        _verify_unpacked(tarball, tree, version, record, digests)
        crash_point("verified")
        if read_only:
            make_read_only(tree)
            crash_point("made read-only")
        os.rename(tree, target)
        crash_point("renamed into place")
    finally:
        remove_tree(staging)
    crash_point("staging directory removed")


def _verify_unpacked(
    tarball: Path,
    tree: Path,
    version: str,
    record: bytes,
    digests: dict[str, tuple[str, int] | None],
) -> None:
    if (tree / RECORD_NAME).read_bytes() != record:
        raise ArchiveError(f"{tarball.name} holds two different {RECORD_NAME}; it is hostile")
    read_metadata(tree)
    prefix = version + "/"
    known = {k[len(prefix) :]: v for k, v in digests.items() if v and k.startswith(prefix)}
    diff = _compare(tree, read_record(tree / RECORD_NAME), known)
    if diff:
        parts = [
            f"{len(paths)} {what} ({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''})"
            for what, paths in (
                ("modified", diff.modified),
                ("missing", diff.missing),
                ("extra", diff.extra),
            )
            if paths
        ]
        raise RecordError(
            f"{tarball.name} does not match its own {RECORD_NAME}: {'; '.join(parts)}; the "
            "tarball is corrupt or was tampered with: rebuild or download it again"
        )
    log.info("verified %d files against %s", len(known), RECORD_NAME)


def make_read_only(tree: Path) -> None:
    """``chmod -R a-w``: files first, then directories bottom-up."""
    dirs: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(tree):
        dirs.append(dirpath)
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o222)
    for path in reversed(dirs):
        os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o222)

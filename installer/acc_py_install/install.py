"""``install``: put a base onto the shared area (or into a plain prefix), atomically, locked.

The base comes as a tarball (or URL) or, from the self-extracting installer, as a tree it has
unpacked already (``staged``). Steps, each of which leaves ``base/<version>`` and ``pro``
pointing to a complete tree, so that a crash anywhere, even SIGKILL, is harmless and a re-run
completes the job:

1. take the lock; remove what an interrupted run left (``.staging-*``, ``.trash-*``, temporary
   symlinks), except a staging directory whose owner is still running;
2. a tarball: check its ``.sha256`` (a URL is downloaded first, with its ``.sha256``) and read
   ``ACC-PY.json`` from it; a staged tree: read its ``ACC-PY.json``. Version and platform must
   match the name, the platform tag this host, the patch must not go backwards, and ``--pro``
   must be allowed by the pro policy (:mod:`accpy_core.versions`); nothing is written before;
3. a tarball is unpacked into ``base/.staging-XXXX`` (same file system), refusing hostile
   members and hashing every file as it is written; every file of the tree is then checked
   against ``ACC-PY.RECORD``;
4. optionally made read-only; made durable (``syncfs``: every file and directory is on disk,
   or on the NFS server, before anything points to it); renamed to
   ``base/._<version>.<patch>``, and the directory fsync'ed;
5. ``base/<version>`` is switched by renaming a new symlink over it, the directory fsync'ed;
   ``--pro`` then switches ``pro`` the same way.

The previous patch tree stays (``rollback``, ``remove``). Installing a release that is already
there with the same record is a no-op (or only the symlink switch an interrupted run missed).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ContextManager

from accpy_core.archive import safe_extract
from accpy_core.errors import (
    AccPyError,
    ArchiveError,
    MetadataError,
    RecordError,
    RefusedError,
    SpaceError,
    UsageError,
)
from accpy_core.fs import crash_point, fsync_dir, remove_tree, sync_tree
from accpy_core.layout import (
    BASE_KIND,
    INTERACTIVE_KIND,
    METADATA_NAME,
    PRO,
    RECORD_NAME,
    TREE_RE,
    Layout,
    TarballName,
    parse_tarball_name,
    tarball_stem,
    tree_name,
)
from accpy_core.lock import (
    DEFAULT_STALE_HOURS,
    OWNER_NAME,
    RootLock,
    is_stale,
    owner_of,
    read_owner,
)
from accpy_core.metadata import Metadata, read_metadata
from accpy_core.platforms import host_refusal, parse_platform
from accpy_core.record import compare_record, read_record, verify_sha256_file
from accpy_core.versions import pro_refusal

from .tarball import check_metadata, download, is_url, peek

log = logging.getLogger(__name__)

_LOCK_LEFTOVER_AGE = 60.0  # .lock.<token> dirs younger than this may be a racer's, in progress


@dataclass(frozen=True)
class Options:
    """What the user asked of one install."""

    pro: bool = False
    read_only: bool = False
    force: bool = False
    update: bool = False  # --prefix only: replace the base the prefix holds
    timeout: float = 600.0
    stale_hours: float = DEFAULT_STALE_HOURS


@dataclass(frozen=True)
class Candidate:
    """A base about to be installed: where its tree is (or will be), and what it says it is."""

    name: TarballName
    patch: int
    metadata: Metadata
    record: bytes
    what: str = "this tarball"  # or "this installer": a tree the self-extractor unpacked

    @property
    def release(self) -> str:
        return f"{self.name.version}.{self.patch}"


def in_use(path: Path, stale_hours: float = DEFAULT_STALE_HOURS) -> bool:
    """Is a hidden directory still being worked on (its ``owner`` file names a live process)?"""
    owner = read_owner(path)
    return owner is not None and not is_stale(owner, stale_hours)


def clean_leftovers(layout: Layout) -> None:
    """Remove what interrupted runs left behind (call with the lock held)."""
    for path in layout.leftovers():
        if path.name.startswith(".lock."):  # a lock being taken, broken or released
            try:
                young = time.time() - path.lstat().st_mtime < _LOCK_LEFTOVER_AGE
            except OSError:
                continue
            if young and (read_owner(path) is None or in_use(path)):
                continue
        elif in_use(path):
            continue  # a staging directory whose owner still runs (a self-extractor)
        log.info("removing %s, left by an interrupted run", path.name)
        try:
            remove_tree(path)
        except OSError as exc:
            raise AccPyError(f"cannot remove {path}: {exc}; remove it by hand") from exc


def make_staging(directory: Path, name: str) -> Path:
    """A new hidden directory ``name`` holding the ``owner`` file of this process."""
    path = directory / name
    path.mkdir()
    (path / OWNER_NAME).write_text(json.dumps(asdict(owner_of(os.urandom(8).hex()))))
    return path


def os_error(exc: OSError, where: Path) -> AccPyError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SpaceError(
            f"no space left on the file system of {where}; nothing visible changed: "
            "free some space and retry"
        )
    return AccPyError(f"{exc}; nothing visible changed, fix it and retry")


# --------------------------------------------------------------------------- checks


def candidate_of_tarball(tarball: Path) -> Candidate:
    name = parse_tarball_name(tarball.name)
    peeked = peek(tarball, name.version)
    patch = check_metadata(tarball.name, name, peeked.metadata)
    return Candidate(name, patch, peeked.metadata, peeked.record)


def candidate_of_tree(tree: Path) -> Candidate:
    metadata = read_metadata(tree)
    version = metadata.version
    name = TarballName(version, metadata.platform, metadata.kind)
    patch = check_metadata(str(tree), name, metadata)
    if tree.name not in (version, tree_name(version, patch)):
        raise MetadataError(
            f"{tree} holds release {version}.{patch} in its {METADATA_NAME}; a staged base is "
            f"a directory named after its version ({version}), an installed one ._{version}.{patch}"
        )
    try:
        record = (tree / RECORD_NAME).read_bytes()
    except OSError as exc:
        raise RecordError(f"{tree} has no readable {RECORD_NAME} ({exc.strerror})") from exc
    return Candidate(name, patch, metadata, record, what="this installer")


def check_candidate(cand: Candidate, opts: Options, current_patch: int | None) -> None:
    """The host, the patch order and the pro policy; ``--force`` overrides each, with a warning."""
    why = host_refusal(cand.name.platform)
    if why:
        if not opts.force:
            raise MetadataError(
                f"{cand.release} cannot run here: {why}; install it on a host that fits, "
                "build the base for this one (make base PLATFORM=...), or add --force"
            )
        log.warning("installing %s although %s (--force)", cand.release, why)
    if parse_platform(cand.name.platform, MetadataError).libc is None:
        log.warning("platform tag %s promises no glibc level; the base may not run here",
                    cand.name.platform)  # fmt: skip
    if current_patch is not None and current_patch > cand.patch:
        if not opts.force:
            raise UsageError(
                f"{cand.name.version} is at patch {current_patch}, newer than {cand.what}'s "
                f"{cand.patch}; `acc-py-install rollback {cand.name.version}` goes back, or add "
                "--force to install it"
            )
        log.warning("installing patch %d over the newer %d (--force)", cand.patch, current_patch)
    if opts.pro:
        why = pro_refusal(cand.metadata.status, cand.metadata.end_of_life)
        if why and not opts.force:
            raise UsageError(
                f"{cand.name.version} must not become pro: {why}; install it without --pro, "
                "or add --force"
            )
        if why:
            log.warning("making %s pro although %s (--force)", cand.name.version, why)
    crash_point("metadata checked")


def check_base_installed(cand: Candidate, layout: Layout) -> None:
    """An interactive release needs its base, installed under the same root, of its Python."""
    if cand.name.kind != INTERACTIVE_KIND:
        return
    version = cand.metadata.base
    bases = Layout(layout.root, BASE_KIND)
    tree = bases.current(version) if version else None
    if tree is None:
        have = ", ".join(bases.versions()) or "none"
        raise UsageError(
            f"interactive release {cand.release} sits on base {version}, which is not installed "
            f"under {bases.area} (installed: {have}); install the base first: "
            f"acc-py-install install {tarball_stem(str(version), '<platform>')}.tar.gz"
        )
    python = read_metadata(tree.path).python
    want = cand.metadata.python
    if python.split(".")[:2] != want.split(".")[:2]:
        raise MetadataError(
            f"interactive release {cand.release} was built for CPython {want}, but base "
            f"{version} under {bases.area} is CPython {python}; build the release on that base"
        )


def verify_tree(
    tree: Path, cand: Candidate, known: dict[str, tuple[str, int]] | None = None
) -> None:
    """Every file of ``tree`` against the candidate's record (``known``: hashed on unpacking)."""
    try:
        own = (tree / RECORD_NAME).read_bytes()
    except OSError:
        own = b""
    if own != cand.record:
        raise ArchiveError(f"{cand.release} holds two different {RECORD_NAME}; it is hostile")
    diff = compare_record(tree, read_record(tree / RECORD_NAME), known)
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
            f"{cand.release} does not match its own {RECORD_NAME}: {'; '.join(parts)}; it is "
            "corrupt or was tampered with: rebuild or download it again"
        )
    log.info("verified every file of %s against %s", cand.release, RECORD_NAME)


def unpack(tarball: Path, cand: Candidate, staging: Path) -> Path:
    """Unpack ``tarball`` into ``staging`` and verify it; return the tree."""
    digests: dict[str, tuple[str, int] | None] = {}
    log.info("unpacking %s into %s", tarball.name, staging.name)
    safe_extract(tarball, staging, digests=digests, strict=True)
    crash_point("unpacked")
    version = cand.name.version
    tops = sorted(p for p in os.listdir(staging) if p != OWNER_NAME)
    if tops != [version]:
        raise ArchiveError(
            f"{tarball.name} holds {tops} at its top; a tarball of a {cand.name.kind} holds one "
            f"directory named {version}"
        )
    tree = staging / version
    prefix = version + "/"
    known = {k[len(prefix) :]: v for k, v in digests.items() if v and k.startswith(prefix)}
    verify_tree(tree, cand, known)
    crash_point("verified")
    return tree


def make_read_only(tree: Path) -> None:
    """``chmod -R a-w``: files first, then directories bottom-up."""
    dirs = []
    for dirpath, _dirnames, filenames in os.walk(tree):
        dirs.append(dirpath)
        for name in filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o222)
    for path in reversed(dirs):
        os.chmod(path, stat.S_IMODE(os.lstat(path).st_mode) & ~0o222)


def _same_release(path: Path, record: bytes, release: str) -> None:
    try:
        installed = (path / RECORD_NAME).read_bytes()
    except OSError:
        installed = b""
    if installed != record:
        raise UsageError(
            f"{release} is installed at {path} with other contents than this one; a "
            f"rebuilt base needs a new patch number, or run `remove {release} --force` first"
        )


# --------------------------------------------------------------------------- the shared layout


def install(
    source: str | None,
    layout: Layout,
    opts: Options,
    *,
    staged: Path | None = None,
) -> str:
    """Install ``source`` (a tarball path or URL) or the ``staged`` tree; return the release."""
    layout.ensure()
    staging = None  # the staging directory handed over with the tree: ours to remove
    if staged is not None:
        staged = staged.absolute()
        if staged.parent.parent == layout.area and staged.parent.name.startswith(".staging-"):
            staging = staged.parent
        elif not (staged.parent == layout.area and TREE_RE.match(staged.name)):
            raise UsageError(
                f"--staged {staged} is neither a tree unpacked under {layout.area}/.staging-* "
                f"nor an installed tree {layout.area}/._<version>.<patch>"
            )
    try:
        with RootLock(layout.area, timeout=opts.timeout, stale_hours=opts.stale_hours), _bases_lock(
            layout, opts
        ):
            crash_point("lock taken")
            clean_leftovers(layout)
            crash_point("leftovers removed")
            if staged is not None:
                return _install_tree(staged, candidate_of_tree(staged), layout, opts)
            assert source is not None
            return _install_source(source, layout, opts)
    except OSError as exc:
        raise os_error(exc, layout.area) from exc
    finally:
        if staging is not None:  # placed or refused: what is left of it goes, lock or not
            remove_tree(staging)


def _bases_lock(layout: Layout, opts: Options) -> ContextManager[object]:
    """An interactive release is placed holding the bases' lock too (taken second, always in
    this order), so that its base cannot be removed between the check and the switch."""
    if layout.kind == BASE_KIND:
        return contextlib.nullcontext()
    bases = Layout(layout.root, BASE_KIND)
    bases.ensure()
    return RootLock(bases.area, timeout=opts.timeout, stale_hours=opts.stale_hours)


def _install_source(source: str, layout: Layout, opts: Options) -> str:
    """A tarball path or URL (downloaded beside the trees first)."""
    download_dir = None
    try:
        if is_url(source):
            download_dir = layout.hidden(".download-")
            download_dir.mkdir()
            tarball = download(source, download_dir)
        else:
            tarball = Path(source)
        verify_sha256_file(tarball)
        crash_point("checksum verified")
        return _install_tarball(tarball, layout, opts)
    finally:
        if download_dir is not None:
            remove_tree(download_dir)


def _current_patch(layout: Layout, version: str) -> int | None:
    current = layout.current(version)
    return current.patch if current is not None else None


def _check_version_link(layout: Layout, version: str) -> None:
    """``base/<version>`` must be a symlink (or absent): checked before anything is placed."""
    link = layout.area / version
    if os.path.lexists(link) and not link.is_symlink():
        raise UsageError(f"{link} exists and is not a symlink; move it away, then retry")


def _check_kind(cand: Candidate, layout: Layout) -> None:
    if cand.name.kind != layout.kind:
        raise UsageError(
            f"{cand.release} holds a {cand.name.kind} ({METADATA_NAME}), not a {layout.kind}; "
            "install it from its tarball, whose name says which it is"
        )
    check_base_installed(cand, layout)


def _install_tarball(tarball: Path, layout: Layout, opts: Options) -> str:
    cand = candidate_of_tarball(tarball)
    _check_kind(cand, layout)
    _check_version_link(layout, cand.name.version)
    check_candidate(cand, opts, _current_patch(layout, cand.name.version))
    target = layout.tree(cand.name.version, cand.patch)
    if target.path.exists():
        _same_release(target.path, cand.record, cand.release)
    else:
        staging = make_staging(layout.area, layout.hidden(".staging-").name)
        crash_point("staging directory created")
        try:
            tree = unpack(tarball, cand, staging)
            _place(tree, target.path, opts)
        finally:
            remove_tree(staging)
        crash_point("staging directory removed")
    return _switch(layout, cand, opts)


def _install_tree(tree: Path, cand: Candidate, layout: Layout, opts: Options) -> str:
    _check_kind(cand, layout)
    _check_version_link(layout, cand.name.version)
    check_candidate(cand, opts, _current_patch(layout, cand.name.version))
    target = layout.tree(cand.name.version, cand.patch)
    if target.path.exists():
        _same_release(target.path, cand.record, cand.release)
        if layout.current(cand.name.version) != target:
            log.info("%s is already there; switching %s to it", target.path, cand.name.version)
    else:
        verify_tree(tree, cand)
        crash_point("verified")
        _place(tree, target.path, opts)
    return _switch(layout, cand, opts)


def _place(tree: Path, target: Path, opts: Options) -> None:
    """Rename ``tree`` to ``target``; its files, its directories and the rename are durable
    first, so that a power cut leaves either no tree or a complete one."""
    if opts.read_only:
        make_read_only(tree)
        crash_point("made read-only")
    sync_tree(tree)
    crash_point("made durable")
    os.rename(tree, target)
    fsync_dir(target.parent)
    crash_point("renamed into place")


def _switch(layout: Layout, cand: Candidate, opts: Options) -> str:
    version = cand.name.version
    target = layout.tree(version, cand.patch)
    if layout.current(version) == target:
        log.info("%s is already installed as %s; nothing to do", cand.release, version)
    else:
        previous = layout.switch(version, target.path.name)
        crash_point("version symlink switched")
        kept = f" ({previous} is kept: `rollback {version}` goes back)" if previous else ""
        log.info("installed %s: %s -> %s%s", cand.release, version, target.path.name, kept)
    if opts.pro:
        if layout.pro() == version:
            log.info("pro is already %s", version)
        else:
            set_pro_link(layout, version)
    elif layout.pro() is None:
        log.info("no pro version yet: `acc-py-install set-pro %s` makes it pro", version)
    return cand.release


def set_pro_link(layout: Layout, version: str) -> None:
    previous = layout.switch(PRO, version)
    crash_point("pro switched")
    log.info("pro -> %s%s", version, f" (was {previous})" if previous else "")


# --------------------------------------------------------------------------- a plain prefix


def install_prefix(
    source: str | None, prefix: Path, opts: Options, *, staged: Path | None = None
) -> str:
    """Install into the plain directory ``prefix`` (``prefix/setup.sh``, ``prefix/bin``).

    ``prefix`` must be absent or empty; one that holds this release already is left alone;
    ``opts.update`` replaces the base it holds. Staging and the lock are beside it.
    """
    prefix = prefix.absolute()
    parent = prefix.parent
    if staged is not None:
        staged = staged.absolute()
        if staged.parent.parent != parent or not staged.parent.name.startswith(
            f".{prefix.name}.staging-"
        ):
            raise UsageError(
                f"--staged {staged} is not a tree unpacked under {parent}/.{prefix.name}.staging-*"
            )
    if prefix == parent:
        raise UsageError("--prefix / is not a prefix: give a directory for the base")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {parent}: {exc.strerror}; check the path") from exc
    lock = RootLock(
        parent, timeout=opts.timeout, stale_hours=opts.stale_hours, name=f".{prefix.name}.lock"
    )
    try:
        with lock:
            crash_point("lock taken")
            own = (f".{prefix.name}.staging-", f".{prefix.name}.old-")
            for entry in sorted(parent.iterdir()):
                in_progress = staged is not None and entry == staged.parent
                if entry.name.startswith(own) and not in_progress and not in_use(entry):
                    log.info("removing %s, left by an interrupted run", entry.name)
                    remove_tree(entry)
            return _install_prefix(source, prefix, opts, staged)
    except OSError as exc:
        raise os_error(exc, parent) from exc
    finally:
        if staged is not None:  # placed or refused: what is left of it goes, lock or not
            remove_tree(staged.parent)


def _prefix_state(prefix: Path, cand: Candidate, opts: Options) -> str:
    """new | empty | noop | replace, or a refusal."""
    if not os.path.lexists(prefix):
        return "new"
    if prefix.is_symlink():
        raise RefusedError(
            f"{prefix} is a symlink: give --prefix the directory it points to, or use --root "
            "for the shared layout"
        )
    if not prefix.is_dir():
        raise RefusedError(f"{prefix} exists and is not a directory: choose another --prefix")
    if not os.listdir(prefix):
        return "empty"
    if not (prefix / METADATA_NAME).is_file():
        raise RefusedError(
            f"{prefix} exists, is not empty and holds no Acc-Py base (no {METADATA_NAME}): "
            "choose a new or empty --prefix"
        )
    try:
        installed: str | None = read_metadata(prefix).release
    except MetadataError:
        installed = None
    if installed == cand.release and not opts.update:
        return "noop"
    if not opts.update:
        raise RefusedError(
            f"{prefix} holds the Acc-Py base {installed}: choose a new or empty --prefix, or "
            "add -u (--update) to replace it"
        )
    return "replace"


def _install_prefix(source: str | None, prefix: Path, opts: Options, staged: Path | None) -> str:
    parent = prefix.parent
    if staged is not None:
        cand = candidate_of_tree(staged)
    else:
        assert source is not None
        tarball = Path(source)
        verify_sha256_file(tarball)
        cand = candidate_of_tarball(tarball)
    if cand.name.kind != BASE_KIND:
        raise UsageError(
            f"{cand.release} is an interactive release: it goes into an install root beside its "
            "base (--root), not into a --prefix"
        )
    check_candidate(cand, Options(force=opts.force), None)
    state = _prefix_state(prefix, cand, opts)
    if state == "noop":
        log.info("%s already holds Acc-Py base %s; nothing to do", prefix, cand.release)
        return cand.release
    staging = None
    try:
        if staged is not None:
            tree = staged
            verify_tree(tree, cand)
        else:
            staging = make_staging(parent, f".{prefix.name}.staging-{os.getpid()}")
            tree = unpack(tarball, cand, staging)
        crash_point("verified")
        sync_tree(tree)
        if state == "replace":
            old = parent / f".{prefix.name}.old-{os.getpid()}"
            os.rename(prefix, old)
            crash_point("old base moved aside")
            try:
                os.rename(tree, prefix)
            except OSError:
                os.rename(old, prefix)
                raise
            remove_tree(old)
        else:
            os.rename(tree, prefix)  # rename(2) replaces an empty directory too
        fsync_dir(parent)
        crash_point("renamed into place")
    finally:
        if staging is not None:
            remove_tree(staging)
    log.info("installed Acc-Py base %s in %s; activate it with: . %s/setup.sh",
             cand.release, prefix, prefix)  # fmt: skip
    return cand.release

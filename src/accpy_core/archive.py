"""Unpack tarballs without trusting them.

``safe_extract`` streams ``.tar.gz``/``.tgz``, ``.tar.zst`` and ``.tar`` archives member by member
through a check equivalent to (and, where available, combined with) tarfile's ``data`` filter:
absolute names, ``..``, links that leave the destination, device nodes, FIFOs and sparse files
are refused; setuid/setgid/sticky and group/other write bits are stripped; owners are not
restored. A truncated or corrupt archive raises ArchiveError naming the file; a full disk
raises SpaceError. With ``digests``, every regular file is hashed (sha256) while it is written,
so that checking the tree against its record needs no second read.

The optional ``zstandard`` module is needed for ``.tar.zst`` only.
"""

from __future__ import annotations

import copy
import errno
import gzip
import hashlib
import logging
import os
import posixpath
import queue
import stat
import tarfile
import threading
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any, Dict, Optional, Tuple

from .errors import AccPyError, ArchiveError, SpaceError
from .fs import is_inside
from .layout import TARBALL_SUFFIXES

log = logging.getLogger(__name__)

SUFFIXES = TARBALL_SUFFIXES
_CHUNK = 1 << 20
#: tarfile.data_filter and the ``filter=`` argument exist from Python 3.8.17 / 3.9.17 / 3.11.4
_DATA_FILTER = getattr(tarfile, "data_filter", None)
_FILTER_ERROR: tuple[type[Exception], ...] = tuple(
    e for e in (getattr(tarfile, "FilterError", None),) if e is not None
)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
#: tarfile's stream buffer: it copies what it holds on every header read, so keep it small
_TAR_BUFSIZE = 64 << 10

#: archive member name (normalised) -> (sha256 hex, size); None for a hard link (hash it later)
Digests = Dict[str, Optional[Tuple[str, int]]]


def _zstd_errors() -> tuple[type[Exception], ...]:
    try:
        import zstandard
    except ImportError:
        return ()
    return (zstandard.ZstdError,)


#: what a corrupt or truncated archive raises while being read
BROKEN: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, zlib.error, *_zstd_errors())


class _ZstdReader:
    """A forward-only file object over a zstd stream that notices truncation at the end."""

    def __init__(self, raw: IO[bytes], archive: Path) -> None:
        try:
            import zstandard
        except ImportError:
            raise ArchiveError(
                f"{archive}: .tar.zst needs the zstandard module (python3 -m pip install "
                "zstandard); or install the .tar.gz of the same base"
            ) from None
        self._new = zstandard.ZstdDecompressor
        self._raw = raw
        self._dobj = self._new().decompressobj()
        self._buf = b""
        self._pos = 0
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buf) - self._pos < size):
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                self._eof = True
                if not self._dobj.eof:
                    raise EOFError("zstd stream ended before the end of its frame")
                break
            if self._dobj.eof:  # a following frame: decompress it too
                self._dobj = self._new().decompressobj()
            self._buf = self._buf[self._pos :] + self._dobj.decompress(chunk)
            self._pos = 0
        end = len(self._buf) if size < 0 else min(len(self._buf), self._pos + size)
        data = self._buf[self._pos : end]
        self._pos = end
        return data


class _Prefetch:
    """Read a (decompressing) stream ahead in a thread: zlib and zstd release the GIL, so the
    archive is decompressed on one core while the caller writes and hashes on another."""

    def __init__(self, stream: Any, depth: int = 16) -> None:
        self._stream = stream
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(depth)
        self._stop = threading.Event()
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="decompress", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while True:
                data = self._stream.read(_CHUNK)
                if not self._put(data) or not data:
                    break
        except BaseException as exc:  # handed to the reading thread
            self._put(exc)

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        want = size
        while want != 0:
            if self._pos >= len(self._buf):
                if self._eof:
                    break
                item = self._queue.get()
                if isinstance(item, BaseException):
                    self._eof = True
                    raise item
                if not item:
                    self._eof = True
                    break
                self._buf, self._pos = item, 0
            end = len(self._buf) if want < 0 else min(len(self._buf), self._pos + want)
            if self._pos == 0 and end == len(self._buf):
                parts.append(self._buf)
            else:
                parts.append(self._buf[self._pos : end])
            if want > 0:
                want -= end - self._pos
            self._pos = end
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def open_stream(archive: Path, raw: IO[bytes]) -> Any:
    name = archive.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # checks CRC and length at the end
    if name.endswith(".tar.zst"):
        return _ZstdReader(raw, archive)
    if name.endswith(".tar"):
        return raw
    raise ArchiveError(
        f"{archive}: unsupported archive type; expected one of {', '.join(SUFFIXES)}"
    )


def safe_extract(
    archive: Path, dest: Path, *, digests: Digests | None = None, strict: bool = False
) -> None:
    """Extract ``archive`` into ``dest`` (created if missing), refusing anything hostile.

    With ``digests``, fill it with the sha256 and size of every regular file written.
    ``strict``: refuse setuid/setgid bits rather than strip them.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with archive.open("rb") as raw:
            stream: Any = _Prefetch(open_stream(archive, raw))
            try:
                with tarfile.open(fileobj=stream, mode="r|", bufsize=_TAR_BUFSIZE) as tar:
                    _extract_members(tar, root, archive, digests, strict=strict)
            finally:
                stream.close()
    except AccPyError:
        raise
    except BROKEN as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({exc})") from exc
    except OSError as exc:  # BadGzipFile, short reads, disk full
        if exc.errno in _NO_SPACE:
            raise SpaceError(
                f"no space left on the file system of {dest} while unpacking {archive.name}; "
                "free some space (the unpacked tree is ~3x the .tar.gz) and retry"
            ) from exc
        raise ArchiveError(f"{archive}: cannot extract: {exc}") from exc


def _drain(fileobj: Any) -> int:
    """Read ``fileobj`` to its end; return how many non-zero bytes it held."""
    nonzero = 0
    while fileobj is not None:
        chunk = fileobj.read(_CHUNK)
        if not chunk:
            break
        nonzero += len(chunk) - chunk.count(0)
    return nonzero


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, mode: int) -> str:
    """Write the data of ``member`` to a new file at ``path``; return its sha256."""
    src = tar.extractfile(member)
    if src is None:  # pragma: no cover - a regular member always has a file object
        raise tarfile.ReadError(f"no data for {member.name!r}")
    digest = hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with open(fd, "wb", buffering=0) as out:
        remaining = member.size
        while remaining:
            data = src.read(min(_CHUNK, remaining))
            if not data:
                raise EOFError(f"unexpected end of data in {member.name!r}")
            remaining -= len(data)
            digest.update(data)
            view = memoryview(data)
            while view:
                view = view[out.write(view) or 0 :]
        os.fchmod(fd, mode)
        os.utime(fd, (member.mtime, member.mtime))
    return digest.hexdigest()


def _clear(path: str) -> bool:
    """Remove a non-directory at ``path`` (a later member of the same name replaces it).

    Returns True when a symlink was removed: paths that went through it may now resolve
    elsewhere.
    """
    if os.path.islink(path):
        os.unlink(path)
        return True
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    return False


def _extract_members(
    tar: tarfile.TarFile, root: Path, archive: Path, digests: Digests | None, *, strict: bool
) -> None:
    symlinks: list[str] = []
    top = str(root)
    # Relative directories known to resolve inside the destination: real directories made here
    # under a checked parent. Their members need no realpath() walk (the costly part of the
    # checks). Forgotten whenever a symlink is replaced, since paths through it change meaning.
    safe_dirs = {"."}
    for member in tar:
        name = str(PurePosixPath(member.name))
        parent_rel = posixpath.dirname(name) or "."
        known = parent_rel in safe_dirs
        clean = check_member(member, root, archive, strict=strict, parent_checked=known)
        if _DATA_FILTER is not None and not (known and (clean.isreg() or clean.isdir())):
            try:  # belt and braces: the stdlib's own checks as well (modes are ours)
                _DATA_FILTER(clean, top)
            except _FILTER_ERROR as exc:
                raise ArchiveError(f"{archive}: refusing {member.name!r}: {exc}") from exc
        path = os.path.join(top, name)
        if not known:
            parent = os.path.dirname(path)
            if not os.path.isdir(parent):
                os.makedirs(parent, mode=0o755)
            safe_dirs.add(parent_rel)
        if clean.isdir():
            if name != ".":
                try:
                    os.mkdir(path, 0o700)
                except FileExistsError:
                    if os.path.islink(path) or not os.path.isdir(path):
                        if _clear(path):
                            safe_dirs = {"."}
                        os.mkdir(path, 0o700)
                safe_dirs.add(name)
            os.chmod(path, clean.mode)
        elif clean.issym():
            try:
                os.symlink(clean.linkname, path)
            except FileExistsError:
                if _clear(path):
                    safe_dirs = {"."}
                os.symlink(clean.linkname, path)
            symlinks.append(name)
        elif clean.islnk():
            if _clear(path):
                safe_dirs = {"."}
            os.link(os.path.join(top, clean.linkname), path, follow_symlinks=False)
            if digests is not None:
                digests[name] = None
        else:
            try:
                digest = _write_file(tar, member, path, clean.mode)
            except FileExistsError:
                if _clear(path):
                    safe_dirs = {"."}
                digest = _write_file(tar, member, path, clean.mode)
            if digests is not None:
                digests[name] = (digest, member.size)
    # tarfile stops silently at a bad header after the first one: what follows the end of the
    # archive must be zero padding. Draining to the end also makes gzip and zstd check trailers.
    trailing = _drain(tar.fileobj)
    if trailing:
        raise ArchiveError(
            f"{archive}: corrupt archive: unreadable tar header at byte {tar.offset} "
            f"followed by {trailing} non-zero bytes"
        )
    # A symlink checked before a later member changed what its path means can end up outside.
    for name in symlinks:
        if not is_inside(root, os.path.realpath(root / name)):
            raise ArchiveError(
                f"{archive}: refusing {name!r}: symlink resolves outside the destination"
            )


def check_member_form(member: tarfile.TarInfo, archive: Path, *, strict: bool = False) -> None:
    """Refuse (ArchiveError) what no unpacking may write, whatever the destination: absolute
    paths, ``..``, devices, FIFOs, sparse files, unknown member types, absolute symlinks, hard
    links out of the archive; with ``strict``, setuid/setgid bits. The checks that need the
    destination (symlinks that resolve outside it) are :func:`check_member`'s."""

    def refuse(why: str) -> ArchiveError:
        return ArchiveError(f"{archive}: refusing {member.name!r}: {why}")

    pure = PurePosixPath(member.name)
    if member.name.startswith("/") or pure.is_absolute():
        raise refuse("absolute path")
    if ".." in pure.parts:
        raise refuse("path contains '..'")
    if member.ischr() or member.isblk():
        raise refuse("device node")
    if member.isfifo():
        raise refuse("FIFO")
    if member.issparse():
        raise refuse("sparse file")
    if strict and member.mode & (stat.S_ISUID | stat.S_ISGID):
        raise refuse(f"setuid/setgid bit (mode {member.mode:o})")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise refuse(f"unsupported member type {member.type!r}")
    if member.issym() and PurePosixPath(member.linkname).is_absolute():
        raise refuse(f"symlink to absolute path {member.linkname!r}")
    if member.islnk():
        link = PurePosixPath(member.linkname)
        if link.is_absolute() or ".." in link.parts:
            raise refuse(f"hard link to {member.linkname!r} outside the destination")


def check_member(
    member: tarfile.TarInfo,
    root: Path,
    archive: Path,
    *,
    strict: bool = False,
    parent_checked: bool = False,
) -> tarfile.TarInfo:
    """Return a sanitised copy of ``member`` or raise ArchiveError saying why it is refused.

    ``strict`` refuses setuid/setgid bits instead of stripping them (an Acc-Py base never has
    any: a tarball with one was not made by the builder). ``parent_checked``: the caller knows
    that the member's parent directory resolves inside ``root``.
    """

    def refuse(why: str) -> ArchiveError:
        return ArchiveError(f"{archive}: refusing {member.name!r}: {why}")

    check_member_form(member, archive, strict=strict)
    target = root / member.name
    if not parent_checked and not is_inside(root, os.path.realpath(target.parent)):
        raise refuse("its parent directory resolves outside the destination")
    if member.issym():
        joined = target.parent / member.linkname
        if not (is_inside(root, joined) and is_inside(root, os.path.realpath(joined))):
            raise refuse(f"symlink {member.linkname!r} points outside the destination")
    if member.islnk() and not is_inside(root, os.path.realpath(root / member.linkname)):
        raise refuse(f"hard link to {member.linkname!r} resolves outside the destination")
    clean = copy.copy(member)
    clean.uid = clean.gid = 0
    clean.uname = clean.gname = ""
    if member.isreg() or member.islnk():
        mode = member.mode & 0o755  # no setuid/setgid/sticky, no group/other write
        if not mode & 0o100:
            mode &= ~0o111
        clean.mode = mode | 0o600
    elif member.isdir():
        clean.mode = (member.mode & 0o755) | 0o700
    return clean

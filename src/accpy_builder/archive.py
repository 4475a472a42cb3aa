"""Unpack tarballs without trusting them.

``safe_extract`` streams ``.tar.gz``/``.tgz``, ``.tar.zst`` and ``.tar`` archives member by member
through a check equivalent to (and, where available, combined with) tarfile's ``data`` filter:
absolute names, ``..``, links that leave the destination, device nodes and FIFOs are refused;
setuid/setgid/sticky and group/other write bits are stripped; owners are not restored.
A truncated or corrupt archive raises ArchiveError naming the file.
"""

from __future__ import annotations

import copy
import gzip
import logging
import os
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any

import zstandard

from .errors import ArchiveError

log = logging.getLogger(__name__)

SUFFIXES = (".tar.gz", ".tgz", ".tar.zst", ".tar")
_CHUNK = 1 << 20
#: tarfile.data_filter and the ``filter=`` argument exist from Python 3.11.4 / 3.12.
_HAS_FILTER = hasattr(tarfile, "data_filter")


class _ZstdReader:
    """A forward-only file object over a zstd stream that notices truncation at the end."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._dobj = zstandard.ZstdDecompressor().decompressobj()
        self._buf = b""
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or len(self._buf) < size):
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                self._eof = True
                if not self._dobj.eof:
                    raise EOFError("zstd stream ended before the end of its frame")
                break
            if self._dobj.eof:  # a following frame: decompress it too
                self._dobj = zstandard.ZstdDecompressor().decompressobj()
            self._buf += self._dobj.decompress(chunk)
        if size < 0:
            data, self._buf = self._buf, b""
        else:
            data, self._buf = self._buf[:size], self._buf[size:]
        return data


def _open_stream(archive: Path, raw: IO[bytes]) -> Any:
    name = archive.name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return gzip.GzipFile(fileobj=raw, mode="rb")  # checks CRC and length at the end
    if name.endswith(".tar.zst"):
        return _ZstdReader(raw)
    if name.endswith(".tar"):
        return raw
    raise ArchiveError(
        f"{archive}: unsupported archive type; expected one of {', '.join(SUFFIXES)}"
    )


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract ``archive`` into ``dest`` (created if missing), refusing anything hostile."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with archive.open("rb") as raw:
            stream = _open_stream(archive, raw)
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                _extract_members(tar, root, archive)
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise ArchiveError(f"{archive}: corrupt or truncated archive ({exc})") from exc
    except OSError as exc:  # BadGzipFile, short reads, disk full
        raise ArchiveError(f"{archive}: cannot extract: {exc}") from exc


def _drain(fileobj: Any) -> int:
    """Read ``fileobj`` to its end; return how many non-zero bytes it held."""
    nonzero = 0
    while fileobj is not None and (chunk := fileobj.read(_CHUNK)):
        nonzero += len(chunk) - chunk.count(0)
    return nonzero


def _extract_members(tar: tarfile.TarFile, root: Path, archive: Path) -> None:
    symlinks: list[str] = []

    def check(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        checked = check_member(member, root, archive)
        if _HAS_FILTER:  # belt and braces: the stdlib's own checks as well
            try:
                checked = tarfile.data_filter(checked, path)
            except tarfile.FilterError as exc:
                raise ArchiveError(f"{archive}: refusing {member.name!r}: {exc}") from exc
        if member.issym():
            symlinks.append(member.name)
        return checked

    if _HAS_FILTER:
        tar.extractall(root, filter=check)
    else:  # pragma: no cover - Python < 3.11.4
        for member in tar:
            tar.extract(check(member, str(root)), root, set_attrs=not member.isdir())
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
        if not _inside(root, Path(os.path.realpath(root / name))):
            raise ArchiveError(
                f"{archive}: refusing {name!r}: symlink resolves outside the destination"
            )


def check_member(member: tarfile.TarInfo, root: Path, archive: Path) -> tarfile.TarInfo:
    """Return a sanitised copy of ``member`` or raise ArchiveError saying why it is refused."""

    def refuse(why: str) -> ArchiveError:
        return ArchiveError(f"{archive}: refusing {member.name!r}: {why}")

    name = member.name
    pure = PurePosixPath(name)
    if name.startswith("/") or pure.is_absolute():
        raise refuse("absolute path")
    if ".." in pure.parts:
        raise refuse("path contains '..'")
    if member.ischr() or member.isblk():
        raise refuse("device node")
    if member.isfifo():
        raise refuse("FIFO")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise refuse(f"unsupported member type {member.type!r}")
    target = root / name
    if not _inside(root, Path(os.path.realpath(target.parent))):
        raise refuse("its parent directory resolves outside the destination")
    if member.issym():
        link = PurePosixPath(member.linkname)
        if link.is_absolute():
            raise refuse(f"symlink to absolute path {member.linkname!r}")
        joined = target.parent / member.linkname
        lexical, real = Path(os.path.normpath(joined)), Path(os.path.realpath(joined))
        if not (_inside(root, lexical) and _inside(root, real)):
            raise refuse(f"symlink {member.linkname!r} points outside the destination")
    if member.islnk():
        link = PurePosixPath(member.linkname)
        if link.is_absolute() or ".." in link.parts:
            raise refuse(f"hard link to {member.linkname!r} outside the destination")
        if not _inside(root, Path(os.path.realpath(root / member.linkname))):
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


def _inside(root: Path, path: Path) -> bool:
    return path == root or path.is_relative_to(root)

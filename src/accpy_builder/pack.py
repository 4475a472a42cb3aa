"""Stage 6, pack: a record of the finished tree, and reproducible ``.tar.gz``/``.tar.zst`` archives.

Record (``ACC-PY.RECORD`` at the tree root), CSV like a wheel RECORD, one line per file or symlink::

    path,sha256=<lowercase hex>,<size>      regular file (hex, not wheel's urlsafe base64,
                                            so that it compares directly with ``sha256sum``)
    path,symlink=<target>,                  symbolic link (target as stored, never followed)
    ACC-PY.RECORD,,                         the record itself

Paths are relative POSIX paths, sorted by their components (``a/b`` before ``a-c``, so each
directory's contents are contiguous). Directories are not listed: only their files are.

Archives: the tree's contents under one top directory ``top``. A single uncompressed tar stream,
written once, feeds the gzip and zstd compressors, which run in parallel threads. Reproducible:
entries sorted as above, each directory before its contents; GNU format (long names through
``././@LongLink``, never pax headers); mtime ``source_date_epoch``; uid/gid 0, owner ``root``;
modes normalised (directories 0755, files 0755 if any x bit else 0644, symlinks 0777). Hard links
are stored as independent regular files: whether two paths share an inode depends on how the tree
was copied, which must not change the archive, and the result extracts anywhere.

gzip: zlib level 6 (as ``tar czf``), one gzip member per 8 MiB
block of the tar stream, compressed on every core (fixed block boundaries: the output does not
depend on the core count; members concatenate into one valid gzip file), header mtime 0, no file
name. zstd: level 5 (measured on a 2023.06 base: level 9 is 7% smaller and 25% slower to pack),
2 worker threads (output independent of the core count), checksum and content size written.
The output depends only on the tree, ``top``, ``source_date_epoch`` and the zlib/zstd versions.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import logging
import os
import queue
import shutil
import stat
import tarfile
import tempfile
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zstandard

from .errors import ArchiveError, CheckError

log = logging.getLogger(__name__)

RECORD_NAME = "ACC-PY.RECORD"
GZIP_LEVEL = 6
GZIP_BLOCK = 8 << 20  # one gzip member per 8 MiB of tar: fixed, so reproducible
ZSTD_LEVEL = 5
ZSTD_THREADS = 2
_CHUNK = 1 << 20  # the tar stream reaches the compressors in fixed-size chunks
_BLOCK = tarfile.BLOCKSIZE
_RECORD_SIZE = tarfile.RECORDSIZE  # GNU tar pads the archive to 20 blocks, as does tarfile
_HASH_BATCH = 64
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"  # non-UTF-8 file names round-trip byte for byte


@dataclass(frozen=True)
class RecordEntry:
    """One line of a record: a file (sha256 and size) or a symlink (target)."""

    path: str
    sha256: str | None = None
    size: int | None = None
    symlink: str | None = None

    @property
    def kind(self) -> Literal["file", "symlink", "record"]:
        if self.symlink is not None:
            return "symlink"
        return "file" if self.sha256 is not None else "record"


@dataclass(frozen=True)
class RecordDiff:
    """How a tree differs from its record (relative paths, sorted)."""

    modified: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.modified or self.missing or self.extra)


@dataclass(frozen=True)
class PackResult:
    tar_gz: Path
    tar_zst: Path
    tar_gz_sha256: Path
    tar_zst_sha256: Path
    tar_size: int  # bytes of the uncompressed tar stream
    entries: int


@dataclass(frozen=True)
class _Node:
    rel: str  # relative POSIX path; "" for the tree root
    path: str
    kind: Literal["dir", "file", "symlink"]
    mode: int
    size: int
    target: str


def _sort_key(rel: str) -> list[str]:
    return rel.split("/")


def _scan(tree: Path) -> list[_Node]:
    """Every directory, file and symlink under ``tree``, sorted; refuse anything else."""
    try:
        st = os.lstat(tree)
    except OSError as exc:
        raise CheckError(f"cannot read the tree {tree}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise CheckError(f"{tree} is not a directory (a symlink to one is not accepted either)")
    nodes = [_Node("", os.fspath(tree), "dir", st.st_mode, 0, "")]
    offenders: list[str] = []
    stack = [("", os.fspath(tree))]
    while stack:
        prefix, path = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
            for entry in entries:
                rel = f"{prefix}{entry.name}"
                est = entry.stat(follow_symlinks=False)
                mode = est.st_mode
                if stat.S_ISDIR(mode):
                    nodes.append(_Node(rel, entry.path, "dir", mode, 0, ""))
                    stack.append((rel + "/", entry.path))
                elif stat.S_ISREG(mode):
                    nodes.append(_Node(rel, entry.path, "file", mode, est.st_size, ""))
                elif stat.S_ISLNK(mode):
                    target = os.readlink(entry.path)
                    nodes.append(_Node(rel, entry.path, "symlink", mode, 0, target))
                else:
                    offenders.append(f"{rel} ({_kind_name(mode)})")
        except OSError as exc:
            raise CheckError(f"cannot read {exc.filename or path}: {exc.strerror}") from exc
    if offenders:
        offenders.sort()
        shown = ", ".join(offenders[:20]) + (" ..." if len(offenders) > 20 else "")
        raise CheckError(
            f"{len(offenders)} file(s) in {tree} are not regular files, directories or symlinks "
            f"and cannot be packed; remove them: {shown}"
        )
    nodes.sort(key=lambda n: _sort_key(n.rel))
    return nodes


def _kind_name(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return f"file type {stat.S_IFMT(mode):o}"


# --- record -------------------------------------------------------------------------------------


def _hash_file(path: str) -> tuple[str, int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        h = hashlib.sha256()
        size = 0
        while data := os.read(fd, _CHUNK):
            h.update(data)
            size += len(data)
    finally:
        os.close(fd)
    return h.hexdigest(), size


def _hash_many(paths: list[str]) -> list[tuple[str, int]]:
    """sha256 and size of each file, hashed in threads (hashlib and reads release the GIL)."""
    batches = [paths[i : i + _HASH_BATCH] for i in range(0, len(paths), _HASH_BATCH)]
    workers = min(16, (os.cpu_count() or 1) * 2)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash") as pool:
            results = pool.map(lambda batch: [_hash_file(p) for p in batch], batches)
            return [r for batch in results for r in batch]
    except OSError as exc:
        raise CheckError(f"cannot read {exc.filename}: {exc.strerror}") from exc


def write_record(tree: Path, name: str = RECORD_NAME) -> Path:
    """Write the record of every file and symlink in ``tree`` at ``tree/name``; return its path."""
    nodes = [n for n in _scan(tree) if n.kind != "dir" and n.rel != name]
    files = [n for n in nodes if n.kind == "file"]
    digests = dict(zip((n.rel for n in files), _hash_many([n.path for n in files]), strict=True))
    rows = [[name, "", ""]]
    for n in nodes:
        if n.kind == "symlink":
            rows.append([n.rel, f"symlink={n.target}", ""])
        else:
            digest, size = digests[n.rel]
            rows.append([n.rel, f"sha256={digest}", str(size)])
    rows.sort(key=lambda r: _sort_key(r[0]))
    out = tree / name
    tmp = out.with_name(f".{name}.tmp")
    with tmp.open("w", encoding=_ENCODING, errors=_ERRORS, newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    tmp.chmod(0o644)
    tmp.replace(out)
    log.info("recorded %d files and symlinks of %s in %s", len(nodes), tree, name)
    return out


def read_record(path: Path) -> dict[str, RecordEntry]:
    """Parse a record written by :func:`write_record`; a malformed one raises CheckError."""
    entries: dict[str, RecordEntry] = {}
    try:
        with path.open(encoding=_ENCODING, errors=_ERRORS, newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                entries[row[0]] = _parse_row(row, path, lineno)
    except OSError as exc:
        raise CheckError(f"cannot read the record {path}: {exc.strerror}") from exc
    return entries


def _parse_row(row: list[str], path: Path, lineno: int) -> RecordEntry:
    bad = CheckError(f"{path}:{lineno}: malformed record line {row!r}; rewrite the record")
    if len(row) != 3 or not row[0]:
        raise bad
    rel, value, size = row
    if value.startswith("symlink=") and not size:
        return RecordEntry(rel, symlink=value.removeprefix("symlink="))
    if value.startswith("sha256=") and size.isdigit():
        digest = value.removeprefix("sha256=")
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return RecordEntry(rel, sha256=digest, size=int(size))
    if not value and not size:
        return RecordEntry(rel)
    raise bad


def compare_record(tree: Path, record: dict[str, RecordEntry]) -> RecordDiff:
    """Compare ``tree`` with ``record``: modified (content, size, target, kind), missing, extra."""
    nodes = {n.rel: n for n in _scan(tree) if n.kind != "dir"}
    own = {rel for rel, e in record.items() if e.kind == "record"}
    modified: list[str] = []
    to_hash: list[_Node] = []
    for rel, entry in record.items():
        node = nodes.get(rel)
        if node is None or entry.kind == "record":
            continue
        if entry.kind == "symlink":
            if node.kind != "symlink" or node.target != entry.symlink:
                modified.append(rel)
        elif node.kind != "file" or node.size != entry.size:
            modified.append(rel)
        else:
            to_hash.append(node)
    for node, (digest, size) in zip(to_hash, _hash_many([n.path for n in to_hash]), strict=True):
        entry = record[node.rel]
        if digest != entry.sha256 or size != entry.size:
            modified.append(node.rel)
    missing = [rel for rel in record if rel not in nodes and rel not in own]
    extra = [rel for rel in nodes if rel not in record]
    return RecordDiff(*(tuple(sorted(x, key=_sort_key)) for x in (modified, missing, extra)))


# --- archives -----------------------------------------------------------------------------------


def _header(node: _Node, top: str, mtime: int) -> bytes:
    ti = tarfile.TarInfo(f"{top}/{node.rel}".rstrip("/"))
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    if node.kind == "dir":
        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
    elif node.kind == "symlink":
        ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, node.target
    else:
        ti.type, ti.size = tarfile.REGTYPE, node.size
        ti.mode = 0o755 if node.mode & 0o111 else 0o644
    return ti.tobuf(tarfile.GNU_FORMAT, _ENCODING, _ERRORS)


def _tar_size(headers: list[bytes], nodes: list[_Node]) -> int:
    body = sum(len(h) for h in headers) + sum(-(-n.size // _BLOCK) * _BLOCK for n in nodes)
    return -(-(body + 2 * _BLOCK) // _RECORD_SIZE) * _RECORD_SIZE


def _tar_chunks(nodes: list[_Node], headers: list[bytes], total: int) -> Iterator[bytes]:
    """The tar stream, in chunks of exactly ``_CHUNK`` bytes (the last one shorter)."""
    buf = bytearray()
    yielded = 0
    for node, header in zip(nodes, headers, strict=True):
        buf += header
        if node.kind == "file":
            with open(node.path, "rb", buffering=0) as fh:  # noqa: PTH123 - hot loop
                got = 0
                while data := fh.read(_CHUNK):
                    got += len(data)
                    buf += data
                    while len(buf) >= _CHUNK:
                        yield bytes(buf[:_CHUNK])
                        del buf[:_CHUNK]
                        yielded += _CHUNK
            if got != node.size:
                raise CheckError(
                    f"{node.path} changed size while being packed ({node.size} -> {got} bytes); "
                    "nothing may write to the tree during packing"
                )
            buf += bytes(-got % _BLOCK)
        while len(buf) >= _CHUNK:
            yield bytes(buf[:_CHUNK])
            del buf[:_CHUNK]
            yielded += _CHUNK
    buf += bytes(total - yielded - len(buf))  # end-of-archive blocks, padding to a full record
    while buf:
        yield bytes(buf[:_CHUNK])
        del buf[:_CHUNK]


class _ParallelGzip:
    """gzip as a series of members, one per fixed-size block, compressed by a thread pool.

    Concatenated gzip members are one valid gzip file (RFC 1952; gzip, tar and Python read it).
    Blocks are cut at fixed offsets of the tar stream, so the output does not depend on the
    number of threads or on timing, and the work spreads over every core.
    """

    def __init__(self, block: int = GZIP_BLOCK, workers: int | None = None) -> None:
        self.block = block
        self.buf = bytearray()
        self.workers = workers or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(max_workers=self.workers)
        self.pending: deque[Future[bytes]] = deque()

    @staticmethod
    def _member(data: bytes) -> bytes:
        gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip header with mtime 0
        return gz.compress(data) + gz.flush()

    def _ready(self, *, wait_for: int) -> bytes:
        out = bytearray()
        while self.pending and (len(self.pending) > wait_for or self.pending[0].done()):
            out += self.pending.popleft().result()
        return bytes(out)

    def compress(self, chunk: bytes) -> bytes:
        self.buf += chunk
        while len(self.buf) >= self.block:
            self.pending.append(self.pool.submit(self._member, bytes(self.buf[: self.block])))
            del self.buf[: self.block]
        return self._ready(wait_for=2 * self.workers)  # bounded memory

    def flush(self) -> bytes:
        if self.buf or not self.pending:
            self.pending.append(self.pool.submit(self._member, bytes(self.buf)))
            self.buf.clear()
        try:
            return self._ready(wait_for=0)
        finally:
            self.pool.shutdown()


class _Sink(threading.Thread):
    """Compress the chunks of a queue into a file, hashing the compressed bytes."""

    def __init__(
        self, fd: int, compress: Callable[[bytes], bytes], flush: Callable[[], bytes]
    ) -> None:
        super().__init__(daemon=True)
        self.fh = os.fdopen(fd, "wb")
        self.compress, self.flush = compress, flush
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.sha256 = hashlib.sha256()
        self.error: BaseException | None = None
        self.failed = threading.Event()

    def _write(self, data: bytes) -> None:
        if data:
            self.sha256.update(data)
            self.fh.write(data)

    def run(self) -> None:
        ended = False
        try:
            with self.fh:
                while (chunk := self.queue.get()) is not None:
                    self._write(self.compress(chunk))
                ended = True
                self._write(self.flush())
                self.fh.flush()
                os.fsync(self.fh.fileno())
        except BaseException as exc:  # reported by pack() in the calling thread
            self.error = exc
            self.failed.set()
            while not ended:  # keep draining so that the producer never blocks
                ended = self.queue.get() is None


def _check_top(top: str) -> None:
    if not top or top in {".", ".."} or "/" in top or "\0" in top:
        raise CheckError(f"invalid archive top directory {top!r}: give one path component")


def pack(tree: Path, *, top: str, dist_dir: Path, stem: str, source_date_epoch: int) -> PackResult:
    """Pack ``tree`` as ``dist_dir/<stem>.tar.gz`` and ``.tar.zst`` (plus ``.sha256`` files)."""
    _check_top(top)
    if source_date_epoch < 0:
        raise CheckError(f"SOURCE_DATE_EPOCH must be >= 0, not {source_date_epoch}")
    dist_dir.mkdir(parents=True, exist_ok=True)
    if dist_dir.resolve().is_relative_to(tree.resolve()):
        raise CheckError(f"the dist directory {dist_dir} is inside the tree {tree}; move it out")
    nodes = _scan(tree)
    headers = [_header(n, top, source_date_epoch) for n in nodes]
    total = _tar_size(headers, nodes)
    need = total * 3 // 4  # both archives, generously: a base compresses to about 35% each
    free = shutil.disk_usage(dist_dir).free
    if free < need:
        log.warning("%s has %s free; packing needs roughly %s", dist_dir, _mib(free), _mib(need))

    names = {"tar.gz": f"{stem}.tar.gz", "tar.zst": f"{stem}.tar.zst"}
    temps: list[Path] = []  # everything in here is removed unless it was renamed into place

    def mktemp(name: str) -> int:
        fd, tmp = tempfile.mkstemp(dir=dist_dir, prefix=f".{name}.", suffix=".tmp")
        temps.append(Path(tmp))
        return fd

    try:
        gz = _ParallelGzip()
        zst = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, threads=ZSTD_THREADS, write_checksum=True, write_content_size=True
        ).compressobj(size=total)
        sinks = [
            _Sink(mktemp(names["tar.gz"]), gz.compress, gz.flush),
            _Sink(mktemp(names["tar.zst"]), zst.compress, zst.flush),
        ]
        _run_pipeline(nodes, headers, total, sinks)
        for sink, name in zip(sinks, names.values(), strict=True):
            with os.fdopen(mktemp(f"{name}.sha256"), "w", encoding="utf-8") as fh:
                fh.write(f"{sink.sha256.hexdigest()}  {name}\n")
        finals = [*names.values(), *(f"{name}.sha256" for name in names.values())]
        for tmp in temps:
            tmp.chmod(0o644)  # mkstemp made it 0600
        for tmp, final in zip(temps, finals, strict=True):
            tmp.replace(dist_dir / final)
        temps.clear()
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ArchiveError(
                f"no space left on device in {dist_dir}: packing needs roughly {_mib(need)} "
                f"({_mib(free)} was free); free some space or use another dist directory"
            ) from exc
        raise ArchiveError(f"cannot write the archives in {dist_dir}: {exc}") from exc
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"zstd compression failed: {exc}") from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)

    out = PackResult(
        tar_gz=dist_dir / names["tar.gz"],
        tar_zst=dist_dir / names["tar.zst"],
        tar_gz_sha256=dist_dir / f"{names['tar.gz']}.sha256",
        tar_zst_sha256=dist_dir / f"{names['tar.zst']}.sha256",
        tar_size=total,
        entries=len(nodes),
    )
    log.info(
        "packed %d entries (%s tar) into %s (%s) and %s (%s)",
        len(nodes), _mib(total), out.tar_gz.name, _mib(out.tar_gz.stat().st_size),
        out.tar_zst.name, _mib(out.tar_zst.stat().st_size),
    )  # fmt: skip
    return out


def _run_pipeline(nodes: list[_Node], headers: list[bytes], total: int, sinks: list[_Sink]) -> None:
    """Produce the tar stream once in this thread and hand every chunk to every sink."""
    for sink in sinks:
        sink.start()
    produced = 0
    try:
        for chunk in _tar_chunks(nodes, headers, total):
            produced += len(chunk)
            for sink in sinks:
                if sink.failed.is_set():
                    break
                sink.queue.put(chunk)
            else:
                continue
            break
    finally:
        for sink in sinks:
            sink.queue.put(None)
        for sink in sinks:
            sink.join()
    for sink in sinks:
        if sink.error is not None:
            raise sink.error
    if produced != total:
        raise CheckError(f"internal error: tar stream is {produced} bytes, predicted {total}")


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


__all__ = [
    "RECORD_NAME",
    "PackResult",
    "RecordDiff",
    "RecordEntry",
    "compare_record",
    "pack",
    "read_record",
    "write_record",
]

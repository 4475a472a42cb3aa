"""The record of a base: every file's sha256 and size, every symlink's target (``ACC-PY.RECORD``).

CSV like a wheel RECORD, one line per file or symlink::

    path,sha256=<lowercase hex>,<size>      regular file (hex, not wheel's urlsafe base64,
                                            so that it compares directly with ``sha256sum``)
    path,symlink=<target>,                  symbolic link (target as stored, never followed)
    ACC-PY.RECORD,,                         the record itself

Paths are relative POSIX paths, sorted by their components (``a/b`` before ``a-c``, so each
directory's contents are contiguous). Directories are not listed: only their files are.
The pack stage writes it; the installer's ``verify`` compares a tree with it.

The builder writes it, the installer checks a tree against it, ``verify`` reports differences.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import stat
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import ChecksumError, RecordError
from .layout import RECORD_NAME

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_HASH_BATCH = 64
ENCODING = "utf-8"
ERRORS = "surrogateescape"  # non-UTF-8 file names round-trip byte for byte


@dataclass(frozen=True)
class RecordEntry:
    """One line of a record: a file (sha256 and size) or a symlink (target)."""

    path: str
    sha256: str | None = None
    size: int | None = None
    symlink: str | None = None

    @property
    def kind(self) -> str:
        """``"file"``, ``"symlink"`` or ``"record"`` (the record's own line)."""
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
class Node:
    rel: str  # relative POSIX path; "" for the tree root
    path: str
    kind: str  # "dir", "file" or "symlink"
    mode: int
    size: int
    target: str


def sort_key(rel: str) -> list[str]:
    return rel.split("/")


def scan_tree(tree: Path) -> list[Node]:
    """Every directory, file and symlink under ``tree``, sorted; refuse anything else."""
    try:
        st = os.lstat(tree)
    except OSError as exc:
        raise RecordError(f"cannot read the tree {tree}: {exc.strerror}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise RecordError(f"{tree} is not a directory (a symlink to one is not accepted either)")
    nodes = [Node("", os.fspath(tree), "dir", st.st_mode, 0, "")]
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
                    nodes.append(Node(rel, entry.path, "dir", mode, 0, ""))
                    stack.append((rel + "/", entry.path))
                elif stat.S_ISREG(mode):
                    nodes.append(Node(rel, entry.path, "file", mode, est.st_size, ""))
                elif stat.S_ISLNK(mode):
                    target = os.readlink(entry.path)
                    nodes.append(Node(rel, entry.path, "symlink", mode, 0, target))
                else:
                    offenders.append(f"{rel} ({_kind_name(mode)})")
        except OSError as exc:
            raise RecordError(f"cannot read {exc.filename or path}: {exc.strerror}") from exc
    if offenders:
        offenders.sort()
        shown = ", ".join(offenders[:20]) + (" ..." if len(offenders) > 20 else "")
        raise RecordError(
            f"{len(offenders)} file(s) in {tree} are not regular files, directories or symlinks "
            f"and cannot be packed; remove them: {shown}"
        )
    nodes.sort(key=lambda n: sort_key(n.rel))
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


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file: the one file hasher of every Acc-Py tool."""
    return _hash_file(os.fspath(path))[0]


def _hash_file(path: str) -> tuple[str, int]:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        h = hashlib.sha256()
        size = 0
        data = os.read(fd, _CHUNK)
        while data:
            h.update(data)
            size += len(data)
            data = os.read(fd, _CHUNK)
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
        raise RecordError(f"cannot read {exc.filename}: {exc.strerror}") from exc


def write_record(tree: Path, name: str = RECORD_NAME) -> Path:
    """Write the record of every file and symlink in ``tree`` at ``tree/name``; return its path."""
    nodes = [n for n in scan_tree(tree) if n.kind != "dir" and n.rel != name]
    files = [n for n in nodes if n.kind == "file"]
    digests = dict(zip((n.rel for n in files), _hash_many([n.path for n in files])))
    rows = [[name, "", ""]]
    for n in nodes:
        if n.kind == "symlink":
            rows.append([n.rel, f"symlink={n.target}", ""])
        else:
            digest, size = digests[n.rel]
            rows.append([n.rel, f"sha256={digest}", str(size)])
    rows.sort(key=lambda r: sort_key(r[0]))
    out = tree / name
    tmp = out.with_name(f".{name}.tmp")
    with tmp.open("w", encoding=ENCODING, errors=ERRORS, newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    tmp.chmod(0o644)
    tmp.replace(out)
    log.info("recorded %d files and symlinks of %s in %s", len(nodes), tree, name)
    return out


def read_record(path: Path) -> dict[str, RecordEntry]:
    """Parse a record written by :func:`write_record`; a malformed one raises RecordError."""
    entries: dict[str, RecordEntry] = {}
    try:
        with path.open(encoding=ENCODING, errors=ERRORS, newline="") as fh:
            for lineno, row in enumerate(csv.reader(fh), start=1):
                entries[row[0]] = _parse_row(row, path, lineno)
    except OSError as exc:
        raise RecordError(f"cannot read the record {path}: {exc.strerror}") from exc
    return entries


def _parse_row(row: list[str], path: Path, lineno: int) -> RecordEntry:
    bad = RecordError(f"{path}:{lineno}: malformed record line {row!r}; rewrite the record")
    if len(row) != 3 or not row[0]:
        raise bad
    rel, value, size = row
    if value.startswith("symlink=") and not size:
        return RecordEntry(rel, symlink=value[len("symlink=") :])
    if value.startswith("sha256=") and size.isdigit():
        digest = value[len("sha256=") :]
        if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            return RecordEntry(rel, sha256=digest, size=int(size))
    if not value and not size:
        return RecordEntry(rel)
    raise bad


def compare_record(
    tree: Path,
    record: dict[str, RecordEntry],
    known: Mapping[str, tuple[str, int]] | None = None,
) -> RecordDiff:
    """Compare ``tree`` with ``record``: modified (content, size, target, kind), missing, extra.

    ``known`` holds the sha256 and size of files hashed already (as they were unpacked); the
    other files are read and hashed here.
    """
    known = known or {}
    nodes = {n.rel: n for n in scan_tree(tree) if n.kind != "dir"}
    own = {rel for rel, e in record.items() if e.kind == "record"}
    modified: list[str] = []
    to_hash: list[Node] = []
    for rel, entry in record.items():
        node = nodes.get(rel)
        if node is None or entry.kind == "record":
            continue
        if entry.kind == "symlink":
            if node.kind != "symlink" or node.target != entry.symlink:
                modified.append(rel)
        elif node.kind != "file" or node.size != entry.size:
            modified.append(rel)
        elif rel in known:
            if known[rel] != (entry.sha256, entry.size):
                modified.append(rel)
        else:
            to_hash.append(node)
    for node, (digest, size) in zip(to_hash, _hash_many([n.path for n in to_hash])):
        entry = record[node.rel]
        if digest != entry.sha256 or size != entry.size:
            modified.append(node.rel)
    missing = [rel for rel in record if rel not in nodes and rel not in own]
    extra = [rel for rel in nodes if rel not in record]
    return RecordDiff(*(tuple(sorted(x, key=sort_key)) for x in (modified, missing, extra)))


# --------------------------------------------------------------------------- .sha256 files


def sha256_line(digest: str, name: str) -> str:
    """A ``.sha256`` file's line, as ``sha256sum`` writes it."""
    return f"{digest}  {name}\n"


def expected_sha256(text: str, name: str, where: str) -> str:
    """The digest for ``name`` in the text of a ``.sha256`` file (``where`` names it)."""
    for line in text.splitlines():
        parts = line.split()
        if (len(parts) == 2 and parts[1].lstrip("*") == name) or len(parts) == 1:
            digest = parts[0].lower()
            if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
                return digest
    raise ChecksumError(
        f"{where} holds no sha256 for {name}; use the .sha256 file written with the tarball"
    )


def verify_sha256_file(path: Path) -> str:
    """Check ``path`` against ``path.sha256`` next to it; return the digest."""
    if not path.is_file():
        raise ChecksumError(f"{path} does not exist; give the path of a base tarball")
    sums = path.with_name(path.name + ".sha256")
    try:
        text = sums.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ChecksumError(
            f"cannot read {sums} ({exc.strerror}); copy the .sha256 file along with the tarball"
        ) from exc
    want = expected_sha256(text, path.name, str(sums))
    got = sha256_file(path)
    if got != want:
        raise ChecksumError(
            f"{path.name} has sha256 {got} but {sums.name} says {want}; the file is corrupt "
            "or truncated: copy or download it again"
        )
    log.info("checksum ok: %s", path.name)
    return got

"""The import index of a tree and its bytecode pack: what the import system would list, stat and
read in the tree's directories, written once at build time (issue 20). The builder writes them
(``accpy_builder.importindex``), the usage hook's finders read them
(``recipes/import-index.py``, ``lib/pythonX.Y/_acc_py_index.pyc`` in a base) and
``acc-py-install verify`` names what differs from them (:func:`compare`).

``share/acc-py/import-index`` is ``marshal.dumps((FORMAT, epoch, dirs, finders), 4)``
(marshal version 4, which every Python from 3.4 reads): ``epoch`` the mtime every directory and
file of the tree has once unpacked (the archive's, SOURCE_DATE_EPOCH); ``finders`` the bytes of
``lib/pythonX.Y/_acc_py_index.pyc``, the finders compiled by the tree's own Python (the hook
reads this one file for the finders and their data; b"" when the tree has none); ``dirs``
maps each directory under ``lib/pythonX.Y``, tree-relative (``__pycache__`` directories
included), to ONE bytes object (UTF-8: marshal loads bytes fastest, and it is loaded at every
start), four fields joined by NUL, decoded and split only when the finders first use the
directory:

* its non-directory names, joined by ``/``;
* their sizes, joined by spaces: a ``.py``'s (the loader's path_stats) and a ``.pyc``'s (what
  is read from the pack); -1 for the others;
* their offsets in the pack, joined by spaces: a ``.pyc``'s, -1 for the others;
* its directory names (a symlink to a directory counts as one), joined by ``/``.

Directories reached through a symlink and names that are not valid UTF-8 or hold a NUL or a
newline are left out: their lookups stay CPython's.

``share/acc-py/bytecode-pack`` holds every ``.pyc`` of those directories, one after the other,
each behind a 16-byte tag, :data:`TAG` and its own offset (8 bytes, little-endian): the finders
read a module's bytecode with one ``pread`` there instead of an open, reads and a close of its
``.pyc``, and check the tag (a descriptor closed and reused by the program reads no foreign
bytes). The ``.pyc`` files stay where they are: ``__cached__`` names them, and with the index
off (or a directory changed) they are read as CPython reads them.
"""

from __future__ import annotations

import marshal
import os
from dataclasses import dataclass, field
from typing import BinaryIO, List, Tuple

#: the index's format; the finders ignore another one (keep in step with the recipe)
FORMAT = 2
INDEX = "share/acc-py/import-index"
PACK = "share/acc-py/bytecode-pack"
TAG = b"AccPyPk\0"
TAG_SIZE = 16
#: the finders, sourceless, in the standard library (their source: recipes/import-index.py)
FINDERS = "_acc_py_index.pyc"

Entry = Tuple[List[str], List[int], List[int], List[str]]  # names, sizes, offsets, subdirs


def _clean(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\0" not in name and "\n" not in name


def _listing(path: str) -> tuple[list[str], list[str]]:
    """The names of the files and of the directories in ``path``, sorted (a symlink to a
    directory is a directory for the import system)."""
    files: list[str] = []
    dirs: list[str] = []
    with os.scandir(path) as it:
        for entry in it:
            (dirs if entry.is_dir() else files).append(entry.name)
    return sorted(files), sorted(dirs)


def scan(tree: str, top: str) -> dict[str, Entry]:
    """The entries of every directory under ``tree``/``top`` (offsets still -1)."""
    out: dict[str, Entry] = {}
    todo = [top]
    while todo:
        rel = todo.pop()
        path = os.path.join(tree, rel)
        files, dirs = _listing(path)
        if not all(_clean(n) for n in (rel, *files, *dirs)):
            continue
        sizes = [
            os.stat(os.path.join(path, n)).st_size if n.endswith((".py", ".pyc")) else -1
            for n in files
        ]
        out[rel] = (files, sizes, [-1] * len(files), dirs)
        # a directory reached through a symlink is not indexed: its lookups stay CPython's
        todo += [rel + "/" + d for d in dirs if not os.path.islink(os.path.join(path, d))]
    return out


def write(tree: str, minor: str, epoch: int) -> tuple[str, str]:
    """Write the index and the bytecode pack of ``tree`` (its ``lib/python{minor}``, and its
    compiled finders when it has them); return their paths."""
    entries = scan(tree, "lib/python" + minor)
    try:
        with open(os.path.join(tree, "lib/python" + minor, FINDERS), "rb") as fh:
            finders = fh.read()
    except FileNotFoundError:
        finders = b""
    pack_path, index_path = os.path.join(tree, PACK), os.path.join(tree, INDEX)
    os.makedirs(os.path.dirname(index_path), exist_ok=True)
    with open(pack_path, "wb") as pack:
        for rel in sorted(entries):
            files, sizes, offsets, _ = entries[rel]
            for i, name in enumerate(files):
                if name.endswith(".pyc"):
                    offsets[i] = _append(pack, os.path.join(tree, rel, name), sizes[i])
    dirs = {rel: encode(e) for rel, e in entries.items()}
    with open(index_path, "wb") as fh:
        fh.write(marshal.dumps((FORMAT, epoch, dirs, finders), 4))
    for path in (pack_path, index_path):
        os.chmod(path, 0o644)
    return index_path, pack_path


def _append(pack: BinaryIO, path: str, size: int) -> int:
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) != size:
        raise OSError(f"{path} changed while it was packed")
    offset = pack.tell() + TAG_SIZE
    pack.write(TAG + offset.to_bytes(8, "little") + data)
    return offset


def encode(entry: Entry) -> bytes:
    files, sizes, offsets, dirs = entry
    fields = ("/".join(files), " ".join(map(str, sizes)), " ".join(map(str, offsets)))
    return "\0".join((*fields, "/".join(dirs))).encode("utf-8")


def decode(raw: bytes) -> Entry:
    names, sizes, offsets, dirs = raw.decode("utf-8").split("\0")
    files = names.split("/") if names else []
    return (
        files,
        [int(s) for s in sizes.split()],
        [int(s) for s in offsets.split()],
        dirs.split("/") if dirs else [],
    )


@dataclass
class Index:
    epoch: int
    dirs: dict[str, bytes] = field(default_factory=dict)


def read(tree: str) -> Index | None:
    """``tree``'s index, or None when it has none of this format."""
    try:
        with open(os.path.join(tree, INDEX), "rb") as fh:
            data = marshal.loads(fh.read())
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, tuple) or len(data) != 4 or data[0] != FORMAT:
        return None
    return Index(data[1], data[2])


def compare(tree: str) -> list[str]:
    """What in ``tree`` differs from its import index, one line each (the directory, tree-
    relative, and how): a directory whose mtime is not the index's (the finders fall back to
    CPython's there), names added or gone, a size or a packed ``.pyc`` that differs; empty when
    it has no index."""
    index = read(tree)
    if index is None:
        return []
    out: list[str] = []
    with_pack: BinaryIO | None = None
    try:
        with_pack = open(os.path.join(tree, PACK), "rb")  # noqa: SIM115 - closed below
    except OSError:
        out.append(f"{PACK}: missing")
    try:
        for rel in sorted(index.dirs):
            out += _compare_dir(tree, rel, decode(index.dirs[rel]), index.epoch, with_pack)
    finally:
        if with_pack is not None:
            with_pack.close()
    return out


def _compare_dir(tree: str, rel: str, entry: Entry, epoch: int, pack: BinaryIO | None) -> list[str]:
    path = os.path.join(tree, rel)
    try:
        mtime = os.stat(path).st_mtime
        files, dirs = _listing(path)
    except OSError:
        return [f"{rel}/: missing (the import index lists it)"]
    out = []
    if mtime != epoch:
        out.append(f"{rel}/: changed since it was indexed (its mtime is not the archive's)")
    names, sizes, offsets, subdirs = entry
    for what, have, want in (("file", files, names), ("directory", dirs, subdirs)):
        added, gone = sorted(set(have) - set(want)), sorted(set(want) - set(have))
        out += [f"{rel}/{n}: {what} not in the import index" for n in added]
        out += [f"{rel}/{n}: {what} of the import index missing" for n in gone]
    for name, size, offset in zip(names, sizes, offsets):
        if name not in files or size < 0:
            continue
        file = os.path.join(path, name)
        if os.stat(file).st_size != size:
            out.append(f"{rel}/{name}: its size differs from the import index's")
        elif offset >= 0 and pack is not None:
            pack.seek(offset - TAG_SIZE)
            packed = pack.read(size + TAG_SIZE)
            with open(file, "rb") as fh:
                if packed != TAG + offset.to_bytes(8, "little") + fh.read():
                    out.append(f"{rel}/{name}: differs from its copy in the bytecode pack")
    return out

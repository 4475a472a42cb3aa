"""The import index of a tree: what the import system would list and stat in its directories,
written once at build time (issue 20; the finders that read it: ``recipes/import-index.py``,
``lib/pythonX.Y/_acc_py_index.pyc`` in a base).

``share/acc-py/import-index`` is ``marshal.dumps((FORMAT, epoch, dirs))`` (marshal version 4,
which every Python from 3.4 reads): ``epoch`` the mtime every directory and file of the tree
has once unpacked (the archive's, SOURCE_DATE_EPOCH), ``dirs`` maps each directory under
``lib/pythonX.Y``, tree-relative, to ``(files, sizes, subdirs)``: its non-directory names
joined by ``/``, their sizes for ``.py`` files (-1 for the others) joined by spaces, its
directory names joined by ``/``. ``__pycache__`` directories, directories reached through a
symlink and names that are not valid UTF-8 are left out: their lookups stay CPython's.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path

#: keep in step with recipes/import-index.py
FORMAT = 1
INDEX = "share/acc-py/import-index"


def scan(top: Path, tree: Path) -> dict[str, tuple[str, str, str]]:
    """The index entries of every directory under ``top`` (``tree``-relative keys)."""
    dirs: dict[str, tuple[str, str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel = Path(dirpath).relative_to(tree).as_posix()
        names = sorted(filenames)
        subdirs = list(dirnames)
        for name in names[:]:  # a symlink to a directory is one for the import system
            if Path(dirpath, name).is_dir():
                names.remove(name)
                subdirs.append(name)
        # a directory reached through a symlink is not walked (os.walk), so not indexed
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
        try:
            for name in (*names, *subdirs, rel):
                name.encode("utf-8")
        except UnicodeEncodeError:
            continue
        sizes = [str(Path(dirpath, n).stat().st_size) if n.endswith(".py") else "-1" for n in names]
        dirs[rel] = ("/".join(names), " ".join(sizes), "/".join(sorted(subdirs)))
    return dirs


def write_index(tree: Path, minor: str, epoch: int) -> Path:
    """Write the import index of ``tree`` (its ``lib/python{minor}``); return its path."""
    dirs = scan(tree / "lib" / f"python{minor}", tree)
    path = tree / INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps((FORMAT, epoch, dirs), 4))
    path.chmod(0o644)
    return path

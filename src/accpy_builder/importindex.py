"""The import index of a tree and its bytecode pack, written once at build time, after the
bytecode (issue 20): the format is :mod:`accpy_core.importindex`'s, which the installer's
``verify`` reads too; the finders that answer from it are ``recipes/import-index.py``
(``lib/pythonX.Y/_acc_py_index.pyc`` in a base).
"""

from __future__ import annotations

from pathlib import Path

from accpy_core import importindex
from accpy_core.importindex import FORMAT, INDEX, PACK, decode, scan

__all__ = ["FORMAT", "INDEX", "PACK", "decode", "scan", "write_index"]


def write_index(tree: Path, minor: str, epoch: int) -> Path:
    """Write the import index and the bytecode pack of ``tree`` (its ``lib/python{minor}``);
    return the index's path."""
    index, _pack = importindex.write(str(tree), minor, epoch)
    return Path(index)

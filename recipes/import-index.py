"""The import index of an Acc-Py tree: path-entry finders that answer from memory for the
tree's own directories, which never change once installed (issue 20).

The builder writes ``share/acc-py/import-index`` and ``share/acc-py/bytecode-pack``
(accpy_core.importindex describes them): for every directory under the tree's
``lib/pythonX.Y`` (the standard library, lib-dynload, site-packages, every package and
``__pycache__`` in them), the names it holds, which of them are directories, the size of each
``.py`` and ``.pyc`` and where each ``.pyc`` is in the pack; and the one mtime every directory
and file of the tree has once unpacked (the archive's, SOURCE_DATE_EPOCH). The usage hook
(sitecustomize) calls :func:`install` once ``site`` has set sys.path up; from then on:

* ``sys.path_hooks`` starts with a hook that gives an :class:`IndexedFileFinder` for a path
  that is EXACTLY one of the indexed directories (the tree's stdlib, site-packages, a package
  directory in them), and declines everything else: a venv's site-packages, the user's
  directories, PYTHONPATH, the working directory keep CPython's own FileFinder. The cached
  FileFinders of the indexed directories (made by site's own imports) are replaced.
  PathFinder still walks sys.path and each package's __path__ in order, so shadowing, .pth
  files, editable installs and namespace packages work as before.
* An :class:`IndexedFileFinder` is a FileFinder (pkgutil, importlib.resources and
  invalidate_caches see one) whose ``find_spec`` answers the way FileFinder's does, with the
  same loaders and the same spec (origin, cached, submodule_search_locations), from the
  index instead of a stat and a listing of its directory. Each directory is checked ONCE per
  process, when first used: one stat, its mtime against the index's. Another mtime (a file
  dropped in, removed or renamed there) and that directory is CPython's again: FileFinder's
  own find_spec, stat and listing included.
* ``.py`` modules load through :class:`IndexedSourceFileLoader`, a SourceFileLoader whose
  path_stats comes from the index (the pycs are unchecked-hash: the source is not read) and
  whose get_data reads a ``.pyc`` from the pack, with one pread, once its ``__pycache__`` is
  checked as above (the pack is opened once per process, its descriptor kept; each read is
  checked against its tag), and any other file of the tree with os.open/os.read (so not
  through an io.open_code hook: the tree is the base's own). ``.pyc`` modules without a
  source (the hook's own) load likewise through :class:`IndexedSourcelessFileLoader`.
  ``__file__``, ``__cached__`` and the spec are CPython's: the ``.pyc`` files are there too.

Off: ``ACC_PY_NO_IMPORT_INDEX`` set to anything but "" or "0" (the hook then calls nothing
here). Stdlib only, Python 3.7 and later; it never raises at start-up (the hook swallows).
"""

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # never at run time
    from typing import Any, Dict, FrozenSet, List, Optional, Tuple, Union

    from typing_extensions import Literal

    #: files (name: (size of a .py or .pyc else -1, offset of a .pyc in the pack else -1)), dirs
    Listing = Tuple[Dict[str, Tuple[int, int]], FrozenSet[str]]

#: the index's format; another one is ignored (keep in step with accpy_core.importindex)
FORMAT = 2
#: where the index and the bytecode pack are, relative to the tree
INDEX = "share/acc-py/import-index"
PACK = "share/acc-py/bytecode-pack"
#: what stands before each .pyc in the pack, with its offset (8 bytes, little-endian)
TAG = b"AccPyPk\0"

_external = sys.modules["_frozen_importlib_external"]
_bootstrap = sys.modules["_frozen_importlib"]
_FileFinder = _external.FileFinder
_SourceFileLoader = _external.SourceFileLoader
_SourcelessFileLoader = _external.SourcelessFileLoader


class _Index:
    """The index of one tree, as loaded, which of its directories were checked, and the pack."""

    def __init__(self, tree: str, epoch: int, dirs: "Dict[str, bytes]") -> None:
        self.tree = tree
        self.prefix = tree + "/"
        self.epoch = epoch
        self.dirs = dirs
        self.checked: "Dict[str, Union[Listing, Literal[False]]]" = {}
        self.pack = -2  # its descriptor; -2: not opened yet, -1: not usable

    def listing(self, rel: str) -> "Optional[Listing]":
        """The listing of ``rel`` when its mtime is the index's (one stat, the first time), or
        None: not indexed, or changed since."""
        got = self.checked.get(rel)
        if got is None:
            got = False
            raw = self.dirs.get(rel)
            if raw is not None:
                try:
                    same = os.stat(self.prefix + rel).st_mtime == self.epoch  # noqa: PTH116
                except OSError:
                    same = False
                if same:
                    names, sizes, offsets, subdirs = raw.decode("utf-8").split("\0")
                    files = {}
                    if names:
                        size, offset = sizes.split(), offsets.split()
                        for i, n in enumerate(names.split("/")):
                            files[n] = (int(size[i]), int(offset[i]))
                    got = (files, frozenset(subdirs.split("/")) if subdirs else frozenset())
            self.checked[rel] = got
        return got or None

    def packed(self, offset: int, size: int) -> "Optional[bytes]":
        """The ``size`` bytes of a .pyc at ``offset`` in the pack (one pread; the pack opened
        the first time), or None."""
        fd = self.pack
        if fd == -2:
            try:
                fd = os.open(self.prefix + PACK, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                fd = -1
            self.pack = fd
        if fd < 0:
            return None
        try:
            data = os.pread(fd, size + 16, offset - 16)
        except OSError:
            data = b""
        if len(data) != size + 16 or data[:16] != TAG + offset.to_bytes(8, "little"):
            # the program closed it (and maybe opened another file under its number), or the
            # pack differs: the .pyc files from now on, the descriptor never closed here
            self.pack = -1
            return None
        return data[16:]

    def get_data(self, path: str) -> bytes:
        """The bytes of the file ``path`` of the tree: a .pyc from the pack when its directory
        is unchanged, else in one open, reads and a close (FileLoader's goes through
        io.open_code, which adds a stat, an ioctl and a seek)."""
        cut = path.rfind("/")
        listing = self.listing(path[len(self.prefix) : cut])
        if listing is not None:
            size, offset = listing[0].get(path[cut + 1 :], (-1, -1))
            if offset >= 0:
                data = self.packed(offset, size)
                if data is not None:
                    return data
        return _read(path)


_index: "Optional[_Index]" = None


class IndexedSourceFileLoader(_SourceFileLoader):  # type: ignore[misc,valid-type]
    """SourceFileLoader with the source's stat from the index (size, and the tree's mtime) and
    the bytecode from the pack."""

    _acc_py_size = -1

    def path_stats(self, path: str) -> "Dict[str, Any]":
        if self._acc_py_size >= 0 and _index is not None and path == self.path:
            return {"mtime": _index.epoch, "size": self._acc_py_size}
        return super().path_stats(path)  # type: ignore[no-any-return]

    def get_data(self, path: str) -> bytes:
        if _index is None or path[: len(_index.prefix)] != _index.prefix:
            return super().get_data(path)  # type: ignore[no-any-return]
        return _index.get_data(path)


class IndexedSourcelessFileLoader(_SourcelessFileLoader):  # type: ignore[misc,valid-type]
    """SourcelessFileLoader with the bytecode from the pack."""

    def get_data(self, path: str) -> bytes:
        if _index is None or path[: len(_index.prefix)] != _index.prefix:
            return super().get_data(path)  # type: ignore[no-any-return]
        return _index.get_data(path)


class IndexedFileFinder(_FileFinder):  # type: ignore[misc,valid-type]
    """A FileFinder for a directory of the index: see the module's docstring."""

    def __init__(self, path: str, rel: str, *details: "Tuple[type, List[str]]") -> None:
        super().__init__(path, *details)
        self._acc_py_rel = rel

    def invalidate_caches(self) -> None:
        super().invalidate_caches()
        if _index is not None:
            _index.checked.pop(self._acc_py_rel, None)  # checked again at the next lookup

    def find_spec(self, fullname: str, target: "Any" = None) -> "Any":
        index = _index
        listing = index.listing(self._acc_py_rel) if index is not None else None
        if index is None or listing is None:
            return super().find_spec(fullname, target)
        files, dirs = listing
        tail = fullname.rpartition(".")[2]
        is_namespace = False
        if tail in dirs:
            base = self.path + "/" + tail
            sub = index.listing(self._acc_py_rel + "/" + tail)
            for suffix, loader_class in self._loaders:
                init = "__init__" + suffix
                if init in sub[0] if sub is not None else _external._path_isfile(base + "/" + init):
                    size = sub[0][init][0] if sub is not None else -1
                    return self._acc_py_spec(loader_class, fullname, base + "/" + init, [base],
                                             target, size)  # fmt: skip
            is_namespace = True
        for suffix, loader_class in self._loaders:
            name = tail + suffix
            if name in files:
                return self._acc_py_spec(
                    loader_class, fullname, self.path + "/" + name, None, target, files[name][0]
                )
        if is_namespace:
            spec = _bootstrap.ModuleSpec(fullname, None)
            spec.submodule_search_locations = [self.path + "/" + tail]
            return spec
        return None

    def _acc_py_spec(  # noqa: PLR0917 - FileFinder._get_spec's, and the size
        self, loader: type, fullname: str, path: str, smsl: "Any", target: "Any", size: int
    ) -> "Any":
        spec = self._get_spec(loader, fullname, path, smsl, target)
        if size >= 0 and type(spec.loader) is IndexedSourceFileLoader:
            spec.loader._acc_py_size = size
        return spec


def _details() -> "List[Tuple[type, List[str]]]":
    """FileFinder's loaders, with IndexedSourceFileLoader for the sources."""
    ours = {_SourceFileLoader: IndexedSourceFileLoader,
            _SourcelessFileLoader: IndexedSourcelessFileLoader}  # fmt: skip
    return [(ours.get(loader, loader), suffixes)
            for loader, suffixes in _external._get_supported_file_loaders()]  # fmt: skip


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        chunks: "List[bytes]" = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def load(tree: str, data: "Any" = None) -> "Optional[_Index]":
    """The index of ``tree`` (its physical path, as sys.path names it), or None; ``data``: the
    index file's contents, already unmarshalled (the hook reads the file once for both)."""
    if data is None:
        try:
            data = marshal.loads(_read(tree + "/" + INDEX))
        except (OSError, ValueError, EOFError, TypeError):
            return None
    if not isinstance(data, tuple) or len(data) < 3 or data[0] != FORMAT:
        return None
    return _Index(tree, data[1], data[2])


def install(tree: str, data: "Any" = None) -> bool:
    """Put the finders of ``tree``'s index in place (see the module's docstring); False when
    there is no usable index or the switch is off. ``data``: as :func:`load`'s."""
    global _index  # noqa: PLW0603 - the finders' one index, set once
    if os.environ.get("ACC_PY_NO_IMPORT_INDEX", "0") not in ("", "0"):
        return False
    index = load(tree, data)
    if index is None:
        return False
    _index = index
    details = _details()
    prefix, cut, dirs = index.prefix, len(index.prefix), index.dirs

    def acc_py_import_index(path: str) -> IndexedFileFinder:
        if path[:cut] == prefix and path[cut:] in dirs:
            return IndexedFileFinder(path, path[cut:], *details)
        raise ImportError("not a directory of the Acc-Py import index", path=path)

    sys.path_hooks.insert(0, acc_py_import_index)
    cache = sys.path_importer_cache
    for entry, finder in list(cache.items()):
        ours = isinstance(entry, str) and entry[:cut] == prefix and entry[cut:] in dirs
        if ours and type(finder) is _FileFinder:
            cache[entry] = IndexedFileFinder(entry, entry[cut:], *details)
    return True

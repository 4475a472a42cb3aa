"""What every verb shares: the current base, described by its ``ACC-PY.json``.

Standard library and the light core modules only (:mod:`accpy_core.errors`,
:mod:`accpy_core.names`, :mod:`accpy_core.metadata`, the one reader of ``ACC-PY.json``),
Python 3.7+. Kept light, as ``acc-py venv`` imports only this module
and :mod:`acc_py.venv`: ``json`` is the one import that costs anything. Not ``typing`` (see
``TYPE_CHECKING`` below), nor :mod:`accpy_core.layout`, whose imports (dataclasses, pathlib,
secrets, shutil, ...) would cost more than the rest of ``acc-py venv``.
"""

from __future__ import annotations

import os
import re
import sys

from accpy_core.errors import BaseError
from accpy_core.metadata import read_metadata
from accpy_core.names import METADATA_NAME

#: typing.TYPE_CHECKING without importing typing at run time: mypy takes it as True
TYPE_CHECKING = False
if TYPE_CHECKING:
    from accpy_core.metadata import Metadata, Record

_SETUP_HINT = (
    "run the acc-py of an installed base: <root>/base/pro/bin/acc-py, or acc-py after "
    "sourcing <root>/base/pro/setup.sh"
)


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def logical_base_dir(candidate: str, version: str) -> str:
    """The base's name as users should keep it: ``<root>/base/<version>``, not ``pro`` nor the
    physical ``._<version>.<patch>``. The rule of setup.sh: a directory not named after the
    version whose sibling ``<version>`` is the same directory is known by that sibling."""
    candidate = os.path.normpath(candidate)
    if os.path.basename(candidate) != version:
        sibling = os.path.join(os.path.dirname(candidate), version)
        if os.path.isdir(sibling) and _same_dir(sibling, candidate):
            return sibling
    return candidate


def read_base(base_dir: str) -> Base:
    """The base at ``base_dir``: BaseError if it has no ``ACC-PY.json`` (this Python is not a
    base), MetadataError if that file is unreadable or malformed."""
    if not os.path.isfile(os.path.join(base_dir, METADATA_NAME)):
        raise BaseError(
            f"{base_dir} is not a built Acc-Py base (it has no {METADATA_NAME}), so this "
            f"acc-py has no base; {_SETUP_HINT}"
        )
    return Base(base_dir, read_metadata(base_dir))


class BaseInfo:
    """One base of the manifest, as ``ACC-PY.json`` lists it under ``bases``."""

    __slots__ = ("end_of_life", "patch", "platform", "python", "status", "version")

    def __init__(
        self,
        version: str,
        *,
        patch: int | None = None,
        python: str = "",
        status: str = "",
        end_of_life: str | None = None,
        platform: str = "",
    ) -> None:
        self.version = version
        self.patch = patch
        self.python = python  # X.Y.Z
        self.status = status
        self.end_of_life = end_of_life  # ISO date
        self.platform = platform

    @classmethod
    def parse(cls, entry: Record) -> BaseInfo:
        """A ``bases`` entry of ``ACC-PY.json``."""
        return cls(
            entry.version,
            patch=entry.patch,
            python=entry.python,
            status=entry.status,
            end_of_life=entry.end_of_life,
            platform=entry.platform,
        )

    def __repr__(self) -> str:
        return f"BaseInfo({self.version!r}, status={self.status!r}, python={self.python!r})"


class Base:
    """The Acc-Py base this acc-py belongs to (the one whose Python runs it).

    ``directory``: the base by any of its names (see :func:`logical_base_dir`); ``metadata``:
    its ``ACC-PY.json`` (:func:`accpy_core.metadata.read_metadata`).
    """

    def __init__(self, directory: str, metadata: Metadata) -> None:
        if not metadata.is_base:
            raise BaseError(
                f"{os.path.join(directory, METADATA_NAME)} is of an {metadata.kind} release, "
                f"not of a base; {_SETUP_HINT}"
            )
        self.metadata = metadata
        self.version = metadata.version
        self.dir = logical_base_dir(directory, self.version)
        self.patch: int | None = metadata.patch
        self.status = metadata.status
        self.end_of_life = metadata.end_of_life
        self.platform = metadata.platform
        self.install_root = metadata.site.install_root or ""
        self.site_index_url = metadata.site.index_url or ""
        # the running Python is the base's own: what a venv records comes from it
        major, minor, micro = sys.version_info[:3]
        self.python_version = f"{major}.{minor}"
        self.python_full = f"{major}.{minor}.{micro}"
        self.bindir = os.path.join(self.dir, "bin")
        self.python = os.path.join(self.bindir, "python" + self.python_version)
        self.stdlib = os.path.join(self.dir, "lib", "python" + self.python_version)
        self.purelib = os.path.join(self.stdlib, "site-packages")

    @property
    def bases(self) -> list[BaseInfo]:
        """Every base of the manifest (the ``bases`` of ``ACC-PY.json``)."""
        return [BaseInfo.parse(entry) for entry in self.metadata.bases]

    def info(self) -> BaseInfo:
        """This base, as an entry of :attr:`bases`."""
        return BaseInfo(
            self.version,
            patch=self.patch,
            python=self.metadata.python or self.python_full,
            status=self.status,
            end_of_life=self.end_of_life,
            platform=self.platform,
        )

    def index_url(self) -> str:
        """The index the base's pip uses: its pip.conf, else the one it was built with."""
        conf = os.path.join(self.dir, "pip.conf")
        try:
            with open(conf, encoding="utf-8") as f:
                section = None
                for raw in f:
                    line = raw.strip()
                    if line.startswith("[") and line.endswith("]"):
                        section = line[1:-1].strip()
                    elif section in ("global", "install") and "=" in line:
                        key, _, value = line.partition("=")
                        if key.strip().replace("_", "-") == "index-url" and value.strip():
                            return value.strip()
        except OSError:
            pass
        return self.site_index_url


def current_base(launcher: str | None = None) -> Base:
    """Find the base: ACC_PY_BASE (set by setup.sh), else where the launcher was called from,
    else the prefix of the running Python; the first one that is the running Python's base."""
    home = sys.base_prefix
    candidates = []
    if os.environ.get("ACC_PY_BASE"):
        candidates.append(os.environ["ACC_PY_BASE"])
    if launcher and os.sep in launcher:
        candidates.append(os.path.dirname(os.path.dirname(os.path.abspath(launcher))))
    for candidate in candidates:
        if _same_dir(candidate, home):
            home = candidate
            break
    return read_base(os.path.abspath(home))


def normalize_name(name: str) -> str:
    """PEP 503 normalized name: lower case, runs of -_. become -."""
    return re.sub(r"[-_.]+", "-", name).lower()

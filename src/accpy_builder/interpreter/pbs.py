"""Stage 2, ``pbs``: a python-build-standalone archive, through a mirror and the local cache.

The mirror is laid out like GitHub releases and uv's ``UV_PYTHON_INSTALL_MIRROR``:
``<mirror>/<tag>/<asset>``. It may be ``https://``, ``http://``, ``file:///dir`` or a plain local
directory. Two archive layouts are understood:

* ``install_only`` / ``install_only_stripped`` (``.tar.gz``): ``python/bin``, ``python/lib``;
  the prefix is ``python/``.
* the legacy *full* archive (``.tar.zst``): ``python/PYTHON.json`` and ``python/install/``;
  the prefix is ``python/install`` and PYTHON.json is parsed.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accpy_core.archive import safe_extract
from accpy_core.errors import ArchiveError, ChecksumError, SourceError
from accpy_core.names import read_json_object
from accpy_manifest import PbsAsset

from ..download import fetch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PbsTree:
    """An unpacked PBS interpreter."""

    prefix: Path  # the CPython install prefix: holds bin/ and lib/
    source_url: str
    sha256: str
    python_json: dict[str, Any] | None = field(default=None, hash=False, compare=False)


def mirror_url(mirror: str) -> str:
    """``mirror`` as a URL: a plain local directory becomes ``file:///abs/dir``."""
    if "://" in mirror:
        return mirror.rstrip("/")
    return Path(mirror).expanduser().resolve().as_uri()


def describe_attempt(url: str, reason: str) -> str:
    """One line for an unreachable mirror: what was tried and the two ways out."""
    reason = re.sub(rf"^(cannot (reach|fetch) )?{re.escape(url)}:\s*", "", reason)
    return (
        f"cannot fetch the python-build-standalone archive {url}: {reason}. "
        "Set PBS_MIRROR=<https:// URL or file:// dir> to a mirror laid out as "
        "<mirror>/<tag>/<asset> (like uv's UV_PYTHON_INSTALL_MIRROR), "
        "or INTERPRETER=auto|/path/to/prefix to adopt a CPython from this machine"
    )


def obtain_pbs(
    asset: PbsAsset,
    mirror: str,
    cache_dir: Path,
    dest: Path,
    *,
    progress: bool = False,
    cafile: Path | None = None,
) -> PbsTree:
    """Fetch ``asset`` from ``mirror`` into ``cache_dir``, verify it, unpack it into ``dest``.

    ``dest`` must not exist or be empty; it is filled atomically (staged next to it, then
    renamed). Raises SourceError (with the way out), ChecksumError or ArchiveError.
    """
    url = asset.url(mirror_url(mirror))
    try:
        archive = fetch(url, asset.sha256, cache_dir, progress=progress, cafile=cafile)
    except ChecksumError:
        raise
    except SourceError as exc:
        raise SourceError(describe_attempt(url, str(exc))) from exc

    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ArchiveError(f"{dest} already exists and is not empty; remove it first")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
    try:
        log.info("unpacking %s", archive.name)
        safe_extract(archive, staging)
        relative, python_json = _find_prefix(staging, archive)
        staging.replace(dest)  # rename(2) may replace an empty directory
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    prefix = dest / relative
    flavor = "full" if python_json is not None else "install_only"
    if flavor != asset.flavor:
        log.warning(
            "%s is named like a %s archive but has the %s layout", asset.asset, asset.flavor, flavor
        )
    log.info("PBS interpreter ready at %s", prefix)
    return PbsTree(prefix=prefix, source_url=url, sha256=asset.sha256, python_json=python_json)


def _find_prefix(tree: Path, archive: Path) -> tuple[Path, dict[str, Any] | None]:
    """Which PBS layout ``tree`` has: (prefix relative to tree, parsed PYTHON.json or None)."""
    top = tree / "python"
    if (top / "PYTHON.json").is_file() and (top / "install").is_dir():
        python_json = _read_python_json(top / "PYTHON.json", archive)
        install = top / "install"
        if not (install / "bin").is_dir() or not (install / "lib").is_dir():
            raise ArchiveError(f"{archive}: full PBS archive without python/install/bin and lib/")
        return Path("python/install"), python_json
    if (top / "bin").is_dir() and (top / "lib").is_dir():
        return Path("python"), None
    found = sorted(p.name + ("/" if p.is_dir() else "") for p in tree.iterdir())
    inside = sorted(p.name for p in top.iterdir()) if top.is_dir() else []
    detail = f"; python/ holds {', '.join(inside[:10]) or 'nothing'}" if top.is_dir() else ""
    raise ArchiveError(
        f"{archive}: not a python-build-standalone layout: expected python/bin + python/lib "
        "(install_only) or python/PYTHON.json + python/install/ (full); found top-level "
        f"{', '.join(found[:10]) or 'nothing'}{detail}"
    )


def _read_python_json(path: Path, archive: Path) -> dict[str, Any]:
    return read_json_object(path, ArchiveError, f"{archive} is not a usable PBS full archive")

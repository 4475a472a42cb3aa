"""Test helper: a python-build-standalone mirror made from a CPython install on this machine.

``make_pbs_mirror(root, prefix, flavor=..., python_version=...)`` packs ``prefix`` (found with
``conftest.local_pythons()``) into a real archive in PBS layout at ``root/<tag>/<asset>``, with a
PBS-style file name, and returns the pinned :class:`PbsAsset`. ``root`` then works as a
``PBS_MIRROR`` (``file://`` URL, plain directory, or served over HTTP).

Import it from tests as ``from pbs_mirror import make_pbs_mirror`` (pytest puts ``tests/`` on
``sys.path`` for ``tests/conftest.py``).
"""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Literal

import zstandard

from accpy_builder.download import sha256_file
from accpy_manifest import PbsAsset

Flavor = Literal["install_only", "full"]

#: What PBS ships in bin/; pyenv installs also hold console scripts of every installed package.
_BIN_PREFIXES = ("python", "pip", "pydoc", "idle", "2to3")
_BUILT: dict[tuple[Path, Path, str, str, str], PbsAsset] = {}


def triple() -> str:
    return f"{platform.machine()}-unknown-linux-gnu"


def asset_name(flavor: Flavor, python_version: str, tag: str) -> str:
    """``cpython-3.11.7+TAG-x86_64-unknown-linux-gnu-install_only.tar.gz`` or the full name."""
    if flavor == "install_only":
        return f"cpython-{python_version}+{tag}-{triple()}-install_only.tar.gz"
    return f"cpython-{python_version}-{triple()}-pgo-{tag}T0000.tar.zst"


def make_pbs_mirror(
    root: Path,
    prefix: Path,
    *,
    flavor: Flavor,
    python_version: str,
    tag: str = "20990101",
) -> PbsAsset:
    """Pack ``prefix`` as a PBS ``flavor`` archive under ``root/<tag>/``; return its asset.

    Called again with the same root, prefix and flavor, it returns the archive already made.
    """
    name = asset_name(flavor, python_version, tag)
    key = (root.resolve(), prefix.resolve(), flavor, python_version, tag)
    target = root / tag / name
    cached = _BUILT.get(key)
    if cached is not None and target.is_file():
        return cached
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            minor = ".".join(python_version.split(".")[:2])
            if flavor == "install_only":
                _write_install_only(tmp, prefix, minor)
            else:
                _write_full(tmp, prefix, minor, python_version)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    asset = PbsAsset(tag=tag, asset=name, sha256=sha256_file(target))
    _BUILT[key] = asset
    return asset


def _members(prefix: Path, minor: str) -> list[tuple[Path, str]]:
    """(path, name relative to prefix) for what a PBS tree of this prefix would hold, sorted."""
    stdlib = PurePosixPath("lib", f"python{minor}")
    site = stdlib / "site-packages"
    out: list[tuple[Path, str]] = []
    for dirpath, dirnames, filenames in os.walk(prefix):
        here = PurePosixPath(Path(dirpath).relative_to(prefix).as_posix())
        keep_dirs = []
        for d in sorted(dirnames):
            rel = here / d
            if d == "__pycache__" or rel == stdlib / "test":
                continue
            if here == site and not (d == "pip" or (d.startswith("pip-") and "dist-info" in d)):
                continue
            keep_dirs.append(d)
            out.append((Path(dirpath, d), str(rel)))
        dirnames[:] = keep_dirs
        for f in sorted(filenames):
            rel = here / f
            if here == PurePosixPath("bin") and not f.startswith(_BIN_PREFIXES):
                continue
            if here == site or f.endswith((".a", ".pyc")):
                continue  # PBS ships pip only; static libraries are large and unused here
            out.append((Path(dirpath, f), str(rel)))
    return sorted(out, key=lambda item: item[1])


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 1_700_000_000
    return info


def _add_tree(tar: tarfile.TarFile, prefix: Path, minor: str, top: str) -> None:
    tar.addfile(_normalise(_dir_info(top)))
    for path, rel in _members(prefix, minor):
        tar.add(path, arcname=f"{top}/{rel}", recursive=False, filter=_normalise)


def _dir_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


def _write_install_only(out: Path, prefix: Path, minor: str) -> None:
    with tarfile.open(out, "w:gz", compresslevel=3, format=tarfile.GNU_FORMAT) as tar:
        _add_tree(tar, prefix, minor, "python")


def _write_full(out: Path, prefix: Path, minor: str, python_version: str) -> None:
    doc = json.dumps(python_json(minor, python_version), indent=2).encode()
    with (
        out.open("wb") as fh,
        zstandard.ZstdCompressor(level=3).stream_writer(fh, closefd=False) as zfh,
        tarfile.open(fileobj=zfh, mode="w|", format=tarfile.GNU_FORMAT) as tar,
    ):
        tar.addfile(_normalise(_dir_info("python")))
        info = _normalise(tarfile.TarInfo("python/PYTHON.json"))
        info.size = len(doc)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(doc))
        _add_tree(tar, prefix, minor, "python/install")


def python_json(minor: str, python_version: str) -> dict[str, object]:
    """A PYTHON.json like the one in PBS full archives (format version 7)."""
    nodot = minor.replace(".", "")
    abi = f"cp{nodot}m" if minor in {"3.6", "3.7"} else f"cp{nodot}"
    stdlib = f"install/lib/python{minor}"
    return {
        "version": "7",
        "target_triple": triple(),
        "optimizations": "pgo",
        "python_tag": f"cp{nodot}",
        "python_abi_tag": abi,
        "python_platform_tag": f"linux-{platform.machine()}",
        "python_implementation_name": "cpython",
        "python_implementation_cache_tag": f"cpython-{nodot}",
        "python_version": python_version,
        "python_major_minor_version": minor,
        "python_exe": f"install/bin/python{minor}",
        "python_stdlib": stdlib,
        "python_paths": {
            "include": f"install/include/python{minor}",
            "platinclude": f"install/include/python{minor}",
            "platstdlib": stdlib,
            "platlib": f"{stdlib}/site-packages",
            "purelib": f"{stdlib}/site-packages",
            "stdlib": stdlib,
        },
        "python_suffixes": {
            "bytecode": [".pyc"],
            "debug_bytecode": [".pyc"],
            "extension": [f".cpython-{nodot}-{platform.machine()}-linux-gnu.so", ".abi3.so", ".so"],
            "optimized_bytecode": [".pyc"],
            "source": [".py"],
        },
        "link_mode": "shared",
        "build_info": {"core": {}, "extensions": {}},
        "licenses": ["Python-2.0", "CNRI-Python"],
        "license_path": "licenses/LICENSE.cpython.txt",
    }

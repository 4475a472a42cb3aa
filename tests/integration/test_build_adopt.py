"""End to end: build 2023.06 by adopting the interpreter that runs these tests (PLATFORM=auto),
unpack it twice, and use it through setup.sh from bash, zsh and dash, as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard
from conftest import BASE_VERSION, builder_dirs, in_base, make_base, run_builder
from extensions import check_extensions
from servers import Index

from accpy_core.errors import CheckError, SourceError

pytestmark = pytest.mark.slow

VERSION = BASE_VERSION
SHELLS = ("bash", "zsh", "dash")
IMPORTS = "import numpy, scipy.linalg, ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, venv"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(base_dist: Path) -> Path:
    return base_dist


@pytest.fixture(scope="module")
def index_url(site_index: Index) -> str:
    return site_index.url


def _tarballs(dist: Path) -> tuple[Path, Path]:
    gz = sorted(dist.glob(f"acc-py-base-{VERSION}-*.tar.gz"))
    zst = sorted(dist.glob(f"acc-py-base-{VERSION}-*.tar.zst"))
    assert len(gz) == 1 and len(zst) == 1, list(dist.iterdir())
    return gz[0], zst[0]


def _unpack(archive: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    if archive.suffix == ".zst":
        with (
            archive.open("rb") as raw,
            zstandard.ZstdDecompressor().stream_reader(raw) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            tar.extractall(dest, filter="tar")
    else:
        subprocess.run(["tar", "xf", str(archive), "-C", str(dest)], check=True)
    assert [p.name for p in dest.iterdir()] == [VERSION]
    return dest / VERSION


@pytest.fixture(scope="module")
def unpacked(built: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    gz, zst = _tarballs(built)
    root = tmp_path_factory.mktemp("unpacked")
    return [_unpack(gz, root / "from-gz"), _unpack(zst, root / "from zst")]


def _in_shell(shell: str, base: Path, body: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return in_base(base, body, tmp / "home", shell)


def test_artifacts(built: Path) -> None:
    gz, zst = _tarballs(built)
    platform = gz.name.removeprefix(f"acc-py-base-{VERSION}-").removesuffix(".tar.gz")
    # this machine's interpreter needs a newer glibc than 2.28: the honest tag says so
    assert platform.startswith("manylinux_2_") and platform != "manylinux_2_28_x86_64"
    for archive in (gz, zst):
        digest, name = (archive.parent / (archive.name + ".sha256")).read_text().split()
        assert name == archive.name and digest == _sha256(archive)


def test_metadata(unpacked: list[Path]) -> None:
    meta = json.loads((unpacked[0] / "ACC-PY.json").read_text())
    assert meta["version"] == VERSION and meta["python"] == sys.version.split()[0]
    assert meta["interpreter"] == {
        "kind": "adopt",
        "prefix": sys.base_prefix,
        "version": sys.version.split()[0],
    }
    assert meta["platform"].startswith("manylinux_2_")
    names = {p["name"]: p for p in meta["packages"]}
    assert set(names) >= {"pip", "numpy", "scipy"}
    assert all(len(p["sha256"]) == 64 for p in names.values())
    assert (unpacked[0] / "ACC-PY.RECORD").is_file()


@pytest.mark.parametrize("shell", SHELLS)
def test_base_works_from_each_shell(
    shell: str, unpacked: list[Path], index_url: str, tmp_path: Path
) -> None:
    for base in unpacked:
        body = f"""
set -e
command -v python
python -c "{IMPORTS}; print('imports-ok')"
python -m pip config list
python -m pip install six && echo INSTALLED || echo "refused=$?"
"""
        proc = _in_shell(shell, base, body, tmp_path)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == f"{base.parent.resolve() / VERSION}/bin/python" or lines[0].startswith(
            str(base)
        )
        assert "imports-ok" in lines
        assert f"global.index-url='{index_url}'" in lines
        assert "refused=1" in lines and "INSTALLED" not in lines
        assert "externally-managed-environment" in proc.stderr


def _references(tree: Path, needle: str) -> list[str]:
    hits = []
    data = needle.encode()
    for dirpath, _dirs, files in os.walk(tree):
        for name in files:
            path = Path(dirpath, name)
            if path.is_symlink():
                if needle in os.readlink(path):
                    hits.append(str(path))
            elif data in path.read_bytes():
                hits.append(str(path))
    return hits


def test_moved_tree_keeps_working(unpacked: list[Path], tmp_path: Path) -> None:
    old_parent = unpacked[0].parent
    new_parent = tmp_path / "moved" / "elsewhere"
    new_parent.parent.mkdir()
    shutil.copytree(old_parent, tmp_path / "copy", symlinks=True)
    (tmp_path / "copy").rename(new_parent)
    moved = new_parent / VERSION
    proc = _in_shell("bash", moved, f'python -c "{IMPORTS}" && python -m pip --version', tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert str(moved) in proc.stdout
    assert _references(moved, str(old_parent)) == []
    assert _references(moved, str(tmp_path / "copy")) == []


def test_extensions_built_on_it_carry_no_run_path(unpacked: list[Path], tmp_path: Path) -> None:
    """An adopted interpreter's sysconfig handed -Wl,-rpath,<prefix>/lib to every extension
    (issue 18): no longer, and python-config and the .pc files neither."""
    check_extensions(unpacked[0], tmp_path / "extension")  # [1]'s path has a space


def test_two_builds_are_byte_identical(built: Path, index_url: str, tmp_path: Path) -> None:
    proc = make_base(tmp_path, index_url)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = _tarballs(built)
    second = _tarballs(tmp_path / "dist")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert _sha256(a) == _sha256(b), f"{a.name} differs between two builds"


def test_manylinux_2_28_refuses_this_machines_interpreter(tmp_path: Path) -> None:
    proc = run_builder(  # how fast it refuses: benchmarks/bench_failures.py
        "base", VERSION, "--interpreter", sys.base_prefix,
        "--platform", "manylinux_2_28_x86_64", *builder_dirs(tmp_path),
    )  # fmt: skip
    assert proc.returncode == CheckError.exit_code, proc.stderr
    error = next(line for line in proc.stderr.splitlines() if line.startswith("error:"))
    assert "newer than manylinux_2_28_x86_64 allows" in error
    assert "GLIBC_2.3" in error and "PLATFORM=auto" in error
    assert "libpython" in proc.stderr  # the offending files are listed
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_no_reachable_source_fails_fast(tmp_path: Path) -> None:
    # how fast: benchmarks/bench_failures.py
    proc = run_builder("base", VERSION, *builder_dirs(tmp_path, cache=tmp_path / "cache"))
    assert proc.returncode == SourceError.exit_code, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert "github.com" in error and "PBS_MIRROR=" in error and "INTERPRETER=" in error

"""The pbs path end to end: a file:// mirror in python-build-standalone's layouts (an
install_only .tar.gz and a legacy full .tar.zst), made from this machine's interpreters."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import build_cache, builder_dirs, built, in_base, python_prefix, run_builder, untar
from extensions import check_extensions
from pbs_mirror import make_pbs_mirror

from accpy_core.errors import ChecksumError, SourceError
from accpy_manifest import PbsAsset

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]


def patched_manifest(tmp: Path, version: str, python: str, asset: PbsAsset) -> Path:
    """versions.yaml with ``version``'s interpreter pinned to ``asset``."""
    data = yaml.safe_load((PROJECT / "versions.yaml").read_text())
    (entry,) = [b for b in data["bases"] if b["version"] == version]
    entry["python"] = python
    entry["interpreter"] = {"tag": asset.tag, "asset": asset.asset, "sha256": asset.sha256}
    path = tmp / "versions.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _build(
    tmp: Path, manifest: Path, version: str, mirror: str
) -> subprocess.CompletedProcess[str]:
    return run_builder(
        "base", version, "--manifest", str(manifest), "--pbs-mirror", mirror,
        "--platform", "auto", *builder_dirs(tmp),
    )  # fmt: skip


def _use(tmp: Path, version: str, code: str) -> str:
    (tarball,) = (tmp / "dist").glob(f"acc-py-base-{version}-*.tar.gz")
    base = untar(tarball, tmp / "installed")
    proc = in_base(base, f'python -c "{code}"', tmp / "home")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pbs-mirror")


@pytest.mark.parametrize(
    ("version", "minor", "flavor"),
    [("2023.06", "3.11", "install_only"), ("2020.11", "3.7", "full")],
)
def test_build_from_a_file_mirror(
    version: str, minor: str, flavor: str, mirror: Path, tmp_path: Path
) -> None:
    prefix = python_prefix(minor)
    python = prefix.name
    asset = make_pbs_mirror(mirror, prefix, flavor=flavor, python_version=python)  # type: ignore[arg-type]
    manifest = patched_manifest(tmp_path, version, python, asset)
    proc = _build(tmp_path, manifest, version, mirror.as_uri())
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = _use(tmp_path, version, "import sys, numpy, scipy.linalg, ssl; print(sys.version)")
    assert out.startswith(python)
    meta = json.loads((tmp_path / "installed" / version / "ACC-PY.json").read_text())
    assert meta["interpreter"]["kind"] == "pbs"
    assert meta["interpreter"]["sha256"] == asset.sha256
    assert meta["interpreter"]["asset"] == asset.asset
    assert meta["interpreter"]["url"].startswith("https://github.com/astral-sh/")
    check_extensions(tmp_path / "installed" / version, tmp_path / "extension")
    built(f"{version} (CPython {python}, pbs {flavor} archive from a file:// mirror)")


def test_sha256_mismatch_is_refused(mirror: Path, tmp_path: Path) -> None:
    prefix = python_prefix("3.11")
    asset = make_pbs_mirror(mirror, prefix, flavor="install_only", python_version=prefix.name)
    wrong = PbsAsset(asset.tag, asset.asset, "0" * 64)
    manifest = patched_manifest(tmp_path, "2023.06", prefix.name, wrong)
    cache = build_cache()
    proc = _build(tmp_path, manifest, "2023.06", mirror.as_uri())
    assert proc.returncode == ChecksumError.exit_code, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert asset.asset in error and "0" * 64 in error and asset.sha256 in error
    assert not (cache / ("0" * 64) / asset.asset).exists()
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_unreachable_mirror_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_builder(  # how fast: benchmarks/bench_failures.py
        "base", "2023.06", "--pbs-mirror", f"http://127.0.0.1:{port}/pbs",
        *builder_dirs(tmp_path, cache=tmp_path / "cache"),
    )  # fmt: skip
    assert proc.returncode == SourceError.exit_code, proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert f"127.0.0.1:{port}" in error and "PBS_MIRROR=" in error and "INTERPRETER=" in error

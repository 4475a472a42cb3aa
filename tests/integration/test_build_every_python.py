"""The same adopt build for every other base whose Python this machine has (3.7, 3.9, 3.13).

Which ones ran is listed under "bases built by the tests" at the end of the pytest run; a
missing interpreter shows as a skip naming it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import builder_dirs, built, in_base, python_prefix, run_builder, untar

pytestmark = pytest.mark.slow

INDEX = "http://127.0.0.1:9/acc-py-test/simple/"
IMPORTS = "import numpy, scipy.linalg, ssl, sqlite3, ctypes, lzma, bz2, zlib, readline, venv"


@pytest.mark.parametrize(
    ("version", "minor"), [("2020.11", "3.7"), ("2021.12", "3.9"), ("2024.12", "3.13")]
)
def test_adopt_build(version: str, minor: str, tmp_path: Path) -> None:
    prefix = python_prefix(minor)
    proc = run_builder(
        "base", version, "--interpreter", "auto", "--platform", "auto", "--index-url", INDEX,
        *builder_dirs(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (tarball,) = (tmp_path / "dist").glob(f"acc-py-base-{version}-manylinux_*.tar.gz")
    base = untar(tarball, tmp_path / "unpacked")
    body = f"""
python -c "{IMPORTS}; import sys; print(sys.version.split()[0])"
python -m pip config list
python -m pip install six || echo "refused=$?"
"""
    run = in_base(base, body, tmp_path / "home")
    lines = run.stdout.splitlines()
    assert lines[0] == prefix.name, run.stderr
    assert f"global.index-url='{INDEX}'" in lines
    assert "refused=1" in lines and "externally-managed-environment" in run.stderr
    meta = json.loads((base / "ACC-PY.json").read_text())
    assert meta["python"] == prefix.name and meta["version"] == version
    if meta["status"] == "deprecated":
        assert meta["end_of_life"]
    built(f"{version} (CPython {prefix.name}, adopted with INTERPRETER=auto)")

"""Stage 4 against real wheels from PyPI and real local CPython prefixes.

Wheels are cached in ``$ACC_PY_TEST_CACHE`` or ``<repo>/.cache/test-wheels`` across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import PROJECT, python_prefix

from accpy_builder.bytecode import compile_bytecode
from accpy_builder.packages import (
    fill_wheelhouse,
    install_packages,
    manylinux_platforms,
)
from accpy_core.errors import PackagesError
from accpy_core.proc import clean_env
from accpy_manifest import PackagePin

PLATFORM = "manylinux_2_28_x86_64"
DATA = PROJECT / "tests" / "data"


def load_pins(minor: str) -> list[PackagePin]:
    data = json.loads((DATA / f"pins-{minor}.json").read_text())
    return [
        PackagePin(p["name"], p["version"], tuple(p["wheels"].values())) for p in data["packages"]
    ]


def copy_prefix(minor: str, dst: Path) -> Path:
    """A writable copy of a local CPython prefix, without the test suite and with an empty
    site-packages. It still runs thanks to its absolute RUNPATH. Returns its python."""
    src = python_prefix(minor)
    lib = f"lib/python{minor}"

    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = Path(directory).relative_to(src).as_posix()
        if rel == lib:
            return [n for n in names if n == "test"]
        if rel == f"{lib}/site-packages":
            return names
        return []

    shutil.copytree(src, dst, symlinks=True, ignore=ignore)
    (dst / lib / "site-packages").mkdir(exist_ok=True)
    return dst / "bin" / f"python{minor}"


def tree_python(tree: Path) -> Path:
    return next(p for p in sorted((tree / "bin").glob("python3.*")) if p.name[-1].isdigit())


def files_under(tree: Path) -> set[str]:
    return {str(p.relative_to(tree)) for p in tree.rglob("*")}


def pyc_digests(tree: Path) -> dict[str, str]:
    return {
        str(p.relative_to(tree)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(tree.rglob("*.pyc"))
    }


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def wheel_cache() -> Path:
    path = Path(os.environ.get("ACC_PY_TEST_CACHE", PROJECT / ".cache" / "test-wheels"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module", params=["3.7", "3.11", "3.13"])
def installed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, wheel_cache: Path
) -> tuple[Path, Path, list[PackagePin], list]:  # type: ignore[type-arg]
    """A copied prefix with pip, numpy and scipy installed (installer chosen automatically)."""
    minor = request.param
    tree = tmp_path_factory.mktemp(f"py{minor}") / "base"
    python = copy_prefix(minor, tree)
    pins = load_pins(minor)
    wheelhouse = fill_wheelhouse(
        pins, python_version=minor, platform=PLATFORM, cache_dir=wheel_cache
    )
    result = install_packages(python, pins, wheelhouse)
    return tree, python, pins, result


def test_manylinux_platforms_descend_with_aliases() -> None:
    plats = manylinux_platforms("manylinux_2_28_x86_64")
    assert plats[0] == "manylinux_2_28_x86_64"
    assert plats[-1] == "manylinux1_x86_64"
    assert plats.index("manylinux_2_17_x86_64") + 1 == plats.index("manylinux2014_x86_64")
    assert "manylinux2010_x86_64" in plats
    assert "manylinux1_aarch64" not in manylinux_platforms("manylinux_2_28_aarch64")
    with pytest.raises(PackagesError, match="manylinux"):
        manylinux_platforms("linux_x86_64")


def test_install_imports_numpy_and_scipy(installed) -> None:  # type: ignore[no-untyped-def]
    tree, python, pins, result = installed
    assert [(p.name, p.version) for p in result] == [(p.name, p.version) for p in pins]
    for pkg, pin in zip(result, pins, strict=True):
        assert f"sha256:{pkg.sha256}" in pin.hashes
        assert pkg.wheel.startswith(f"{pin.name}-{pin.version}-")
    assert "pip" in next(p for p in result if p.name == "pip").scripts
    # install_packages compiles nothing: compile_bytecode does that
    assert not list(Path(tree).glob("lib/python3.*/site-packages/numpy/__pycache__"))
    code = "import numpy as n, scipy as s, scipy.linalg, pip; "
    code += "print(n.__version__, s.__version__, n.__file__)"
    out = subprocess.run(
        [python, "-c", code], env=clean_env(), capture_output=True, text=True, check=True
    ).stdout.split()
    versions = {p.name: p.version for p in pins}
    assert out[:2] == [versions["numpy"], versions["scipy"]]
    assert Path(out[2]).is_relative_to(tree)


def test_pip_from_its_own_wheel(tmp_path: Path, wheel_cache: Path) -> None:
    """The fallback installer, on the oldest Python (uv handles 3.7 too, so it is forced)."""
    minor = "3.7"
    python = copy_prefix(minor, tmp_path / "base")
    pins = load_pins(minor)
    wheelhouse = fill_wheelhouse(
        pins, python_version=minor, platform=PLATFORM, cache_dir=wheel_cache
    )
    result = install_packages(python, pins, wheelhouse, installer="pip")
    assert {p.name for p in result} == {"pip", "numpy", "scipy"}
    installer = tmp_path / "base/lib/python3.7/site-packages/numpy-1.19.4.dist-info/INSTALLER"
    assert installer.read_text().strip() == "pip"
    subprocess.run([python, "-c", "import scipy.linalg"], env=clean_env(), check=True)


def test_second_fill_works_offline(wheel_cache: Path) -> None:
    pins = load_pins("3.11")
    fill_wheelhouse(pins, python_version="3.11", platform=PLATFORM, cache_dir=wheel_cache)
    dead = f"http://127.0.0.1:{closed_port()}/simple"
    wheelhouse = fill_wheelhouse(
        pins, python_version="3.11", platform=PLATFORM, cache_dir=wheel_cache, index_url=dead
    )
    assert wheelhouse == wheel_cache / "wheels"
    index = json.loads((wheelhouse / ".sha256-index.json").read_text())["wheels"]
    assert any(name.startswith("scipy-1.10.1-") for name in index)
    # ... and the dead index would really have been used for anything missing
    missing = [PackagePin("six", "1.16.0", ("sha256:" + "0" * 64,))]
    with pytest.raises(PackagesError, match="six"):
        fill_wheelhouse(
            missing, python_version="3.11", platform=PLATFORM, cache_dir=wheel_cache, index_url=dead
        )


def test_wrong_hash_fails_and_installs_nothing(tmp_path: Path, wheel_cache: Path) -> None:
    pins = load_pins("3.11")
    bad = [replace(p, hashes=("sha256:" + "1" * 64,)) if p.name == "pip" else p for p in pins]
    # a download whose hash is not pinned: one line, naming the package and the fix
    with pytest.raises(PackagesError) as exc:  # only the small pip wheel is downloaded
        fill_wheelhouse(bad[:1], python_version="3.11", platform=PLATFORM, cache_dir=tmp_path / "c")
    message = str(exc.value)
    assert "pip==23.1.2" in message
    assert "versions.yaml" in message
    assert "\n" not in message
    # installing with a hash that no wheel has: nothing lands in site-packages
    python = copy_prefix("3.11", tmp_path / "base")
    site = tmp_path / "base/lib/python3.11/site-packages"
    with pytest.raises(PackagesError, match=r"pip==23\.1\.2"):
        install_packages(python, bad, wheel_cache / "wheels")
    assert list(site.iterdir()) == []


def test_no_wheel_for_this_python(wheel_cache: Path) -> None:
    pins = [p for p in load_pins("3.7") if p.name == "scipy"]
    with pytest.raises(PackagesError, match=r"scipy==1\.5\.4.*versions\.yaml"):
        fill_wheelhouse(pins, python_version="3.13", platform=PLATFORM, cache_dir=wheel_cache)


def tree_minor(tree: Path) -> str:
    (stdlib,) = (tree / "lib").glob("python3.*")
    return stdlib.name.removeprefix("python")


def test_compiled_tree_never_writes_at_import(installed) -> None:  # type: ignore[no-untyped-def]
    tree, python, _, _ = installed
    compile_bytecode(python, tree, tree_minor(tree))
    before = files_under(tree)
    probe = (
        "import sys, importlib.util, numpy, scipy.linalg, json, asyncio\n"
        "bad = []\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None) or ''\n"
        "    if f.endswith('.py') and f.startswith(sys.prefix):\n"
        "        pyc = importlib.util.cache_from_source(f)\n"
        "        try:\n"
        "            flags = open(pyc, 'rb').read(8)[4:8]\n"
        "        except OSError:\n"
        "            flags = b'missing'\n"
        "        if flags != b'\\x01\\x00\\x00\\x00': bad.append((f, flags))\n"
        "print(len(sys.modules), bad)\n"
    )
    env = {k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [python, "-v", "-c", probe]
    proc = subprocess.run(argv, env=env, check=False, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith(" []"), proc.stdout  # every module: unchecked-hash pyc
    assert " matches " in proc.stderr
    assert "# wrote " not in proc.stderr
    assert files_under(tree) - before == set()


def test_compile_is_reproducible(tmp_path: Path, wheel_cache: Path) -> None:
    """Two copies with different source mtimes compile to identical pyc bytes.

    One copy is compiled one group at a time, the other with the groups side by side: the
    output must not depend on it (``compileall -j`` was seen to give a different scipy pyc:
    marshal's FLAG_REF depends on refcounts in a reused worker process)."""
    pins = load_pins("3.11")
    wheelhouse = fill_wheelhouse(
        pins, python_version="3.11", platform=PLATFORM, cache_dir=wheel_cache
    )
    a, b = tmp_path / "a", tmp_path / "b"
    python_a = copy_prefix("3.11", a)
    install_packages(python_a, pins, wheelhouse)
    shutil.copytree(a, b, symlinks=True)
    for source in (b / "lib/python3.11/json").rglob("*.py"):
        os.utime(source, (1_000_000_000, 1_000_000_000))
    compile_bytecode(python_a, a, "3.11", jobs=1)
    compile_bytecode(tree_python(b), b, "3.11", jobs=4)
    digests = pyc_digests(a)
    assert len(digests) > 3000
    assert digests == pyc_digests(b)
    # the recorded source path is relative to the tree, not the build directory
    pyc = (a / "lib/python3.11/json/__pycache__/__init__.cpython-311.pyc").read_bytes()
    assert b"lib/python3.11/json/__init__.py" in pyc
    assert str(a).encode() not in pyc

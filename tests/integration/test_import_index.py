"""The import index (issue 20) end to end, in the session's 2023.06 base (``base_dist``) and in
an ``acc-py venv`` of it: everything an import shows is the same with the index on and off
(``ACC_PY_NO_IMPORT_INDEX=1``), and with it on, the index really answers.

Compared, on and off: ``numpy.__file__`` and its spec, sys.path, a traceback's source lines
from a base module, ``inspect.getsource`` of a stdlib function, importlib.metadata (numpy's
version, the entry points), importlib.resources of a stdlib package, user code in the current
directory (one written after start-up too), ``python -m json.tool``, and ``-I``, ``-E``,
``-s``, ``-S``. Shadowing: a venv's own numpy (another version, pip-installed from the site
index) over the base's; an editable install; a namespace package split between the base and a
venv. A file dropped into the base's site-packages after install is imported (the index falls
back for that directory). And CPython's own test_importlib, test_import, test_site,
test_pkgutil and test_zipimport pass in the base with the index on, as with it off (the base
carries no ``test`` package: this machine's CPython's is put in its standard library and
indexed, as the builder would).
"""

from __future__ import annotations

import json
import marshal
import os
import py_compile
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import python_prefix, untar
from servers import Index
from wheels import cached, download

from accpy_builder.importindex import INDEX, write_index

from .test_acc_py import pypi_wheels

pytestmark = pytest.mark.slow

VERSION = "2023.06"
MINOR = "3.11"
OFF = "ACC_PY_NO_IMPORT_INDEX"
#: another numpy than the base's 1.24.3, for a venv of its own
OTHER_NUMPY = "1.26.4"

#: run by the Python under test (argv[1]: where to write a module after start-up); prints JSON
PROBE = r"""
import importlib, importlib.metadata, importlib.resources, inspect, json, os, sys, traceback
import json.decoder
out = {}
index = sys.modules.get("_acc_py_index")
state = getattr(index, "_index", None)
import numpy
s = numpy.__spec__
out["numpy"] = [numpy.__file__, numpy.__version__, s.origin, s.cached, s.parent,
                list(s.submodule_search_locations), s.has_location, numpy.__cached__,
                isinstance(s.loader, importlib.machinery.SourceFileLoader)]
import numpy.linalg
out["numpy.linalg"] = [numpy.linalg.__file__, numpy.linalg.__spec__.cached]
out["sys.path"] = sys.path
try:
    json.loads("{")
except ValueError:
    out["traceback"] = traceback.format_exc()
out["getsource"] = inspect.getsource(json.dumps)
out["getsourcefile"] = inspect.getsourcefile(json.decoder.JSONDecoder)
out["metadata"] = [importlib.metadata.version("numpy"), importlib.metadata.version("pip")]
dists = list(importlib.metadata.distributions())
out["entry_points"] = sorted((e.group, e.name, e.value) for d in dists for e in d.entry_points)
out["distributions"] = sorted(d.metadata["Name"] for d in dists)
res = importlib.resources.files("json")
out["resources"] = [sorted(p.name for p in res.iterdir() if p.name != "__pycache__"),
                    res.joinpath("tool.py").read_text()[:200]]
out["modules"] = {}
for name in ("accpy_ns.base_part", "accpy_ns.venv_part", "accpy_edit", "accpy_dropped",
             "usermod"):
    try:
        m = importlib.import_module(name)
    except ImportError as exc:
        out["modules"][name] = "ImportError: %s" % exc
    else:
        out["modules"][name] = [getattr(m, "__file__", None), getattr(m, "X", None),
                                list(getattr(sys.modules[name.split(".")[0]], "__path__", []))]
# not compared: whether the index is in place, and which of its directories answered
meta = {"on": state is not None,
        "answered": sorted(k for k, v in state.checked.items() if v) if state else []}
# (invalidate_caches has the index check its directories again: before it)
with open(os.path.join(sys.argv[1], "written_later.py"), "w") as fh:
    fh.write("X = 'later'\n")
importlib.invalidate_caches()
import written_later
out["written_later"] = [written_later.__file__, written_later.X]
if state is not None:
    finder = sys.path_importer_cache[os.path.dirname(numpy.__path__[0])]
    meta["numpy finder"] = type(finder).__name__
print(json.dumps({"out": out, "meta": meta}))
"""

#: a smaller probe for the interpreter's options (no numpy under -S, -I's sys.path)
FLAGS_PROBE = (
    "import sys, json; idx = sys.modules.get('_acc_py_index'); "
    "import email.message, json.decoder; "
    "print(json.dumps([sys.path, email.message.__file__, sys.flags.isolated, "
    "sys.flags.ignore_environment, sys.flags.no_user_site, sys.flags.no_site, "
    "idx is not None and idx._index is not None]))"
)


def user_env(home: Path, on: bool, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", **extra}
    if not on:
        env[OFF] = "1"
    return env


def run(
    python: Path, *args: str, on: bool, cwd: Path, stdin: str | None = None, **extra: str
) -> str:
    proc = subprocess.run(
        [str(python), *args], cwd=cwd, env=user_env(cwd.parent / "home", on, **extra),
        input=stdin, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (python, args, on, proc.stdout, proc.stderr[-3000:])
    return proc.stdout


def reindex(tree: Path) -> None:
    """Write ``tree``'s import index again, as the builder would have for what it holds now,
    and give its directories and files the archive's mtime back (as unpacking does)."""
    epoch = marshal.loads((tree / INDEX).read_bytes())[1]
    write_index(tree, MINOR, epoch)
    for dirpath, dirnames, filenames in os.walk(tree / "lib"):
        for name in [*dirnames, *filenames]:
            os.utime(Path(dirpath, name), (epoch, epoch), follow_symlinks=False)
        os.utime(dirpath, (epoch, epoch))


def install_base(base_dist: Path, top: Path) -> Path:
    """The base unpacked as acc-py-install lays it out; its 2023.06."""
    (tarball,) = base_dist.glob("*.tar.gz")
    tree = untar(tarball, top / "unpack")
    base = top / "base"
    base.mkdir()
    tree.rename(base / f"._{VERSION}.1")
    (base / VERSION).symlink_to(f"._{VERSION}.1")
    return base / VERSION


def other_numpy() -> Path:
    return cached(
        "import-index-numpy",
        OTHER_NUMPY,
        lambda dest: download(dest, "--no-deps", f"numpy=={OTHER_NUMPY}"),
    )


@pytest.fixture(scope="module")
def base(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base, with a portion of the namespace package ``accpy_ns`` in its site-packages and
    this machine's CPython's ``test`` package in its standard library (the builder leaves it
    out), as if the builder had installed them (indexed; the portion compiled as the builder
    compiles)."""
    base = install_base(base_dist, tmp_path_factory.mktemp("import-index"))
    tree = base.resolve()
    site = tree / "lib" / f"python{MINOR}" / "site-packages"
    portion = site / "accpy_ns" / "base_part.py"
    portion.parent.mkdir()
    portion.write_text("X = 'base'\n")
    py_compile.compile(
        str(portion), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    shutil.copytree(
        python_prefix(MINOR) / "lib" / f"python{MINOR}" / "test",
        tree / "lib" / f"python{MINOR}" / "test",
        ignore=shutil.ignore_patterns("__pycache__"),
        symlinks=True,
    )
    reindex(tree)
    return base


@pytest.fixture(scope="module")
def venv(base: Path, site_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An acc-py venv of the base with the other portion of ``accpy_ns`` and an editable
    install (setuptools from the site index)."""
    top = tmp_path_factory.mktemp("import-index-venv")
    for wheel in pypi_wheels():
        shutil.copy(wheel, site_index.root)
    venv = top / "venv"
    run(base / "bin" / "acc-py", "venv", str(venv), on=True, cwd=top)
    site = venv / "lib" / f"python{MINOR}" / "site-packages"
    (site / "accpy_ns").mkdir()
    (site / "accpy_ns" / "venv_part.py").write_text("X = 'venv'\n")
    project = top / "proj"
    (project / "accpy_edit").mkdir(parents=True)
    (project / "accpy_edit" / "__init__.py").write_text("X = 'editable'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n'
        '[project]\nname = "accpy_edit"\nversion = "0.1"\n'
        '[project.entry-points."accpy.test"]\nedit = "accpy_edit:X"\n'
    )
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", "-e", str(project),
        on=True, cwd=top)  # fmt: skip
    return venv


def probe(python: Path, tmp: Path, on: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    cwd = tmp / ("on" if on else "off")
    cwd.mkdir()
    (cwd / "usermod.py").write_text("X = 'user'\n")
    script = tmp / "probe.py"
    script.write_text(PROBE)
    got = json.loads(run(python, "-c", f"exec(open({str(script)!r}).read())", str(cwd),
                         on=on, cwd=cwd))  # fmt: skip
    out = json.loads(json.dumps(got["out"]).replace(str(cwd), "<cwd>"))
    return out, got["meta"]


def compare(python: Path, tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    on, meta = probe(python, tmp, on=True)
    off, meta_off = probe(python, tmp, on=False)
    assert meta["on"] and not meta_off["on"]
    assert meta["numpy finder"] == "IndexedFileFinder"
    for key in on:
        assert on[key] == off[key], key
    return on, meta


def test_the_base_imports_the_same_with_the_index(base: Path, tmp_path: Path) -> None:
    out, meta = compare(base / "bin" / "python", tmp_path)
    tree = base.resolve()
    site = f"{tree}/lib/python{MINOR}/site-packages"
    assert out["numpy"][0] == f"{site}/numpy/__init__.py"
    assert out["numpy"][3] == f"{site}/numpy/__pycache__/__init__.cpython-311.pyc"
    assert out["metadata"][0] == "1.24.3"
    assert 'File "' + f"{tree}/lib/python{MINOR}/json/decoder.py" in str(out["traceback"])
    assert "obj, end = self.scan_once(s, idx)" in str(out["traceback"])  # its source line
    assert str(out["getsource"]).startswith("def dumps(")
    assert ("console_scripts", "f2py", "numpy.f2py.f2py2e:main") in [
        tuple(e) for e in out["entry_points"]
    ]
    modules = out["modules"]
    assert modules["accpy_ns.base_part"][:2] == [f"{site}/accpy_ns/base_part.py", "base"]
    assert modules["usermod"][:2] == ["<cwd>/usermod.py", "user"]
    assert out["written_later"] == ["<cwd>/written_later.py", "later"]
    # the index answered for the base's own directories, site-packages and numpy's among them
    assert f"lib/python{MINOR}/site-packages/numpy" in meta["answered"]


def test_a_venv_imports_the_same_with_the_index(base: Path, venv: Path, tmp_path: Path) -> None:
    out, _meta = compare(venv / "bin" / "python", tmp_path)
    modules = out["modules"]
    site = f"{venv}/lib/python{MINOR}/site-packages"
    base_site = f"{base.resolve()}/lib/python{MINOR}/site-packages"
    # the namespace package, split between the base and the venv: both portions, in order
    assert modules["accpy_ns.base_part"][:2] == [f"{base_site}/accpy_ns/base_part.py", "base"]
    assert modules["accpy_ns.venv_part"] == [
        f"{site}/accpy_ns/venv_part.py",
        "venv",
        [f"{site}/accpy_ns", f"{base_site}/accpy_ns"],
    ]
    # the editable install, and its entry point
    assert modules["accpy_edit"][:2] == [f"{venv.parent}/proj/accpy_edit/__init__.py", "editable"]
    assert ["accpy.test", "edit", "accpy_edit:X"] in out["entry_points"]
    assert out["numpy"][0] == f"{base_site}/numpy/__init__.py"


def test_a_venvs_own_numpy_shadows_the_bases(base: Path, site_index: Index, tmp_path: Path) -> None:
    for wheel in other_numpy().glob("*.whl"):
        shutil.copy(wheel, site_index.root)
    venv = tmp_path / "venv"
    run(base / "bin" / "acc-py", "venv", str(venv), on=True, cwd=tmp_path)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", f"numpy=={OTHER_NUMPY}",
        on=True, cwd=tmp_path)  # fmt: skip
    out, _meta = probe(venv / "bin" / "python", tmp_path, on=True)
    off, _ = probe(venv / "bin" / "python", tmp_path, on=False)
    site = f"{venv}/lib/python{MINOR}/site-packages"
    assert out["numpy"][:2] == [f"{site}/numpy/__init__.py", OTHER_NUMPY]
    assert out["numpy.linalg"][0].startswith(f"{site}/numpy/linalg/")
    assert out["metadata"][0] == OTHER_NUMPY
    assert out == off


@pytest.mark.parametrize("flags", [["-I"], ["-E"], ["-s"], ["-S"], ["-I", "-S"], []])
def test_the_interpreters_options(base: Path, venv: Path, tmp_path: Path, flags: list[str]) -> None:
    script = tmp_path / "flags_probe.py"
    script.write_text(FLAGS_PROBE)
    for python in (base / "bin" / "python", venv / "bin" / "python"):
        on = json.loads(run(python, *flags, str(script), on=True, cwd=tmp_path))
        off = json.loads(run(python, *flags, str(script), on=False, cwd=tmp_path))
        assert on[:-1] == off[:-1]
        assert on[-1] is ("-S" not in flags) and off[-1] is False


def test_python_dash_m(base: Path, venv: Path, tmp_path: Path) -> None:
    for python in (base / "bin" / "python", venv / "bin" / "python"):
        outs = [run(python, "-m", "json.tool", on=on, cwd=tmp_path, stdin='{"a": [1, 2]}')
                for on in (True, False)]  # fmt: skip
        assert outs[0] == outs[1] == '{\n    "a": [\n        1,\n        2\n    ]\n}\n'


def test_a_file_dropped_into_the_base_is_imported(base_dist: Path, tmp_path: Path) -> None:
    base = install_base(base_dist, tmp_path)
    site = base.resolve() / "lib" / f"python{MINOR}" / "site-packages"
    (site / "accpy_dropped.py").write_text("X = 'dropped'\n")
    (site / "numpy" / "accpy_dropped_sub.py").write_text("X = 'sub'\n")
    code = (
        "import accpy_dropped, numpy.accpy_dropped_sub as s, sys; "
        "i = sys.modules['_acc_py_index']._index; "
        "print(accpy_dropped.X, s.X, s.__file__, "
        f"i.checked['lib/python{MINOR}/site-packages'], "
        f"i.checked['lib/python{MINOR}'] is not False)"
    )
    out = run(base / "bin" / "python", "-c", code, on=True, cwd=tmp_path).split()
    assert out == ["dropped", "sub", f"{site}/numpy/accpy_dropped_sub.py", "False", "True"]


#: CPython's own tests of the import system
SUITES = ("test_importlib", "test_import", "test_site", "test_pkgutil", "test_zipimport")


def _regrtest(python: Path, cwd: Path, on: bool) -> dict[str, str]:
    """``python -m test -v SUITES``: each test's outcome as unittest prints it."""
    proc = subprocess.run(
        [str(python), "-m", "test", "-v", "--timeout", "600", *SUITES],
        cwd=cwd, env=user_env(cwd / "home", on),
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    results: dict[str, str] = {}
    for (
        line
    ) in proc.stdout.splitlines():  # unittest's verbose lines: "test_x (mod.Class...) ... ok"
        m = re.match(
            r"^(test\w* \([\w.]+\)(?:\.\w+)?) \.\.\. (ok|FAIL|ERROR|skipped.*|expected failure)$",
            line,
        )
        if m:
            results[m.group(1)] = m.group(2).split()[0]
    assert results, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def test_cpythons_import_suites_pass_alike(base: Path, tmp_path: Path) -> None:
    (tmp_path / "on").mkdir()
    (tmp_path / "off").mkdir()
    on = _regrtest(base / "bin" / "python", tmp_path / "on", on=True)
    off = _regrtest(base / "bin" / "python", tmp_path / "off", on=False)
    failed = {k: v for k, v in on.items() if v in ("FAIL", "ERROR")}
    failed_off = {k: v for k, v in off.items() if v in ("FAIL", "ERROR")}
    summary = {v: sum(1 for x in on.values() if x == v) for v in set(on.values())}
    print(f"with the index: {summary}; failed: {sorted(failed)}")
    assert set(on) == set(off)
    assert failed == failed_off == {}


def test_verify_names_what_differs_from_the_index(
    base_dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """acc-py-install installs the base so that every directory matches its index; verify
    names a directory where a file was dropped in, and the file."""
    from acc_py_install.cli import main

    (tarball,) = base_dist.glob("*.tar.gz")
    root = tmp_path / "root"
    assert main(["install", str(tarball), "--root", str(root)]) == 0
    capsys.readouterr()
    assert main(["verify", "--root", str(root)]) == 0
    assert ": ok" in capsys.readouterr().out
    tree = root / "base" / f"._{VERSION}.1"
    site = tree / "lib" / f"python{MINOR}" / "site-packages"
    site.chmod(0o755)
    (site / "accpy_dropped.py").write_text("X = 1\n")
    assert main(["verify", "--root", str(root)]) != 0
    out = capsys.readouterr().out
    rel = f"lib/python{MINOR}/site-packages"
    assert "DIFFERS from its import index" in out
    assert f"  {rel}/: changed since it was indexed (its mtime is not the archive's)\n" in out
    assert f"  {rel}/accpy_dropped.py: file not in the import index\n" in out
    assert f"  extra: {rel}/accpy_dropped.py\n" in out

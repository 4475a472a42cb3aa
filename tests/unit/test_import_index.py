"""The import index (issue 20): the builder's index of a tree, and the finders of
recipes/import-index.py that answer from it, on every local Python, against CPython's own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import PROJECT, every_python, python_exe

from accpy_builder.importindex import INDEX, PACK, scan, write_index
from accpy_core import importindex

EPOCH = 1685577600  # 2023-06-01, as a base's archive has it
RECIPE = PROJECT / "recipes" / "import-index.py"

#: run by the Python under test: the finders loaded from the recipe (as the hook loads them),
#: sys.path = [mutable, immutable], some imports; their specs as JSON
PROBE = """
import importlib.util, json, sys
tree, mutable, immutable, recipe, on = sys.argv[1:6]
spec = importlib.util.spec_from_file_location("_acc_py_index", recipe)
index = importlib.util.module_from_spec(spec)
spec.loader.exec_module(index)
sys.path[:] = [mutable, immutable, *sys.path]
installed = index.install(tree) if on == "1" else False
if len(sys.argv) > 6:
    open(sys.argv[6], "w").write("DROPPED = 1\\n")
out = {"installed": installed}
for name in ("shadowed", "plain", "pkg.mod", "nspkg.part_a", "nspkg.part_b", "deep.sub",
             "dropped"):
    try:
        mod = __import__(name, fromlist=["_"])
    except ImportError as exc:
        out[name] = "ImportError: %s" % exc
        continue
    s = mod.__spec__
    out[name] = {
        "file": getattr(mod, "__file__", None), "origin": s.origin, "cached": s.cached,
        "parent": s.parent, "has_location": s.has_location,
        "loader": [c.__name__ for c in type(s.loader).__mro__ if c.__module__ != "_acc_py_index"],
        "nspath": list(sys.modules["nspkg"].__path__) if name[:5] == "nspkg" else None,
        "source": mod.__loader__.get_source(name) if hasattr(mod.__loader__, "get_source") else 0,
    }
finders = {p: type(f).__name__ for p, f in sys.path_importer_cache.items() if p in sys.path[:2]}
out["finders"] = finders
checked = index._index.checked if index._index else {}
out["answered"] = sorted(k for k, v in checked.items() if v)
out["pack"] = index._index.pack >= 0 if index._index else None
print(json.dumps(out))
"""


def make_tree(tmp: Path, minor: str) -> tuple[Path, Path, Path]:
    """A tree with an indexed site-packages (mtimes set to EPOCH, as unpacked), and a mutable
    directory beside it."""
    tree = tmp / "tree"
    site = tree / "lib" / f"python{minor}" / "site-packages"
    mutable = tmp / "mutable"
    files = {
        site / "plain.py": "X = 'plain'\n",
        site / "shadowed.py": "X = 'immutable'\n",
        site / "pkg" / "__init__.py": "",
        site / "pkg" / "mod.py": "X = 'mod'\n",
        site / "nspkg" / "part_a.py": "X = 'a'\n",
        site / "deep" / "sub" / "__init__.py": "",  # deep holds no file: a namespace package
        mutable / "shadowed.py": "X = 'mutable'\n",
        mutable / "nspkg" / "part_b.py": "X = 'b'\n",
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # the tree's sources compiled as a base's are, by the Python under test
    compile_them = (
        "import py_compile, sys\n"
        "for p in sys.argv[1:]:\n"
        "    py_compile.compile(p, doraise=True,"
        " invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
    )
    sources = [str(p) for p in files if p.is_relative_to(tree)]
    subprocess.run([str(python_exe(minor)), "-c", compile_them, *sources], check=True)
    write_index(tree, minor, EPOCH)
    for dirpath, dirnames, filenames in os.walk(tree, topdown=False):
        for name in [*filenames, *dirnames]:
            os.utime(Path(dirpath, name), (EPOCH, EPOCH))
        os.utime(dirpath, (EPOCH, EPOCH))
    return tree, mutable, site


def probe(minor: str, tree: Path, mutable: Path, site: Path, *extra: str, on: bool = True) -> dict:
    args = [str(tree), str(mutable), str(site), str(RECIPE), "1" if on else "0", *extra]
    proc = subprocess.run(
        [str(python_exe(minor)), "-S", "-B", "-c", PROBE, *args],
        capture_output=True, text=True, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict = json.loads(proc.stdout)
    return result


def test_scan_lists_names_kinds_and_sizes(tmp_path: Path) -> None:
    tree, _, site = make_tree(tmp_path, "3.11")
    dirs = scan(str(tree), "lib")
    rel = site.relative_to(tree).as_posix()
    pycs = ["plain.cpython-311.pyc", "shadowed.cpython-311.pyc"]
    sizes = [(site / "__pycache__" / n).stat().st_size for n in pycs]
    assert dirs[rel] == (["plain.py", "shadowed.py"], [12, 16], [-1, -1],
                         ["__pycache__", "deep", "nspkg", "pkg"])  # fmt: skip
    assert dirs[f"{rel}/deep"] == ([], [], [], ["sub"])
    assert dirs[f"{rel}/pkg"] == (["__init__.py", "mod.py"], [0, 10], [-1, -1], ["__pycache__"])
    assert dirs[f"{rel}/__pycache__"][:2] == (pycs, sizes)
    assert (tree / INDEX).is_file()


def test_the_pack_holds_every_pyc_behind_its_tag(tmp_path: Path) -> None:
    tree, _, _ = make_tree(tmp_path, "3.11")
    index = importindex.read(str(tree))
    assert index is not None and index.epoch == EPOCH
    pack = (tree / PACK).read_bytes()
    count = 0
    for rel, raw in index.dirs.items():
        names, sizes, offsets, _ = importindex.decode(raw)
        for name, size, offset in zip(names, sizes, offsets, strict=True):
            if name.endswith(".pyc"):
                count += 1
                assert pack[offset - 16 : offset] == b"AccPyPk\0" + offset.to_bytes(8, "little")
                assert pack[offset : offset + size] == (tree / rel / name).read_bytes()
            else:
                assert offset == -1
    assert count == 6
    assert importindex.compare(str(tree)) == []


def test_compare_names_what_differs_from_the_index(tmp_path: Path) -> None:
    tree, _, site = make_tree(tmp_path, "3.11")
    rel = site.relative_to(tree).as_posix()
    (site / "dropped.py").write_text("X = 1\n")
    pyc = site / "pkg" / "__pycache__" / "mod.cpython-311.pyc"
    data = bytearray(pyc.read_bytes())
    data[-1] ^= 1
    pyc.write_bytes(bytes(data))
    (site / "deep" / "sub" / "__init__.py").unlink()
    (site / "deep" / "sub" / "__init__.py").mkdir()
    os.utime(site / "deep" / "sub", (EPOCH, EPOCH))
    assert importindex.compare(str(tree)) == [
        f"{rel}/: changed since it was indexed (its mtime is not the archive's)",
        f"{rel}/dropped.py: file not in the import index",
        f"{rel}/deep/sub/__init__.py: file of the import index missing",
        f"{rel}/deep/sub/__init__.py: directory not in the import index",
        f"{rel}/pkg/__pycache__/mod.cpython-311.pyc: differs from its copy in the bytecode pack",
    ]


@pytest.mark.parametrize("minor", every_python())
def test_finders_answer_as_cpython_does(minor: str, tmp_path: Path) -> None:
    tree, mutable, site = make_tree(tmp_path, minor)
    on = probe(minor, tree, mutable, site)
    off = probe(minor, tree, mutable, site, on=False)
    assert on["installed"] is True
    assert on["finders"] == {str(mutable): "FileFinder", str(site): "IndexedFileFinder"}
    for name in ("shadowed", "plain", "pkg.mod", "nspkg.part_a", "nspkg.part_b", "deep.sub"):
        assert on[name] == off[name], name
    # an earlier sys.path entry shadows the index; a namespace package spans both
    assert on["shadowed"]["file"] == str(mutable / "shadowed.py")
    assert on["nspkg.part_a"]["nspath"] == [str(mutable / "nspkg"), str(site / "nspkg")]
    assert on["pkg.mod"]["loader"][0] == "SourceFileLoader"
    assert on["pkg.mod"]["source"] == "X = 'mod'\n"
    assert on["dropped"].startswith("ImportError")
    rel = site.relative_to(tree).as_posix()
    answered = [rel, f"{rel}/deep", f"{rel}/deep/sub", f"{rel}/nspkg", f"{rel}/pkg"]
    pycache = [f"{d}/__pycache__" for d in answered if d != f"{rel}/deep"]
    assert on["answered"] == sorted(answered + pycache)  # from the index
    assert on["pack"] is True  # the bytecode came from the pack


@pytest.mark.parametrize("minor", every_python())
def test_a_file_dropped_in_after_indexing_is_found(minor: str, tmp_path: Path) -> None:
    tree, mutable, site = make_tree(tmp_path, minor)
    on = probe(minor, tree, mutable, site, str(site / "dropped.py"))
    assert on["installed"] is True
    assert on["dropped"]["file"] == str(site / "dropped.py")  # the directory's mtime changed
    assert on["plain"]["file"] == str(site / "plain.py")
    assert site.relative_to(tree).as_posix() not in on["answered"]  # CPython's FileFinder


def test_the_switch_turns_it_off(tmp_path: Path) -> None:
    tree, _, _ = make_tree(tmp_path, "3.11")
    code = (
        "import importlib.util, sys; s = importlib.util.spec_from_file_location('i', sys.argv[2]);"
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m);"
        "print(m.install(sys.argv[1]))"
    )
    run = [str(python_exe("3.11")), "-S", "-B", "-c", code, str(tree), str(RECIPE)]
    env = {"PATH": "/usr/bin:/bin"}
    assert (
        subprocess.run(run, capture_output=True, text=True, env=env, check=False).stdout == "True\n"
    )
    env["ACC_PY_NO_IMPORT_INDEX"] = "1"
    assert (
        subprocess.run(run, capture_output=True, text=True, env=env, check=False).stdout
        == "False\n"
    )

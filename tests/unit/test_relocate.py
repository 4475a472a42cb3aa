"""Relocation of text and scripts: sysconfigdata, .pc, Makefile, shebangs, wheel RECORDs."""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accpy_builder.relocate import fix_shebangs, placeholder, scrub_prefix, strip_rpath_flags

OLD = "/opt/build/python-3.11"


def make_tree(root: Path) -> Path:
    stdlib = root / "lib" / "python3.11"
    (stdlib / "config-3.11-x86_64-linux-gnu").mkdir(parents=True)
    (stdlib / "site-packages").mkdir()
    (root / "lib" / "pkgconfig").mkdir()
    (root / "bin").mkdir()
    (stdlib / "_sysconfigdata__linux_x86_64-linux-gnu.py").write_text(
        "# system configuration generated and used by the sysconfig module\n"
        "build_time_vars = {'prefix': '" + OLD + "',\n"
        " 'LIBDIR': '" + OLD + "/lib',\n"
        " 'LDFLAGS': '-L" + OLD + "/lib -Wl,-rpath," + OLD + "/lib',\n"
        " 'INSTALL': '/usr/bin/install -c',\n"
        " 'CONFIG_ARGS': \"'LDFLAGS=-Wl,-rpath," + OLD + "/lib'\",\n"
        " 'WASM': '." + OLD + "',\n"
        " 'SIZEOF_INT': 4}\n"
    )
    (root / "lib" / "pkgconfig" / "python-3.11.pc").write_text(
        f"prefix={OLD}\nlibdir={OLD}/lib\nincludedir=${{prefix}}/include\n"
        f"Libs.private: -ldl -L{OLD}/lib -Wl,-rpath,{OLD}/lib\n"
    )
    (stdlib / "config-3.11-x86_64-linux-gnu" / "Makefile").write_text(
        f"prefix=\t\t{OLD}\nLIBDIR=\t\t{OLD}/lib\nINSTALL=\t/usr/bin/install -c\n"
        f"LDSHARED=\t$(CC) -shared -Wl,-rpath,{OLD}/lib\nall:\n\t$(CC) -Wl,-rpath,/x -o x\n"
    )
    (root / "bin" / "python3.11-config").write_text(
        f'#!/bin/sh\nprefix_real=$(installed_prefix "$0")\nprefix="{OLD}"\n'
        f'LIBS=" -ldl -L{OLD}/lib -Wl,-rpath,{OLD}/lib $SYSLIBS"\n'
    )
    return root


def test_placeholder_has_the_same_length_and_keeps_the_last_component() -> None:
    old = "/root/.pyenv/versions/3.11.7"
    new = placeholder(old)
    assert len(new) == len(old) and new.endswith("/3.11.7") and new != old
    assert placeholder("/install") == "/install"  # too short to hide; PBS's own prefix


def test_sysconfigdata_computes_its_prefix(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "a")
    scrub_prefix(tree, OLD, binaries=False)
    moved = tmp_path / "somewhere" / "else"
    moved.parent.mkdir()
    tree.rename(moved)
    path = moved / "lib/python3.11/_sysconfigdata__linux_x86_64-linux-gnu.py"
    assert OLD not in path.read_text()
    spec = importlib.util.spec_from_file_location("sysconfigdata_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    got = module.build_time_vars
    assert got["prefix"] == str(moved)
    assert got["LIBDIR"] == f"{moved}/lib"
    # no run path: what it hands to compilers must not tie extensions to the base (issue 18)
    assert got["LDFLAGS"] == f"-L{moved}/lib"
    assert got["CONFIG_ARGS"] == f"'LDFLAGS=-Wl,-rpath,{moved}/lib'"  # a record: not stripped
    assert got["INSTALL"] == "/usr/bin/install -c"
    assert got["WASM"] == f".{moved}"
    assert got["SIZEOF_INT"] == 4


def test_run_paths_are_stripped_from_flags() -> None:
    assert (
        strip_rpath_flags("gcc -shared -L/p/lib -Wl,-rpath,/p/lib -lm")
        == "gcc -shared -L/p/lib -lm"
    )
    assert (
        strip_rpath_flags("-Wl,-O1,-rpath=/a,--as-needed -Wl,-R,/b -lm")
        == "-Wl,-O1,--as-needed -lm"
    )
    assert strip_rpath_flags("-Wl,--rpath,/a -Wl,-R/b") == ""
    assert strip_rpath_flags("\t$(CC) -Wl,-rpath,/x -o x") == "\t$(CC) -o x"  # a recipe's tab
    assert strip_rpath_flags("-Wl,-rpath-link,/l -L/l") == "-Wl,-rpath-link,/l -L/l"  # link time
    assert strip_rpath_flags("-Wl,--enable-new-dtags") == "-Wl,--enable-new-dtags"


def test_short_prefix_is_not_matched_inside_other_paths(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    sysconfigdata = tree / "lib/python3.11/_sysconfigdata__linux_x86_64-linux-gnu.py"
    sysconfigdata.write_text(
        "build_time_vars = {'prefix': '/install', 'INSTALL': '/usr/bin/install -c',"
        " 'LIBPL': '/install/lib/python3.11/config'}\n"
    )
    scrub_prefix(tree, "/install", binaries=False)
    text = sysconfigdata.read_text()
    assert "'/usr/bin/install -c'" in text and "'/install" not in text


def test_pc_and_makefile(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    scrub_prefix(tree, OLD, binaries=False)
    pc = (tree / "lib/pkgconfig/python-3.11.pc").read_text()
    assert pc.splitlines()[0] == "prefix=${pcfiledir}/../.."
    assert OLD not in pc and "libdir=${prefix}/lib" in pc
    makefile = (tree / "lib/python3.11/config-3.11-x86_64-linux-gnu/Makefile").read_text()
    assert OLD not in makefile and "LIBDIR=\t\t$(prefix)/lib" in makefile
    assert "rpath" not in makefile and "\n\t$(CC) -o x\n" in makefile
    assert "rpath" not in pc and "Libs.private: -ldl -L${prefix}/lib\n" in pc
    config_script = (tree / "bin/python3.11-config").read_text()
    assert config_script.endswith(f'prefix="{OLD}"\nLIBS=" -ldl -L${{prefix_real}}/lib $SYSLIBS"\n')
    user = tmp_path / "user.mk"  # another Makefile that includes it, run from elsewhere
    config = tree / "lib/python3.11/config-3.11-x86_64-linux-gnu"
    user.write_text(f"include {config}/Makefile\nshow:\n\t@echo $(LIBDIR)\n")
    out = subprocess.run(
        ["make", "-s", "-f", str(user), "show"], capture_output=True, text=True, check=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert os.path.normpath(out.stdout.strip()) == f"{tree}/lib"


def test_binary_strings_are_replaced_in_place(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    blob = b"\x7fELF\x00" + OLD.encode() + b"/lib\x00version\x00"
    (tree / "lib" / "libfake.so").write_bytes(blob)
    scrub_prefix(tree, OLD, binaries=True)
    data = (tree / "lib" / "libfake.so").read_bytes()
    assert len(data) == len(blob) and OLD.encode() not in data
    assert data.endswith(b"/python-3.11/lib\x00version\x00")


#: what pip (distlib's ScriptMaker) and uv write for an interpreter path of over 127 bytes
LONG_PATH_FORM = "#!/bin/sh\n'''exec' '{python}' \"$0\" \"$@\"\n' '''\n"


@pytest.mark.parametrize(
    "form",
    ["#!{python}\n", LONG_PATH_FORM, LONG_PATH_FORM.replace("'{python}'", "{python}")],
    ids=["shebang", "long-path", "long-path-unquoted"],
)
def test_shebangs_become_a_relocatable_trampoline(tmp_path: Path, form: str) -> None:
    tree = tmp_path / "base"
    site = tree / "lib/python3.11/site-packages"
    (site / "demo-1.0.dist-info").mkdir(parents=True)
    (tree / "bin").mkdir()
    (tree / "bin" / "python3.11").symlink_to(sys.executable)
    script = tree / "bin" / "demo"
    python = f"{tmp_path}/build/bin/python3.11"
    script.write_text(form.format(python=python) + "import sys\nprint('demo', sys.argv[1:])\n")
    script.chmod(0o755)
    record = site / "demo-1.0.dist-info" / "RECORD"
    record.write_text("../../../bin/demo,sha256=stale,12\ndemo.py,,\n")
    assert [p.name for p in fix_shebangs(tree)] == ["demo"]
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and str(tmp_path) not in text
    moved = tmp_path / "moved"
    tree.rename(moved)
    out = subprocess.run(
        [moved / "bin" / "demo", "a b"], capture_output=True, text=True, check=True
    )
    assert out.stdout == "demo ['a b']\n"
    rows = list(
        csv.reader((moved / "lib/python3.11/site-packages/demo-1.0.dist-info/RECORD").open())
    )
    digest = hashlib.sha256((moved / "bin" / "demo").read_bytes()).digest()
    expected = "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert rows[0] == ["../../../bin/demo", expected, str(len(text.encode()))]
    assert rows[1] == ["demo.py", "", ""]

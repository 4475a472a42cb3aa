"""inject(): the payload table placed in a tree, templates rendered, modes, symlinks, refusals."""

from __future__ import annotations

import base64
import configparser
import datetime as dt
import hashlib
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import python_prefix

from accpy_builder import native, relocate
from accpy_builder.elf import read_elf
from accpy_builder.inject import (
    INTERACTIVE_PAYLOAD,
    PAYLOAD,
    Copy,
    Generated,
    InjectError,
    Item,
    Package,
    Program,
    Symlink,
    Template,
    check_payload,
    inject,
    render,
    template_values,
)
from accpy_builder.resources import recipe_names
from accpy_core.errors import AccPyError
from accpy_manifest import BaseSpec, PbsAsset, Site

BASE = BaseSpec(
    version="2023.06",
    patch=2,
    python="3.11.4",
    interpreter=PbsAsset("20230726", "cpython.tar.gz", "0" * 64),
    packages=(),
    status="deprecated",
    end_of_life=dt.date(2025, 6, 30),
)
SITE = Site(
    index_url="https://pypi.example.org/simple/",
    usage_collector="10.0.0.1:5000",
    install_root="/acc",
)
VALUES = template_values(BASE, SITE)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    t = tmp_path / "tree"
    (t / "bin").mkdir(parents=True)
    (t / "bin" / "python3.11").write_text("#!/bin/sh\n")
    (t / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    return t


def place(tree: Path, payload: Sequence[Item], files: dict[str, str]) -> list[Path]:
    """inject ``payload`` with recipes read from ``files`` (name -> text)."""

    def read(name: str) -> bytes:
        return files[name].encode()

    return inject(tree, VALUES, "3.11", payload=payload, read_recipe=read)


def test_render_every_token() -> None:
    values = VALUES
    text = "".join(f"{k}=@{k}@\n" for k in values)
    out = render(text, values, "x.in")
    assert "VERSION=2023.06\n" in out
    assert "PATCH=2\n" in out
    assert "PYTHON_VERSION=3.11\n" in out
    assert "PYTHON_FULL_VERSION=3.11.4\n" in out
    assert "STATUS=deprecated\n" in out
    assert "END_OF_LIFE=2025-06-30\n" in out
    assert "INDEX_URL=https://pypi.example.org/simple/\n" in out
    assert "USAGE_COLLECTOR=10.0.0.1:5000\n" in out
    assert "PLATFORM=manylinux_2_28_x86_64\n" in out
    assert template_values(BASE, SITE, "linux_x86_64")["PLATFORM"] == "linux_x86_64"


def test_end_of_life_empty_when_none() -> None:
    base = BaseSpec("2024.12", 1, "3.12.1", BASE.interpreter, ())
    assert template_values(base, SITE)["END_OF_LIFE"] == ""


def test_ordinary_at_signs_are_left_alone() -> None:
    text = 'mail acc-py@cern.ch; "$@"; @lower@; a@b@c; @VERSION@\n'
    assert render(text, template_values(BASE, SITE), "x") == (
        'mail acc-py@cern.ch; "$@"; @lower@; a@b@c; 2023.06\n'
    )


def test_unknown_token_names_file_and_line(tree: Path) -> None:
    with pytest.raises(InjectError) as err:
        place(tree, [Template("motd", "motd.in")], {"motd.in": "line one\nversion @VERSON@\n"})
    msg = str(err.value)
    assert "motd.in:2:" in msg
    assert "@VERSON@" in msg
    assert "did you mean @VERSION@" in msg
    assert isinstance(err.value, AccPyError)


def test_copied_verbatim_and_modes(tree: Path) -> None:
    payload = [
        Copy("share/doc/raw.txt", "raw.txt"),
        Copy("bin/acc-py", "acc-py", mode=0o755),
        Template("setup.sh", "setup.sh.in"),
    ]
    files = {
        "raw.txt": "keep @VERSION@ as is\n",
        "acc-py": "#!x\n",
        "setup.sh.in": "echo @VERSION@\n",
    }
    written = place(tree, payload, files)
    assert set(written) == {Path("share/doc/raw.txt"), Path("bin/acc-py"), Path("setup.sh")}
    assert (tree / "share/doc/raw.txt").read_text() == "keep @VERSION@ as is\n"
    assert mode(tree / "share/doc/raw.txt") == 0o644
    assert mode(tree / "bin/acc-py") == 0o755
    assert mode(tree / "share") == 0o755
    assert mode(tree / "share/doc") == 0o755
    assert (tree / "setup.sh").read_text() == "echo 2023.06\n"
    assert mode(tree / "setup.sh") == 0o644


def test_stdlib_and_purelib_destinations(tree: Path) -> None:
    payload = [Template("{stdlib}/X", "X.in"), Copy("{purelib}/hook.pth", "hook.pth")]
    written = place(tree, payload, {"X.in": "@PYTHON_VERSION@", "hook.pth": "import x"})
    assert Path("lib/python3.11/X") in written
    assert (tree / "lib/python3.11/X").read_text() == "3.11"
    assert (tree / "lib/python3.11/site-packages/hook.pth").read_text() == "import x"


def test_destinations_stay_in_the_tree(tree: Path) -> None:
    with pytest.raises(InjectError, match="leaves the tree"):
        place(tree, [Copy("../x", "x")], {"x": ""})
    with pytest.raises(InjectError, match="unknown placeholder 'platlib'"):
        place(tree, [Copy("{platlib}/x", "x")], {"x": ""})


def test_symlinks(tree: Path) -> None:
    payload = [
        Template("pip.conf", "pip.conf.in"),
        Symlink("etc/xdg/pip/pip.conf", "../../../pip.conf"),
    ]
    place(tree, payload, {"pip.conf.in": "[global]\nindex-url = @INDEX_URL@\n"})
    link = tree / "etc/xdg/pip/pip.conf"
    assert link.is_symlink()
    assert os.readlink(link) == "../../../pip.conf"
    assert link.read_text() == "[global]\nindex-url = https://pypi.example.org/simple/\n"


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside"])
def test_unsafe_symlinks_refused(tree: Path, target: str) -> None:
    with pytest.raises(InjectError, match=r"symlink|outside"):
        place(tree, [Symlink("etc/link", target)], {})


def test_refuses_to_overwrite_the_interpreter(tree: Path) -> None:
    with pytest.raises(InjectError, match=r"would overwrite bin/python3\.11"):
        place(tree, [Copy("bin/python3.11", "evil")], {"evil": "evil"})
    assert (tree / "bin/python3.11").read_text() == "#!/bin/sh\n"


def test_two_entries_for_one_destination(tree: Path) -> None:
    payload = [Copy("a.conf", "a.conf"), Template("a.conf", "a.conf.in")]
    with pytest.raises(InjectError, match=r"two entries of the payload write a\.conf"):
        place(tree, payload, {"a.conf": "", "a.conf.in": ""})


def test_every_recipe_is_in_the_table_and_every_entry_exists() -> None:
    # the real tables (a base's and an interactive release's) and the recipes agree
    check_payload(PAYLOAD + INTERACTIVE_PAYLOAD, recipe_names())
    with pytest.raises(InjectError, match=r"in no entry of inject\.PAYLOAD"):
        check_payload(PAYLOAD, recipe_names())  # the interactive recipes are the other table's
    with pytest.raises(InjectError, match=r"in no entry of inject\.PAYLOAD"):
        check_payload(PAYLOAD + INTERACTIVE_PAYLOAD, [*recipe_names(), "forgotten.conf"])
    with pytest.raises(InjectError, match=r"do not exist: gone\.in"):
        check_payload([*PAYLOAD, *INTERACTIVE_PAYLOAD, Template("x", "gone.in")], recipe_names())


def test_packages_are_copied_as_sources(tree: Path) -> None:
    written = place(tree, [Package("{purelib}/accpy_core", "accpy_core")], {})
    core = tree / "lib/python3.11/site-packages/accpy_core"
    assert Path("lib/python3.11/site-packages/accpy_core/errors.py") in written
    assert (core / "__init__.py").is_file() and not (core / "__pycache__").exists()
    assert all(p.suffix == ".py" for p in core.rglob("*") if p.is_file())


HELLO = """#include <stdio.h>
int main(void) { puts("hello from @VERSION@"); return 0; }
"""


def test_program_is_static_and_reproducible(tmp_path: Path) -> None:
    """A C recipe is rendered, compiled static (no NEEDED, no symbol version) and byte for byte
    the same from another build directory."""
    built = []
    for where in ("one", "two/deeper"):
        t = tmp_path / where / "tree"
        (t / "bin").mkdir(parents=True)
        place(t, [Program("bin/hello", "hello.c.in")], {"hello.c.in": HELLO})
        built.append(t / "bin" / "hello")
    assert built[0].read_bytes() == built[1].read_bytes()
    assert mode(built[0]) == 0o755
    info = read_elf(built[0])
    assert info is None or (info.needed, info.version_needs) == ((), ())
    out = subprocess.run([built[0]], capture_output=True, text=True, env={}, check=True)
    assert out.stdout == "hello from 2023.06\n"
    assert not list(tmp_path.rglob(".cc-*"))  # the scratch directory is gone
    for b in built:
        assert str(tmp_path).encode() not in b.read_bytes()


def test_carried_interpreter_has_a_runpath_slot(tmp_path: Path) -> None:
    """The interpreter a launcher carries: its RUNPATH with $ORIGIN becomes one slot of
    RUNPATH_SLOT bytes, which carried.h locates; whatever the launcher writes there is the
    RUNPATH the loader reads. Without $ORIGIN: the file as it is, no slot."""
    python = tmp_path / "python3.11"
    shutil.copyfile(python_prefix("3.11") / "bin" / "python3.11", python)
    data, header = native.carried_interpreter(python, tmp_path)
    assert data == python.read_bytes()  # pyenv's RUNPATH is absolute: nothing to fill
    assert '#define CARRIED_RUNPATH ""\n' in header and "#define CARRIED_SLOT -1L" in header
    subprocess.run([relocate.patchelf(), "--set-rpath", "$ORIGIN/../lib", python], check=True)
    data, header = native.carried_interpreter(python, tmp_path)
    assert '#define CARRIED_RUNPATH "$ORIGIN/../lib"\n' in header
    assert f"#define CARRIED_SLOT_SIZE {native.RUNPATH_SLOT}\n" in header
    (slot,) = re.findall(r"#define CARRIED_SLOT (\d+)L", header)
    at, size = int(slot), native.RUNPATH_SLOT
    assert data[at + size - 1] == 0 and data[at : at + size - 1].startswith(b"/.acc-py-runpath")
    filled = tmp_path / "filled"
    filled.write_bytes(data[:at] + b"/copy/bin/../lib\0" + data[at + 17 :])
    info = read_elf(filled)
    assert info is not None and info.runpath == ("/copy/bin/../lib",)
    assert python.read_bytes() != data and not list(tmp_path.glob(".carried-*"))


def test_program_carries_only_what_it_moves(tree: Path) -> None:
    with pytest.raises(InjectError, match=r"hello\.c\.in carries the file it moves: give moves"):
        place(tree, [Program("bin/hello", "hello.c.in", carries=True)], {"hello.c.in": HELLO})


def test_program_that_warns_is_refused(tree: Path) -> None:
    with pytest.raises(InjectError, match=r"(?s)hello\.c does not compile.*unused variable"):
        place(tree, [Program("bin/hello", "hello.c.in")], {"hello.c.in": "int main(void) "
              "{ int unused; return 0; }\n"})  # fmt: skip


@pytest.mark.parametrize(
    ("cc", "message"),
    [
        (None, r"no C compiler \(cc or gcc\) on PATH; install .*apt-get install gcc libc6-dev"),
        ("echo '/usr/bin/ld: cannot find -lc: No such file or directory' >&2; exit 1",
         r"no static C library \(libc\.a\);.*dnf install gcc glibc-static"),
    ],
)  # fmt: skip
def test_program_without_compiler_or_static_libc(
    cc: str | None, message: str, tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line that names the fix."""
    bindir = tmp_path / "fake-bin"
    bindir.mkdir()
    if cc is not None:
        (bindir / "cc").write_text(f"#!/bin/sh\n{cc}\n")
        (bindir / "cc").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(InjectError, match=message) as err:
        place(tree, [Program("bin/hello", "hello.c.in")], {"hello.c.in": HELLO})
    assert "\n" not in str(err.value)


# ---- the real payload ----------------------------------------------------------------------------


@pytest.fixture
def real_tree(tmp_path: Path) -> Path:
    """A tree whose bin/python3.11 runs: a venv of the local CPython 3.11 (its site-packages is
    the tree's), with that CPython's venv templates, for the entries the tree's Python writes."""
    prefix = python_prefix("3.11")
    t = tmp_path / "tree"
    (t / "bin").mkdir(parents=True)
    # a copy (a shared build: it runs from anywhere), which the launcher moves to .python3.11
    shutil.copyfile(prefix / "bin" / "python3.11", t / "bin" / "python3.11")
    (t / "bin" / "python3.11").chmod(0o755)
    (t / "pyvenv.cfg").write_text(f"home = {prefix / 'bin'}\n")
    (t / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    (t / "lib" / "python3.11" / "venv").symlink_to(prefix / "lib" / "python3.11" / "venv")
    shutil.copyfile(prefix / "lib" / "python3.11" / "ssl.py", t / "lib" / "python3.11" / "ssl.py")
    # pip's vendored certifi, which inject appends to, and pip's RECORD, which must follow
    site = prefix / "lib" / "python3.11" / "site-packages"
    (pip_record,) = site.glob("pip-*.dist-info/RECORD")
    ours = t / "lib" / "python3.11" / "site-packages"
    shutil.copytree(site / "pip" / "_vendor" / "certifi", ours / "pip" / "_vendor" / "certifi")
    (ours / pip_record.parent.name).mkdir()
    shutil.copyfile(pip_record, ours / pip_record.parent.name / "RECORD")
    return t


def test_real_payload(real_tree: Path) -> None:
    tree = real_tree
    written = inject(tree, VALUES, "3.11")
    for rel in (
        "pip.conf",
        "etc/xdg/pip/pip.conf",
        "lib/python3.11/EXTERNALLY-MANAGED",
        "lib/python3.11/sitecustomize.py",
        "lib/python3.11/site-packages/acc_py/cli.py",
        "lib/python3.11/site-packages/acc_py_install/install.py",
        "lib/python3.11/site-packages/accpy_core/lock.py",
        "bin/acc-py",
        "share/acc-py/entry/acc-py.py",
        "share/acc-py/venv.skeleton",
        "setup.sh",
        "setup.csh",
        "lib/python3.11/ssl.py",  # the host's CA store appended (no tkinter here: skipped)
    ):
        assert Path(rel) in written
    assert (
        (tree / "lib/python3.11/ssl.py")
        .read_text()
        .endswith("SSLContext.set_default_verify_paths = _acc_py_set_default_verify_paths\n")
    )
    assert not (tree / "lib/python3.11/tkinter").exists()
    # pip trusts what ssl trusts, and its RECORD says so
    site = tree / "lib/python3.11/site-packages"
    core = site / "pip/_vendor/certifi/core.py"
    assert Path("lib/python3.11/site-packages/pip/_vendor/certifi/core.py") in written
    assert core.read_text().endswith("return found or _acc_py_certifi_where()\n")
    (record,) = site.glob("pip-*.dist-info/RECORD")
    digest = base64.urlsafe_b64encode(hashlib.sha256(core.read_bytes()).digest()).rstrip(b"=")
    row = f"pip/_vendor/certifi/core.py,sha256={digest.decode()},{core.stat().st_size}"
    assert row in record.read_text().splitlines()
    # no site CA declared: the file says so, and ssl loads none
    assert "BEGIN CERTIFICATE" not in (tree / "etc/ssl/acc-py-site-ca.pem").read_text()
    assert '_ACC_PY_SITE_CA = ""' in (tree / "lib/python3.11/ssl.py").read_text()
    # bin/acc-py: the static program; the skeleton it instantiates, made by the tree's Python
    assert (tree / "bin/acc-py").read_bytes().startswith(b"\x7fELF")
    # bin/python3.11: the launcher, which carries the interpreter (moved to .python3.11)
    launcher, interpreter = (tree / "bin/python3.11").read_bytes(), tree / "bin/.python3.11"
    assert launcher.startswith(b"\x7fELF") and interpreter.read_bytes() in launcher
    skeleton = (tree / "share/acc-py/venv.skeleton").read_bytes()
    assert skeleton.startswith(b"acc-py venv skeleton 1\n")
    assert b"Created @ACC_PY_VENV_DIR@ on Acc-Py base 2023.06 (Python 3.11." in skeleton
    assert f"index-url = {SITE.index_url}".encode() in skeleton
    assert str(tree).encode() not in skeleton
    assert mode(tree / "share/acc-py/venv.skeleton") == 0o644
    conf = configparser.ConfigParser()
    conf.read(tree / "etc/xdg/pip/pip.conf")
    # no extra index, no trusted-host; an empty cert: a host's /etc/pip.conf cannot choose
    # another bundle than the base's trust
    assert dict(conf["global"]) == {"index-url": SITE.index_url, "cert": ""}
    assert os.readlink(tree / "etc/xdg/pip/pip.conf") == "../../../pip.conf"
    marker = configparser.ConfigParser(interpolation=None)
    marker.read(tree / "lib/python3.11/EXTERNALLY-MANAGED")
    error = marker["externally-managed"]["Error"]
    assert "Acc-Py base 2023.06" in error
    assert "acc-py venv ./venv" in error
    assert "python -m venv --system-site-packages ./venv" in error
    assert "python -m pip install" in error
    for rel in ("setup.sh", "setup.csh"):
        text = (tree / rel).read_text()
        assert "@VERSION@" not in text
        assert "=>  Acc-Py base 2023.06 is now active within this shell." in text
        assert mode(tree / rel) == 0o644
    assert mode(tree / "bin/acc-py") == 0o755
    assert written == sorted(written)


def test_generated_file_that_is_not_written(real_tree: Path) -> None:
    with pytest.raises(InjectError, match=r"json\.tool did not write out\.txt"):
        place(real_tree, [Generated("out.txt", "json.tool", ("--help",))], {})
    with pytest.raises(InjectError, match=r"(?s)no_such_module .*No module named no_such_module"):
        place(real_tree, [Generated("out.txt", "no_such_module")], {})

"""What tools do with ``sys.executable`` of a base (bin/pythonX.Y, the launcher), in a moved base.

Tools copy or link ``sys.executable`` (virtualenv --copies, freezers, Bazel's rules_python,
CPython's own test_venv and test_site), and put ``._pth`` files beside it. Each must behave as
in stock CPython:

- CPython's own test_venv, test_site, test_getpath and test_sysconfig pass, run from a real
  base (2023.06 with CPython 3.11, 2024.12 with 3.13) unpacked and moved to another directory,
  with the matching ``Lib/test`` of the adopted interpreter put in its standard library (the
  builder leaves tests out). Nothing is excluded: they all pass on the stock interpreters too.
- A copy of bin/pythonX.Y out of its tree runs as a copy of the interpreter itself
  (bin/.pythonX.Y, what bin/pythonX.Y was before the launcher) runs in the same place, in every
  way that getpath and the loader see: alone, with LD_LIBRARY_PATH, PYTHONHOME, a standard
  library and libpython beside it (the RUNPATH's ``$ORIGIN`` is the copy's), a ``._pth``; and
  as a copy of the stock pyenv interpreter runs where both find their paths from the copy.
- A ``._pth`` beside the interpreter (under each of its names) or beside a symlink to it is
  read as stock CPython reads it; ``virtualenv --copies`` (the real one) makes a working venv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import python_prefix, untar
from wheels import cached, download

#: (base version, its Python, the fixture of its dist/)
BASES = {
    "2023.06": ("3.11", "base_dist"),
    "2024.12": ("3.13", "base_dist_2412"),
}
PROBE = (
    "import sys; print(sys.executable, sys.prefix, sys.base_prefix, sys.path, "
    "sys.flags.isolated, sys.flags.no_site)"
)
#: CPython's own suites about finding its paths, run from the moved base
SUITES = ("test_venv", "test_site", "test_getpath", "test_sysconfig")
#: tests of those that failed in a moved base with the launcher, each must run and pass
MUST_PASS = (
    "test_zippath_from_non_installed_posix",
    "test_underpth_basic",
    "test_underpth_file",
    "test_underpth_nosite_file",
)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", **extra}


@pytest.fixture(scope="module", params=sorted(BASES))
def moved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base, unpacked, then moved elsewhere (as a relocatable base may be): its tree."""
    _, fixture = BASES[request.param]
    dist: Path = request.getfixturevalue(fixture)
    top = tmp_path_factory.mktemp(f"moved-{request.param}")
    (tarball,) = dist.glob("*.tar.gz")
    tree = untar(tarball, top / "unpacked")
    (top / "elsewhere").mkdir()
    return tree.rename(top / "elsewhere" / request.param)


def minor_of(tree: Path) -> str:
    return BASES[tree.name][0]


def run(
    argv: list[str | Path], env: dict[str, str], cwd: Path | None = None
) -> tuple[int, str, str]:
    proc = subprocess.run(
        [str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    # a fatal error names the thread by its address, which differs at every run
    return proc.returncode, proc.stdout, re.sub(r"thread 0x[0-9a-f]+", "thread 0x", proc.stderr)


# ---- CPython's own tests --------------------------------------------------------------------


def test_cpython_path_suites_pass_in_a_moved_base(moved: Path, tmp_path: Path) -> None:
    minor = minor_of(moved)
    prefix = python_prefix(minor)
    python = moved / "bin" / f"python{minor}"
    env = user_env(tmp_path / "home", TMPDIR=str(tmp_path))
    version = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()  # fmt: skip
    assert prefix.name == version, f"{prefix}: not the Python {version} the base adopted"
    stdlib = moved / "lib" / f"python{minor}"
    shutil.copytree(prefix / "lib" / f"python{minor}" / "test", stdlib / "test", symlinks=True)
    try:
        code, out, err = run([python, "-m", "test", "-u", "cpu", "-v", *SUITES], env, tmp_path)
        failed = failures(out)
        allowed = set() if system_libpython(minor) else set(RELOCATABLE_ONLY)
        assert failed <= allowed and (code == 0) == (not failed), (out + err)[-6000:]
        for test in MUST_PASS:
            assert test in failed or passed(out, test), f"{test} did not run:\n{out[-4000:]}"
        for test in sorted(failed):  # as in the base before the launcher
            argv = [python, "-m", "test", "-v", "test_venv", "-m", test]
            with stock_layout(moved):
                _, stock, _ = run(argv, env, tmp_path)
            assert failures(stock) == {test} and errors(stock) == errors(out), stock[-4000:]
    finally:
        shutil.rmtree(stdlib / "test")


#: What fails on any relocatable CPython with a shared libpython (RUNPATH $ORIGIN/../lib, as
#: python-build-standalone's and these bases' interpreters are) where the system's loader knows
#: no libpythonX.Y.so.1.0 (as for 3.13 here), and why. Each is checked to fail the same way in
#: the base as it was before the launcher (bin/pythonX.Y the interpreter itself). The stock
#: pyenv interpreter passes them through its absolute RUNPATH, into its own prefix.
RELOCATABLE_ONLY = {
    "test_zippath_from_non_installed_posix": (
        "copies sys.executable alone into a directory with a copy of the standard library and "
        "no libpython, then runs a venv made from that copy without LD_LIBRARY_PATH: a copy of "
        "the interpreter finds libpythonX.Y.so.1.0 there only where the system has one"
    ),
}


def failures(out: str) -> set[str]:
    """The tests that unittest -v reported as failed or in error."""
    found = re.findall(r"^(?:FAIL|ERROR): (\w+) \(", out, re.MULTILINE)
    return set(found)


def errors(out: str) -> list[str]:
    """The CalledProcessError lines of the failures, temporary directories masked."""
    lines = [line for line in out.splitlines() if "CalledProcessError: Command" in line]
    return [re.sub(r"/tmp\w{8}", "/tmpX", line) for line in lines]


def system_libpython(minor: str) -> bool:
    """Does the system's loader (its cache) know a libpython{minor}.so.1.0?"""
    ldconfig = shutil.which("ldconfig", path="/sbin:/usr/sbin:/bin:/usr/bin")
    assert ldconfig, "no ldconfig on this machine"
    listed = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True)
    return f"libpython{minor}.so.1.0 " in listed.stdout


def passed(out: str, test: str) -> bool:
    """Did unittest -v report ``test`` ok? (A test with a docstring takes two lines: its name,
    then the docstring's first line with ``... ok``.)"""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{test} ("):
            return line.endswith(" ... ok") or (
                i + 1 < len(lines) and lines[i + 1].endswith(" ... ok")
            )
    return False


# ---- a copy of bin/pythonX.Y ----------------------------------------------------------------


def surroundings(kind: str, tree: Path, where: Path, home: Path) -> dict[str, str]:
    """Make ``where`` (a directory with bin/) as ``kind`` says; the environment to run in."""
    minor = minor_of(tree)
    env = user_env(home)
    if kind in ("LD_LIBRARY_PATH", "PYTHONHOME", "._pth"):
        env["LD_LIBRARY_PATH"] = str(tree / "lib")
    if kind == "PYTHONHOME":
        env["PYTHONHOME"] = str(tree)
    if kind == "stdlib and libpython beside":  # libpython found through RUNPATH $ORIGIN/../lib
        (where / "lib").mkdir()
        shutil.copy2(tree / "lib" / f"libpython{minor}.so.1.0", where / "lib")
        (where / "lib" / f"python{minor}").symlink_to(tree / "lib" / f"python{minor}")
    if kind == "._pth":
        stdlib = tree / "lib" / f"python{minor}"
        lines = [str(stdlib), str(stdlib / "lib-dynload"), "extra", "# a comment"]
        (where / "bin" / f"python{minor}._pth").write_text("\n".join(lines) + "\n")
    return env


KINDS = ("alone", "LD_LIBRARY_PATH", "PYTHONHOME", "stdlib and libpython beside", "._pth")


@pytest.mark.parametrize("kind", KINDS)
def test_a_copy_runs_as_a_copy_of_the_interpreter(moved: Path, tmp_path: Path, kind: str) -> None:
    minor = minor_of(moved)
    where = tmp_path / "copy"
    (where / "bin").mkdir(parents=True)
    env = surroundings(kind, moved, where, tmp_path / "home")
    copy = where / "bin" / f"python{minor}"
    outcomes = {}
    for what in (f"python{minor}", f".python{minor}"):  # the launcher, the interpreter
        shutil.copy2(moved / "bin" / what, copy)
        outcomes[what] = run([copy, "-c", PROBE], env=env, cwd=tmp_path)
    launcher, interpreter = outcomes.values()
    assert launcher == interpreter, kind
    code, out, err = launcher
    stdlib = moved / "lib" / f"python{minor}"
    if kind == "PYTHONHOME":
        assert code == 0 and out.split()[:3] == [str(copy), str(moved), str(moved)], err
    elif kind == "stdlib and libpython beside":
        assert code == 0 and out.split()[:3] == [str(copy), str(where), str(where)], err
        # and as a copy of the stock (pyenv) interpreter runs there: its own libpython, the
        # same paths found from the copy
        shutil.copy2(python_prefix(minor) / "bin" / f"python{minor}", copy)
        assert run([copy, "-c", PROBE], env=env, cwd=tmp_path) == launcher
    elif kind == "._pth":
        path = [str(stdlib), str(stdlib / "lib-dynload"), str(where / "bin" / "extra")]
        assert code == 0 and out.split("[")[1].split("]")[0] == repr(path)[1:-1], err
        assert out.split()[-2:] == ["1", "1"]  # isolated, no site: what a ._pth implies


def test_a_copy_in_a_base_tree_without_its_interpreter_is_an_incomplete_base(
    moved: Path, tmp_path: Path
) -> None:
    minor = minor_of(moved)
    (tmp_path / "tree" / "bin").mkdir(parents=True)
    shutil.copy2(moved / "ACC-PY.json", tmp_path / "tree")
    shutil.copy2(moved / "bin" / f"python{minor}", tmp_path / "tree" / "bin")
    code, _, err = run([tmp_path / "tree/bin" / f"python{minor}", "-c", "pass"],
                       env=user_env(tmp_path / "home"))  # fmt: skip
    assert code == 17
    assert err == (
        f"python: error: cannot run {tmp_path}/tree/bin/.python{minor}: No such file or "
        "directory; the base is incomplete: reinstall it\n"
    )


# ---- ._pth files ----------------------------------------------------------------------------


@contextmanager
def stock_layout(tree: Path) -> Iterator[None]:
    """The tree as it was before the launcher: bin/pythonX.Y is the interpreter itself."""
    launcher = tree / "bin" / f"python{minor_of(tree)}"
    aside = launcher.with_name("launcher-aside")
    launcher.rename(aside)
    shutil.copy2(tree / "bin" / f".python{minor_of(tree)}", launcher)
    try:
        yield
    finally:
        aside.replace(launcher)


@pytest.mark.parametrize("name", ["python3", "python{minor}", "python", "a symlink elsewhere"])
def test_a_pth_file_is_read_as_stock_cpython_reads_it(
    moved: Path, tmp_path: Path, name: str
) -> None:
    minor = minor_of(moved)
    stdlib = moved / "lib" / f"python{minor}"
    if name == "a symlink elsewhere":  # as CPython's test_site makes one
        python = tmp_path / f"python{minor}"
        python.symlink_to(moved / "bin" / f"python{minor}")
    else:
        python = moved / "bin" / name.format(minor=minor)
    pth = Path(f"{python}._pth")
    pth.write_text(f"{stdlib}\n{stdlib}/lib-dynload\nfrom-pth\nimport site\n")
    env = user_env(tmp_path / "home", PYTHONPATH="from-env")
    try:
        ours = run([python, "-c", PROBE], env=env, cwd=tmp_path)
        with stock_layout(moved):
            stock = run([python, "-c", PROBE], env=env, cwd=tmp_path)
    finally:
        pth.unlink()
    assert ours == stock
    code, out, err = ours
    assert code == 0, err
    assert str(pth.parent / "from-pth") in out and "from-env" not in out, out
    assert out.split()[-2:] == ["1", "0"]  # isolated; `import site` in the ._pth: site runs


# ---- virtualenv --copies --------------------------------------------------------------------


def test_virtualenv_copies(moved: Path, tmp_path: Path) -> None:
    """The real virtualenv, from the package index, makes a venv of copies from the base."""
    minor = minor_of(moved)
    wheels = cached(
        f"virtualenv-py{minor}", "virtualenv", lambda d: download(d, "virtualenv", python=minor)
    )
    env = user_env(tmp_path / "home")
    python = moved / "bin" / f"python{minor}"
    tool = tmp_path / "tool"
    for argv in (
        [python, "-m", "venv", tool],
        [tool / "bin/python", "-m", "pip", "install", "-q", "--no-index", "--find-links",
         wheels, "virtualenv"],
        [tool / "bin/virtualenv", "-q", "--copies", "--no-periodic-update", "-p", python,
         tmp_path / "env"],
    ):  # fmt: skip
        code, _, err = run(argv, env=env, cwd=tmp_path)
        assert code == 0, (argv, err)
    made = tmp_path / "env" / "bin" / "python"
    assert not made.is_symlink() and made.read_bytes() == python.read_bytes()  # a copy of it
    code, out, err = run([made, "-c", PROBE], env=env, cwd=tmp_path)
    assert code == 0, err
    executable, prefix, base_prefix = out.split()[:3]
    assert (executable, prefix, base_prefix) == (str(made), str(tmp_path / "env"), str(moved))
    code, out, err = run([made, "-m", "pip", "--version"], env=env, cwd=tmp_path)
    assert code == 0 and f"{tmp_path}/env/lib/python{minor}/site-packages/pip" in out, err

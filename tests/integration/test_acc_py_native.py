"""bin/acc-py, the static program, in a real 2023.06 base (``base_dist``).

Its venvs are byte for byte the Python acc-py's, however it is reached; everything else, and
every doubt, goes to the Python acc-py, whose behaviour (refusals included) is what the user
sees; a failure on its way leaves nothing behind; the base passes the builder's checks with it.

The base is unpacked, a copy of its own, as ``<root>/base/._2023.06.1`` behind ``2023.06`` and
``pro``: some tests change its skeleton or pip.conf for a moment. "The Python path" is what
bin/acc-py runs for anything it does not do itself, run here by hand:
``<base>/bin/python3.11 -E -s <base>/share/acc-py/entry/acc-py.py ARGS``, with ACC_PY_LAUNCHER
set to the name bin/acc-py was called by. Whether a Python started is read from
``strace -f -e trace=execve``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import untar
from servers import Index

from accpy_builder import checks
from accpy_builder.elf import read_elf
from accpy_core.errors import RefusedError, UsageError

from .test_acc_py import make_wheel

VERSION = "2023.06"
PYTHON = "python3.11"
ENTRY = "share/acc-py/entry/acc-py.py"
SKELETON = "share/acc-py/venv.skeleton"


@pytest.fixture(scope="module")
def root(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("native-root")
    (tarball,) = base_dist.glob("*.tar.gz")
    tree = untar(tarball, top / "unpack")
    (top / "base").mkdir()
    tree.rename(top / "base" / f"._{VERSION}.1")
    (top / "base" / VERSION).symlink_to(f"._{VERSION}.1")
    (top / "base" / "pro").symlink_to(VERSION)
    return top


def physical(root: Path) -> Path:
    return root / "base" / f"._{VERSION}.1"


def user_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", **extra}


def traced(
    cmd: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``cmd``; return its result and every program it (and its children) exec'd."""
    log = cwd.parent / "execve.log"
    strace = shutil.which("strace")
    assert strace, "strace is not installed: `make test-deps` installs it"
    proc = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=execve", "-o", str(log), "--", *cmd],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    execs = re.findall(r'execve\("([^"]+)", .*\) = 0$', log.read_text(), re.MULTILINE)
    log.unlink()
    return proc, execs


def pythons(execs: list[str]) -> list[str]:
    return [p for p in execs if os.path.basename(p).startswith("python")]


def python_path(
    root: Path, launcher: str | None, args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """What bin/acc-py runs when it does not make the venv itself."""
    base = physical(root)
    full = dict(env)
    if launcher:
        full["ACC_PY_LAUNCHER"] = launcher
    return subprocess.run(
        [str(base / "bin" / PYTHON), "-E", "-s", str(base / ENTRY), *args],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def snapshot(top: Path) -> dict[str, str]:
    """Every entry under ``top``: its type, permission bits and contents or target."""
    out = {}
    for p in sorted(top.rglob("*")):
        rel = str(p.relative_to(top))
        mode = oct(p.lstat().st_mode)
        if p.is_symlink():
            out[rel] = f"{mode} -> {os.readlink(p)}"
        elif p.is_file():
            out[rel] = f"{mode} {p.read_bytes().hex()}"
        else:
            out[rel] = f"{mode} <dir>"
    return out


def outcome(proc: subprocess.CompletedProcess[str], cwd: Path) -> tuple[object, ...]:
    return proc.returncode, proc.stdout, proc.stderr, snapshot(cwd)


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


# ----------------------------------------------------------------------- the fast path


def _by_path(root: Path) -> tuple[str, dict[str, str]]:
    return str(root / "base" / VERSION / "bin" / "acc-py"), {}


def _through_pro(root: Path) -> tuple[str, dict[str, str]]:
    return str(root / "base" / "pro" / "bin" / "acc-py"), {}


def _physical_with_acc_py_base(root: Path) -> tuple[str, dict[str, str]]:
    return str(physical(root) / "bin" / "acc-py"), {"ACC_PY_BASE": str(root / "base" / "pro")}


WAYS: dict[str, Callable[[Path], tuple[str, dict[str, str]]]] = {
    "by its path": _by_path,
    "through pro": _through_pro,
    "physical, ACC_PY_BASE=pro": _physical_with_acc_py_base,
}
PROMPTS = [[], ["--prompt", "my-env"], ["--prompt=my-env"]]


@pytest.mark.parametrize("prompt", PROMPTS, ids=["no prompt", "--prompt P", "--prompt=P"])
@pytest.mark.parametrize("way", [*WAYS, "on PATH after sourcing setup.sh"])
def test_fast_path_makes_the_python_venv(
    way: str, prompt: list[str], root: Path, cwd: Path
) -> None:
    """No Python starts, and the venv and the message are the Python path's, byte for byte."""
    args = ["venv", "v", *prompt]
    env = user_env(cwd.parent / "home")
    if way in WAYS:
        launcher, extra = WAYS[way](root)
        env.update(extra)
        fast, execs = traced([launcher, *args], cwd, env)
        assert fast.returncode == 0, fast.stderr
        made = outcome(fast, cwd)
        shutil.rmtree(cwd / "v")
        slow = python_path(root, launcher, args, cwd, env)
    else:  # acc-py as a user types it; the reference asks the shell where acc-py is
        setup = f". {root / 'base' / 'pro' / 'setup.sh'} >/dev/null && "
        fast, execs = traced(["bash", "-c", setup + "acc-py " + " ".join(args)], cwd, env)
        assert fast.returncode == 0, fast.stderr
        made = outcome(fast, cwd)
        shutil.rmtree(cwd / "v")
        base = physical(root)
        slow = subprocess.run(
            ["bash", "-c", setup + f'ACC_PY_LAUNCHER="$(command -v acc-py)" '
             f"{base / 'bin' / PYTHON} -E -s {base / ENTRY} " + " ".join(args)],
            cwd=cwd, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert pythons(execs) == [], execs
    assert made == outcome(slow, cwd)
    cfg = (cwd / "v" / "pyvenv.cfg").read_text()
    assert f"home = {root / 'base' / VERSION / 'bin'}\n" in cfg  # the logical name, always
    assert ("prompt = 'my-env'\n" in cfg) == bool(prompt)
    assert fast.stdout.startswith(f"Created {cwd / 'v'} on Acc-Py base {VERSION} (Python 3.")


def test_pip_works_in_a_fast_path_venv(root: Path, cwd: Path, site_index: Index) -> None:
    """pip of the base, the site index from the venv's own pip.conf, nothing sourced."""
    env = user_env(cwd.parent / "home")
    _, execs = traced([str(root / "base" / "pro" / "bin" / "acc-py"), "venv", "v"], cwd, env)
    assert pythons(execs) == []
    python = str(cwd / "v" / "bin" / "python")
    version = subprocess.run([python, "-m", "pip", "--version"], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
    assert version.stdout.startswith("pip 23.1.2 from ")
    # the base's pip, from the tree base/2023.06 resolves to (a process keeps its tree)
    assert f"{(root / 'base' / VERSION).resolve()}/lib/" in version.stdout
    config = subprocess.run([python, "-m", "pip", "config", "list"], env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert f"global.index-url='{site_index.url}'" in config.stdout.splitlines()
    make_wheel(site_index.root, "accpy_nativedep", "1.0", {"accpy_nativedep.py": "X = 7\n"})
    before = len(site_index.requests)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "accpy_nativedep"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    assert any("accpy-nativedep" in r for r in site_index.requests[before:])
    ran = subprocess.run([python, "-c", "import accpy_nativedep as m, numpy; print(m.X)"],
                         env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert ran.stdout == "7\n"


# ----------------------------------------------------------------------- fall-backs


def _full(cwd: Path) -> None:
    (cwd / "full").mkdir()
    (cwd / "full" / "keep.txt").write_text("mine")


def _venv(cwd: Path) -> None:
    subprocess.run([str(cwd.parent / "acc-py"), "venv", "v"], cwd=cwd, check=True,
                   capture_output=True)  # fmt: skip


def _file(cwd: Path) -> None:
    (cwd / "f").write_text("x")


def _link_to_empty(cwd: Path) -> None:
    (cwd / "empty").mkdir()
    (cwd / "link").symlink_to("empty")


def _nothing(cwd: Path) -> None:
    pass


#: name: (what is there first, the arguments, the exit code the Python acc-py gives)
FALLBACKS: dict[str, tuple[Callable[[Path], None], list[str], int]] = {
    "not empty, not a venv": (_full, ["venv", "full"], RefusedError.exit_code),
    "a file": (_file, ["venv", "f"], RefusedError.exit_code),
    "':' in the path": (_nothing, ["venv", "a:b"], UsageError.exit_code),
    "a space in the path": (_nothing, ["venv", "my venv"], 0),
    "a non-ASCII path": (_nothing, ["venv", "v\u00e9nv"], 0),
    "a space in the prompt": (_nothing, ["venv", "v", "--prompt", "my env"], 0),
    "an empty prompt": (_nothing, ["venv", "v", "--prompt="], 0),
    "--prompt .": (_nothing, ["venv", "v", "--prompt", "."], 0),
    "a placeholder's __": (_nothing, ["venv", "my__venv"], 0),
    "parents to make": (_nothing, ["venv", "new/deeper/v"], 0),
    "an empty PATH (the working directory)": (_nothing, ["venv", ""], 0),
    "a symlink to an empty directory": (_link_to_empty, ["venv", "link"], 0),
    "an existing venv": (_venv, ["venv", "v"], 0),
    "--clear": (_venv, ["venv", "v", "--clear"], 0),
    "-v": (_nothing, ["-v", "venv", "v"], 0),
    "no PATH": (_nothing, ["venv"], UsageError.exit_code),
    "two PATHs": (_nothing, ["venv", "a", "b"], UsageError.exit_code),
    "--prompt without a value": (_nothing, ["venv", "v", "--prompt"], UsageError.exit_code),
    "--version": (_nothing, ["--version"], 0),
}


@pytest.mark.parametrize("case", FALLBACKS)
def test_everything_else_is_the_python_acc_py(case: str, root: Path, tmp_path: Path) -> None:
    """Same exit code, output and files as the Python path, which bin/acc-py runs."""
    setup, args, code = FALLBACKS[case]
    launcher = str(root / "base" / "pro" / "bin" / "acc-py")
    (tmp_path / "acc-py").symlink_to(launcher)  # for _venv
    results = []
    for run in ("native", "python"):
        cwd = tmp_path / "work"
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir()
        setup(cwd)
        env = user_env(tmp_path / "home")
        if run == "native":
            proc, execs = traced([launcher, *args], cwd, env)
            assert pythons(execs) == [str(physical(root) / "bin" / PYTHON)], execs
        else:
            proc = python_path(root, launcher, args, cwd, env)
        results.append(outcome(proc, cwd))
    assert results[0] == results[1]
    assert results[0][0] == code, results[0][2]
    if case in ("not empty, not a venv", "a file", "':' in the path"):
        (line,) = str(results[0][2]).splitlines()  # acc-py's one-line error
        assert line.startswith("acc-py: error: "), line
    if case == "not empty, not a venv":
        assert "is not empty and is not a venv" in str(results[0][2])
        assert (tmp_path / "work" / "full" / "keep.txt").read_text() == "mine"


@contextmanager
def changed(path: Path, change: Callable[[bytes], bytes]) -> Iterator[None]:
    """``path`` (a file of the base) changed for a moment."""
    before = path.read_bytes()
    path.write_bytes(change(before))
    try:
        yield
    finally:
        path.write_bytes(before)


def _failing(skeleton: bytes) -> bytes:
    """Two more files at the end: one that is written, one that cannot be."""
    body, end = skeleton.rsplit(b"end * - - 0\n", 1)
    extra = b"file * - extra.txt 1\nx\nfile * - no/such/dir 1\nx\n"
    return body + extra + b"end * - - 0\n" + end


@pytest.mark.parametrize("target", ["new", "empty"])
def test_a_failing_fast_path_leaves_nothing_half_made(target: str, root: Path, cwd: Path) -> None:
    """Everything it made is taken back (the empty directory it was given stays), then the
    Python path makes the venv."""
    launcher = str(root / "base" / "pro" / "bin" / "acc-py")
    env = user_env(cwd.parent / "home")
    if target == "empty":
        (cwd / "v").mkdir(mode=0o700)
    want = python_path(root, launcher, ["venv", "v"], cwd, env)
    wanted = outcome(want, cwd)
    shutil.rmtree(cwd / "v")
    if target == "empty":
        (cwd / "v").mkdir(mode=0o700)
    with changed(physical(root) / SKELETON, _failing):
        proc, execs = traced([launcher, "venv", "v"], cwd, env)
    assert pythons(execs) == [str(physical(root) / "bin" / PYTHON)]
    assert outcome(proc, cwd) == wanted
    assert not (cwd / "v" / "extra.txt").exists()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated skeleton"),
        pytest.param(lambda b: b"", id="empty skeleton"),
        pytest.param(lambda b: b.replace(b"marker * - base", b"marker * - bass"),
                     id="unknown marker"),
    ],
)  # fmt: skip
def test_a_broken_skeleton_goes_to_python(
    change: Callable[[bytes], bytes], root: Path, cwd: Path
) -> None:
    launcher = str(root / "base" / "pro" / "bin" / "acc-py")
    env = user_env(cwd.parent / "home")
    want = outcome(python_path(root, launcher, ["venv", "v"], cwd, env), cwd)
    shutil.rmtree(cwd / "v")
    with changed(physical(root) / SKELETON, change):
        proc, execs = traced([launcher, "venv", "v"], cwd, env)
    assert pythons(execs) == [str(physical(root) / "bin" / PYTHON)]
    assert outcome(proc, cwd) == want


def test_an_edited_pip_conf_is_followed(root: Path, cwd: Path) -> None:
    """The skeleton was made from the base's pip.conf: once that is edited, the venvs come from
    the Python path, with the new index."""
    launcher = str(root / "base" / "pro" / "bin" / "acc-py")
    env = user_env(cwd.parent / "home")
    mirror = b"index-url = https://mirror.example/simple/"
    with changed(physical(root) / "pip.conf", lambda b: re.sub(rb"index-url = \S+", mirror, b)):
        proc, execs = traced([launcher, "venv", "v"], cwd, env)
    assert proc.returncode == 0, proc.stderr
    assert pythons(execs) == [str(physical(root) / "bin" / PYTHON)]
    assert "index-url = https://mirror.example/simple/\n" in (cwd / "v" / "pip.conf").read_text()


# ----------------------------------------------------------------------- the base


def test_the_base_passes_the_builders_checks_with_it(root: Path) -> None:
    """A static program: no program interpreter, no NEEDED, no symbol version, so the base's
    platform tag holds; it, the skeleton and the entry point are in ACC-PY.RECORD."""
    tree = physical(root)
    meta = json.loads((tree / "ACC-PY.json").read_text())
    report = checks.check_elves(tree, meta["platform"])
    assert report.platform == meta["platform"]
    checks.check_modes_and_links(tree)
    program = tree / "bin" / "acc-py"
    info = read_elf(program)
    assert info is None or (info.needed, info.version_needs) == ((), ())
    from elftools.elf.elffile import ELFFile

    with program.open("rb") as f:
        assert not [s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_INTERP"]
    recorded = {line.split(",")[0] for line in (tree / "ACC-PY.RECORD").read_text().splitlines()}
    assert {"bin/acc-py", SKELETON, ENTRY} <= recorded
    assert not (tree / "bin" / "acc-py.c").exists()
    assert b"@ACC_PY_VENV_DIR@" in (tree / SKELETON).read_bytes()

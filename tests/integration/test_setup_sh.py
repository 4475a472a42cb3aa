"""setup.sh / setup.csh sourced from real shells (bash, zsh, dash, tcsh) in a fake base tree.

The fake base is a directory with ``bin/python3`` linked to a CPython of this machine, run
through ``inject()`` like a real one (but for the venv skeleton, which the base's own Python
writes from the acc_py in its site-packages: these tests do not run acc-py), installed as
``<root>/base/._2023.06.1`` behind ``2023.06`` and ``pro``. A missing shell is a failure, not a
skip.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import python_prefix

from accpy_builder.inject import PAYLOAD, Append, Generated, Program, inject, template_values
from accpy_manifest import BaseSpec, PbsAsset, Site

INDEX = "http://127.0.0.1:9/simple/"
MINOR = "3.11"
SH_SHELLS = ["bash", "zsh", "dash"]
SENTINEL_PYTHONPATH = "/nonexistent/pythonpath"
SENTINEL_LD = "/nonexistent/ld"


def require_shell(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: apt-get install -y {name} (these tests need it)"
    return path


def make_base(root: Path, version: str, *, deprecated: bool = False) -> Path:
    """``<root>/base/._<version>.1`` with injected recipes, plus the ``<version>`` symlink."""
    prefix = python_prefix(MINOR)
    tree = root / "base" / f"._{version}.1"
    (tree / "bin").mkdir(parents=True)
    (tree / "lib" / f"python{MINOR}").mkdir(parents=True)
    for name in ("python3", "python"):
        (tree / "bin" / name).symlink_to(prefix / "bin" / f"python{MINOR}")
    spec = BaseSpec(
        version=version,
        patch=1,
        python=f"{MINOR}.0",
        interpreter=PbsAsset("t", "a.tar.gz", "0" * 64),
        packages=(),
        status="deprecated" if deprecated else "supported",
        end_of_life=dt.date(2025, 6, 30) if deprecated else None,
    )
    site = Site(index_url=INDEX, usage_collector="127.0.0.1:9", install_root=str(root))
    # not what works on the fake base's Python (a symlink to the local one, with no stdlib of
    # its own): the skeleton it would write, the launcher that would take its bin/python's
    # place, the fragments appended to its stdlib
    payload = [
        item for item in PAYLOAD
        if not isinstance(item, Generated | Append)
        and not (isinstance(item, Program) and item.moves)
    ]  # fmt: skip
    inject(tree, template_values(spec, site), MINOR, payload=payload)
    (root / "base" / version).symlink_to(tree.name)
    return tree


def make_root(root: Path) -> Path:
    make_base(root, "2023.06")
    make_base(root, "2024.12", deprecated=True)
    (root / "base" / "pro").symlink_to("2023.06")
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_root(tmp_path_factory.mktemp("accpy") / "root")


@dataclass
class Result:
    out: str
    err: str
    code: int

    def vars(self) -> dict[str, str]:
        found = {}
        for line in self.out.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.isupper():
                found[key] = value
        return found


def base_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no PIP_* (this machine sets some globally), no XDG_CONFIG_DIRS."""
    env = {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": SENTINEL_PYTHONPATH,
        "LD_LIBRARY_PATH": SENTINEL_LD,
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    env.update(extra)
    return env


def run(
    shell: str,
    script: str,
    cwd: Path,
    *,
    interactive: bool = False,
    env: dict[str, str] | None = None,
) -> Result:
    exe = require_shell(shell)
    args = {
        "bash": [exe, "--norc", "--noprofile"],
        "zsh": [exe, "-f"],
        "dash": [exe],
        "tcsh": [exe, "-f"],
    }[shell]
    stdin = None
    if interactive:
        args.append("-i")
    if interactive and shell == "tcsh":
        stdin = script + "\n"  # tcsh -c never sets $prompt: read the commands from stdin
    else:
        args += ["-c", script]
    proc = subprocess.run(
        args,
        check=False,
        cwd=cwd,
        env=env if env is not None else base_env(cwd),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Result(proc.stdout, proc.stderr, proc.returncode)


SHOW = (
    'printf "PATH=%s\\n" "$PATH"; '
    'printf "PY=%s\\n" "$(command -v python3)"; '
    'printf "PYTHONPATH=%s\\n" "${PYTHONPATH-<unset>}"; '
    'printf "PYTHONHOME=%s\\n" "${PYTHONHOME-<unset>}"; '
    'printf "LD_LIBRARY_PATH=%s\\n" "${LD_LIBRARY_PATH-<unset>}"; '
    'printf "ACC_PY_BASE=%s\\n" "${ACC_PY_BASE-<unset>}"; '
    'printf "ACC_PY_BASE_VERSION=%s\\n" "${ACC_PY_BASE_VERSION-<unset>}"; '
    'printf "XDG_CONFIG_DIRS=%s\\n" "${XDG_CONFIG_DIRS-<unset>}"; '
)


def bases_in(path: str) -> list[str]:
    return [p for p in path.split(":") if "/base/" in p]


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return elsewhere


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_activate_through_pro(shell: str, root: Path, cwd: Path) -> None:
    pro = root / "base" / "pro" / "setup.sh"
    res = run(shell, f". {pro}; {SHOW} python3 -m pip config list", cwd)
    assert res.code == 0, res.err
    v = res.vars()
    base = f"{root}/base/2023.06"
    assert v["PATH"] == f"{base}/bin:/usr/local/bin:/usr/bin:/bin"
    assert v["PY"] == f"{base}/bin/python3"
    assert v["PYTHONPATH"] == SENTINEL_PYTHONPATH
    assert v["LD_LIBRARY_PATH"] == SENTINEL_LD
    assert v["PYTHONHOME"] == "<unset>"
    assert v["ACC_PY_BASE"] == base
    assert v["ACC_PY_BASE_VERSION"] == "2023.06"
    assert v["XDG_CONFIG_DIRS"] == f"{base}/etc/xdg:/etc/xdg"
    assert f"global.index-url='{INDEX}'" in res.out
    assert res.err == ""  # non-interactive: silent


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_venv_sees_site_index(shell: str, root: Path, cwd: Path) -> None:
    # --system-site-packages --without-pip: the venv borrows the base's pip, and pip's
    # site config (<sys.prefix>/pip.conf) is the venv's: only XDG_CONFIG_DIRS reaches it.
    pro = root / "base" / "pro" / "setup.sh"
    script = (
        f". {pro}; python3 -m venv --system-site-packages --without-pip venv && "
        "env -u PIP_CONFIG_FILE venv/bin/python -m pip config list"
    )
    res = run(shell, script, cwd)
    assert res.code == 0, res.err
    assert f"global.index-url='{INDEX}'" in res.out
    assert not (cwd / "venv" / "pip.conf").exists()


def test_plain_venv_with_pip_sees_site_index(root: Path, cwd: Path) -> None:
    pro = root / "base" / "pro" / "setup.sh"
    script = f". {pro}; python3 -m venv venv && venv/bin/python -m pip config list"
    res = run("bash", script, cwd)
    assert res.code == 0, res.err
    assert f"global.index-url='{INDEX}'" in res.out
    # Without setup.sh, the same venv has no site index: the check above is meaningful.
    res = run("bash", "venv/bin/python -m pip config list", cwd)
    assert INDEX not in res.out


@pytest.mark.parametrize("shell", SH_SHELLS)
@pytest.mark.parametrize("xdg", [None, "/opt/xdg"])
def test_switch_and_deactivate(shell: str, xdg: str | None, root: Path, cwd: Path) -> None:
    env = base_env(cwd) if xdg is None else base_env(cwd, XDG_CONFIG_DIRS=xdg)
    script = (
        'printf "BEFORE=%s\\n" "$PATH"; '
        f". {root}/base/pro/setup.sh; "
        f". {root}/base/2023.06/setup.sh; "  # the same base again: still one copy
        'printf "AGAIN=%s\\n" "$PATH"; '
        f". {root}/base/2024.12/setup.sh; "
        'printf "SWITCHED=%s\\n" "$PATH"; printf "XSWITCHED=%s\\n" "$XDG_CONFIG_DIRS"; '
        "deactivate; "
        f"{SHOW}"
        'if command -v deactivate >/dev/null 2>&1; then echo "DEACTIVATE=defined"; fi'
    )
    res = run(shell, script, cwd, env=env)
    assert res.code == 0, res.err
    v = res.vars()
    first, second = f"{root}/base/2023.06", f"{root}/base/2024.12"
    assert bases_in(v["AGAIN"]) == [f"{first}/bin"]
    assert bases_in(v["SWITCHED"]) == [f"{second}/bin"]
    assert v["SWITCHED"] == f"{second}/bin:{v['BEFORE']}"
    assert v["XSWITCHED"] == f"{second}/etc/xdg:{xdg or '/etc/xdg'}"
    assert v["PATH"] == v["BEFORE"]
    assert v["XDG_CONFIG_DIRS"] == (xdg or "<unset>")
    assert v["ACC_PY_BASE"] == "<unset>"
    assert v["ACC_PY_BASE_VERSION"] == "<unset>"
    assert "DEACTIVATE" not in v


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_child_shell_switch_without_function(shell: str, root: Path, cwd: Path) -> None:
    # A child shell inherits the variables, not the function: the switch still removes the first.
    exe = require_shell(shell)
    inner = f". {root}/base/2024.12/setup.sh; printf 'PATH=%s\\n' \"$PATH\""
    res = run(
        shell, f". {root}/base/pro/setup.sh; {exe} -c '{inner.replace(chr(39), chr(34))}'", cwd
    )
    assert res.code == 0, res.err
    assert bases_in(res.vars()["PATH"]) == [f"{root}/base/2024.12/bin"]


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_banner_only_when_interactive(shell: str, root: Path, cwd: Path) -> None:
    pro = root / "base" / "pro" / "setup.sh"
    res = run(shell, f". {pro}", cwd, interactive=True)
    assert res.code == 0, res.err
    assert res.out == "=>  Acc-Py base 2023.06 is now active within this shell.\n"
    assert "WARNING" not in res.err
    res = run(shell, f". {pro}", cwd)
    assert (res.out, res.err, res.code) == ("", "", 0)


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_deprecated_warning(shell: str, root: Path, cwd: Path) -> None:
    old = root / "base" / "2024.12" / "setup.sh"
    res = run(shell, f". {old}", cwd, interactive=True)
    assert res.out == "=>  Acc-Py base 2024.12 is now active within this shell.\n"
    assert "WARNING: Acc-Py base 2024.12 is deprecated" in res.err
    assert "2025-06-30" in res.err
    assert f"source {root}/base/pro/setup.sh" in res.err
    res = run(shell, f". {old}", cwd)
    assert (res.out, res.err) == ("", "")


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_moved_tree(shell: str, tmp_path: Path) -> None:
    built = make_root(tmp_path / "built")
    moved = tmp_path / "moved" / "root"
    moved.parent.mkdir()
    shutil.move(built, moved)
    res = run(shell, f"cd /; . {moved}/base/pro/setup.sh; {SHOW}", tmp_path)
    assert res.code == 0, res.err
    v = res.vars()
    assert v["ACC_PY_BASE"] == f"{moved}/base/2023.06"
    assert v["PY"] == f"{moved}/base/2023.06/bin/python3"
    assert str(tmp_path / "built") not in res.out


@pytest.mark.parametrize("shell", SH_SHELLS)
def test_relative_path_and_physical_dir(shell: str, root: Path) -> None:
    # Sourced by a relative path, and directly from the hidden physical directory.
    res = run(shell, f". ./pro/setup.sh; {SHOW}", root / "base")
    assert res.vars()["ACC_PY_BASE"] == f"{root}/base/2023.06"
    res = run(shell, f". {root}/base/._2023.06.1/setup.sh; {SHOW}", root)
    assert res.vars()["ACC_PY_BASE"] == f"{root}/base/2023.06"


def test_dash_nested_source_picks_this_file(root: Path, tmp_path: Path) -> None:
    # A user's own setup.sh (next to a bin/ too) sourcing ours: dash must pick the newest fd.
    wrapper = tmp_path / "project"
    (wrapper / "bin").mkdir(parents=True)
    (wrapper / "setup.sh").write_text(f". {root}/base/pro/setup.sh\n")
    res = run("dash", f". {wrapper}/setup.sh; {SHOW}", tmp_path)
    assert res.code == 0, res.err
    assert res.vars()["ACC_PY_BASE"] == f"{root}/base/2023.06"


def test_running_instead_of_sourcing_fails(root: Path, cwd: Path) -> None:
    res = subprocess.run(
        [require_shell("bash"), f"{root}/base/pro/setup.sh"],
        capture_output=True,
        text=True,
        env=base_env(cwd),
        check=False,
    )
    assert res.returncode == 1
    assert "source this file" in res.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_venv_activate_keeps_base(shell: str, root: Path, cwd: Path) -> None:
    # venv's activate calls `deactivate nondestructive`: the base must stay active.
    script = (
        f". {root}/base/pro/setup.sh; "
        "python3 -m venv --system-site-packages --without-pip venv; "
        'printf "BEFORE=%s\\n" "$PATH"; '
        ". venv/bin/activate; "
        'printf "INVENV=%s\\n" "$PATH"; printf "BASE=%s\\n" "${ACC_PY_BASE-<unset>}"; '
        "deactivate; acc_py_deactivate; "
        f"{SHOW}"
    )
    res = run(shell, script, cwd)
    assert res.code == 0, res.err
    v = res.vars()
    assert v["BASE"] == f"{root}/base/2023.06"
    assert v["INVENV"] == f"{cwd}/venv/bin:{v['BEFORE']}"
    assert v["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert v["ACC_PY_BASE"] == "<unset>"


# ---- tcsh ---------------------------------------------------------------------------------------

CSH_SHOW = (
    'echo "PATH=$PATH"\n'
    'echo "ACC_PY_BASE=`printenv ACC_PY_BASE`"\n'
    'echo "XDG_CONFIG_DIRS=`printenv XDG_CONFIG_DIRS`"\n'
    'echo "PYTHONPATH=$PYTHONPATH"\n'
    'echo "PY=`which python3`"\n'
)


def test_tcsh_activate_switch_deactivate(root: Path, cwd: Path) -> None:
    script = (
        'set before="$PATH"\n'
        f"source {root}/base/pro/setup.csh\n"
        f"{CSH_SHOW}"
        "python3 -m pip config list\n"
        f"source {root}/base/2024.12/setup.csh\n"
        'echo "SWITCHED=$PATH"\n'
        "deactivate\n"
        'echo "AFTER=$PATH"\n'
        'if ( "$PATH" == "$before" ) echo "RESTORED=yes"\n'
        'if ( ! $?ACC_PY_BASE && ! $?XDG_CONFIG_DIRS ) echo "UNSET=yes"\n'
    )
    res = run("tcsh", script, cwd)
    assert res.code == 0, res.err
    v = res.vars()
    base = f"{root}/base/2023.06"
    assert v["PATH"] == f"{base}/bin:/usr/local/bin:/usr/bin:/bin"
    assert v["PY"] == f"{base}/bin/python3"
    assert v["ACC_PY_BASE"] == base
    assert v["XDG_CONFIG_DIRS"] == f"{base}/etc/xdg:/etc/xdg"
    assert v["PYTHONPATH"] == SENTINEL_PYTHONPATH
    assert f"global.index-url='{INDEX}'" in res.out
    assert bases_in(v["SWITCHED"]) == [f"{root}/base/2024.12/bin"]
    assert v["RESTORED"] == "yes"
    assert v["UNSET"] == "yes"
    assert res.err == ""


def test_tcsh_banner_and_warning(root: Path, cwd: Path) -> None:
    res = run("tcsh", f"source {root}/base/2024.12/setup.csh", cwd, interactive=True)
    assert "=>  Acc-Py base 2024.12 is now active within this shell." in res.out
    assert "deprecated and reaches its end of life on 2025-06-30" in res.err
    res = run("tcsh", f"source {root}/base/2024.12/setup.csh", cwd)
    assert (res.out, res.err) == ("", "")


def test_no_build_paths_baked_in(root: Path) -> None:
    text = (root / "base" / "2023.06" / "setup.sh").read_text()
    assert str(root) not in text
    assert "@" not in "".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ).replace("$@", "")
    assert os.access(root / "base" / "2023.06" / "setup.sh", os.R_OK)


def test_tcsh_moved_tree_and_relative_path(tmp_path: Path) -> None:
    built = make_root(tmp_path / "built")
    moved = tmp_path / "moved" / "root"
    moved.parent.mkdir()
    shutil.move(built, moved)
    res = run("tcsh", f"source ./pro/setup.csh\n{CSH_SHOW}", moved / "base")
    assert res.code == 0, res.err
    v = res.vars()
    assert v["ACC_PY_BASE"] == f"{moved}/base/2023.06"
    assert v["PY"] == f"{moved}/base/2023.06/bin/python3"

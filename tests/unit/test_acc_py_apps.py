"""The layout of deployed applications (acc_py._apps) on fake deployments: no base, no pip.

A fake deployment is what ``acc-py app deploy`` leaves, its venv reduced to what names its
path: ``bin/pip`` (the shebang that says which venv path it was made for), ``pyvenv.cfg`` and
``bin/<app>``, a shell script that says which tree it runs from. ``exec/<app>`` runs it by the
venv's path, as the deployed launchers do. An older acc-py's deployment (``<version>/`` a real
directory) names ``<version>/venv``; a tree ``.<version>@<base>`` names itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from acc_py import _apps
from accpy_core.errors import BaseError, UsageError
from accpy_core.fs import CRASH_ENV, exchange

from . import test_acc_py as shared
from .test_acc_py import PYTHONPATH, acc_py, one_line_error

#: the fixtures of test_acc_py: a fake base on each CPython 3.7-3.13
fake_base, python = shared.fake_base, shared.python
APP = "demo"


def fake(
    app_dir: Path, name: str, version: str, base: str, *, legacy: bool = False, home: str = "/"
) -> Path:
    """A deployment of ``version`` on ``base`` in ``app_dir/name``; a tree's ``version`` symlink
    is left to the caller. ``home``: the venv's pyvenv.cfg ``home`` (the base's bin/)."""
    top = app_dir / name
    venv = top / "venv"
    (venv / "bin").mkdir(parents=True)
    (top / "exec").mkdir()
    (venv / "bin" / "pip").write_text(f"#!{venv}/bin/python\nimport pip\n")
    (venv / "pyvenv.cfg").write_text(f"home = {home}\ncommand = acc-py venv {venv}\n")
    script = venv / "bin" / APP
    script.write_text(f'#!/bin/sh\necho "{APP} {version} on {base} from $(dirname "$0")"\n')
    launcher = top / "exec" / APP
    launcher.write_text(f'#!/bin/sh\nexec {venv}/bin/{APP} "$@"\n')
    (top / "requirements.txt").write_text(f"### base_python: {base}\n")
    meta: dict[str, object] = {"app": APP, "version": version, "base": base, "scripts": [APP]}
    if not legacy:
        meta.update(tree=name, content={"base": base, "pins": [], "wheel": "w"})
    (top / "app.json").write_text(json.dumps(meta))
    for p in (script, launcher):
        p.chmod(0o755)
    return top


def run(launcher: Path) -> str:
    proc = subprocess.run([str(launcher)], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def files(top: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(top)): p.read_bytes()
        for p in sorted(top.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def test_tree_names() -> None:
    assert _apps.tree_name("1.0+local", "2024.12") == ".1.0+local@2024.12"
    assert _apps.parse_tree(".1.0+local@2024.12") == ("1.0+local", "2024.12")
    for other in ("1.0", ".1.0@previous", ".1.0@2024.12.tmp-ab12", ".lock", "@2024.12", ".@x"):
        assert _apps.parse_tree(other) is None, other


def test_exchange_swaps_a_directory_and_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("x")
    (tmp_path / "link").symlink_to("elsewhere")
    assert exchange(tmp_path / "link", tmp_path / "dir")
    assert (tmp_path / "link" / "f").read_text() == "x"
    assert os.readlink(tmp_path / "dir") == "elsewhere"
    with pytest.raises(FileNotFoundError):
        exchange(tmp_path / "none", tmp_path / "dir")


@pytest.mark.parametrize("swap", [True, False], ids=["exchange", "two-renames"])
def test_legacy_directory_migrates_and_keeps_everything(
    swap: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older acc-py's ``1.0/`` becomes ``.1.0@2023.06`` behind the symlink ``1.0``, with
    every file; its paths name the tree once relocated, so it runs by itself when ``1.0``
    moves to another base; rollback returns to it and back."""
    if not swap:  # NFS: no renameat2 exchange
        monkeypatch.setattr(_apps, "exchange", lambda a, b: False)
    app_dir = tmp_path / APP
    old = fake(app_dir, "1.0", "1.0", "2023.06", legacy=True)
    before = files(old)
    new = fake(app_dir, ".1.0@2024.12", "1.0", "2024.12")
    assert _apps.versions(str(app_dir)) == ["1.0"]
    assert _apps.current(str(app_dir), "1.0") == "1.0"

    was = _apps.switch(str(app_dir), "1.0", new.name)
    assert was == ".1.0@2023.06"
    moved = app_dir / was
    assert os.readlink(app_dir / "1.0") == new.name
    assert os.readlink(app_dir / ".1.0@previous") == was
    after = files(moved)
    assert sorted(after) == sorted(before)  # nothing lost
    renamed = {k: v.replace(str(old).encode(), str(moved).encode()) for k, v in before.items()}
    del renamed["app.json"]
    assert {k: v for k, v in after.items() if k != "app.json"} == renamed
    assert json.loads(after["app.json"])["tree"] == was
    assert run(moved / "exec" / APP) == f"{APP} 1.0 on 2023.06 from {moved}/venv/bin"
    assert run(app_dir / "1.0" / "exec" / APP) == f"{APP} 1.0 on 2024.12 from {new}/venv/bin"
    assert _apps.previous(str(app_dir), "1.0") == was

    assert _apps.switch(str(app_dir), "1.0", was) == new.name  # rollback
    assert run(app_dir / "1.0" / "exec" / APP).startswith(f"{APP} 1.0 on 2023.06 from {moved}")
    assert _apps.previous(str(app_dir), "1.0") == new.name
    leftovers = sorted(p.name for p in app_dir.iterdir())
    assert leftovers == [".1.0@2023.06", ".1.0@2024.12", ".1.0@previous", "1.0"]


CRASHING = """
import sys
from acc_py import _apps
app_dir, target, mode = sys.argv[1:]
if mode == "two-renames":
    _apps.exchange = lambda a, b: False
with _apps.locked(app_dir):
    _apps.repair(app_dir, "1.0")
    _apps.switch(app_dir, "1.0", target)
"""


@pytest.mark.parametrize("mode", ["exchange", "two-renames"])
def test_switch_killed_at_every_step(mode: str, tmp_path: Path) -> None:
    """SIGKILL at each step of moving an older acc-py's 1.0 to a new base: ``1.0`` always
    runs one of the two deployments (but for the instant between the two renames where the
    file system cannot swap), nothing is lost, and the next run completes the move."""
    step = 0
    while True:
        step += 1
        app_dir = tmp_path / str(step) / APP
        legacy = fake(app_dir, "1.0", "1.0", "2023.06", legacy=True)
        before = files(legacy)
        fake(app_dir, ".1.0@2024.12", "1.0", "2024.12")
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": PYTHONPATH, CRASH_ENV: str(step)}
        cmd = [sys.executable, "-c", CRASHING, str(app_dir), ".1.0@2024.12", mode]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        kept = [app_dir / n for n in ("1.0", ".1.0@2023.06") if (app_dir / n).is_dir()]
        assert kept and sorted(files(kept[0])) == sorted(before), step
        if os.path.lexists(app_dir / "1.0"):
            assert run(app_dir / "1.0" / "exec" / APP).split()[3] in ("2023.06", "2024.12")
        else:
            assert mode == "two-renames", step
        env.pop(CRASH_ENV)
        subprocess.run(cmd, env=env, check=True)
        assert os.readlink(app_dir / "1.0") == ".1.0@2024.12", step
        assert os.readlink(app_dir / ".1.0@previous") == ".1.0@2023.06", step
        assert run(app_dir / ".1.0@2023.06" / "exec" / APP).split()[3] == "2023.06", step
        names = sorted(p.name for p in app_dir.iterdir())
        assert names == [".1.0@2023.06", ".1.0@2024.12", ".1.0@previous", "1.0"], step
    assert step > 5  # it went through the steps of a migration and of a switch


def test_repair_after_an_interrupted_deploy(tmp_path: Path) -> None:
    app_dir = tmp_path / APP
    fake(app_dir, ".1.0@2024.12", "1.0", "2024.12")
    assert _apps.versions(str(app_dir)) == []  # renamed into place, not yet named
    _apps.repair(str(app_dir), "1.0")
    assert os.readlink(app_dir / "1.0") == ".1.0@2024.12"


def test_wheel_digest_is_the_files_not_the_zip(tmp_path: Path) -> None:
    """Built again, a wheel has other dates and maybe another order: the same digest. Another
    file's content: another digest. What pip writes at install is not part of it."""
    members = {"demo/__init__.py": "X = 1\n", "demo-1.0.dist-info/METADATA": "Name: demo\n"}

    def wheel(name: str, items: list[tuple[str, str]], date: tuple[int, ...]) -> str:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, text in items:
                zf.writestr(zipfile.ZipInfo(member, date_time=date), text)
        return str(path)

    one = wheel(
        "a.whl", [*members.items(), ("demo-1.0.dist-info/RECORD", "a")], (2020, 1, 1, 0, 0, 0)
    )
    two = wheel("b.whl", [("demo-1.0.dist-info/RECORD", "b"), *reversed(members.items())],
                (2024, 5, 6, 7, 8, 10))  # fmt: skip
    assert _apps.wheel_digest(one) == _apps.wheel_digest(two)
    changed = wheel("c.whl", [("demo/__init__.py", "X = 2\n")], (2020, 1, 1, 0, 0, 0))
    assert _apps.wheel_digest(changed) != _apps.wheel_digest(one)


def test_rollback_and_list(python: str, tmp_path: Path) -> None:
    """On every base's Python: rollback toggles between the two bases a version ran on, list
    says which base runs each version and where rollback goes; no previous: refused."""
    apps = tmp_path / "apps"
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}
    app_dir = apps / APP
    for base in ("2023.06", "2024.12"):
        fake(app_dir, f".1.0@{base}", "1.0", base)
    fake(app_dir, ".2.0@2024.12", "2.0", "2024.12")
    (app_dir / "1.0").symlink_to(".1.0@2024.12")
    (app_dir / ".1.0@previous").symlink_to(".1.0@2023.06")
    (app_dir / "2.0").symlink_to(".2.0@2024.12")
    (app_dir / "pro").symlink_to("1.0")
    listed = acc_py(python, "app", "list", env=env)
    assert listed.stdout.splitlines()[1:] == [
        APP,
        "  1.0              2024.12   pro         previous: 2023.06",
        "  2.0              2024.12",
    ]
    ran = acc_py(python, "app", "run", APP, env=env)
    assert ran.stdout == f"{APP} 1.0 on 2024.12 from {app_dir}/.1.0@2024.12/venv/bin\n", ran.stderr
    out = acc_py(python, "app", "rollback", APP, "1.0", env=env)
    assert out.returncode == 0, out.stderr
    assert "back on base 2023.06" in out.stdout
    assert os.readlink(app_dir / "1.0") == ".1.0@2023.06"
    assert os.readlink(app_dir / ".1.0@previous") == ".1.0@2024.12"
    ran = acc_py(python, "app", "run", APP, env=env)
    assert ran.stdout == f"{APP} 1.0 on 2023.06 from {app_dir}/.1.0@2023.06/venv/bin\n"
    assert acc_py(python, "app", "rollback", APP, "1.0", env=env).returncode == 0
    assert os.readlink(app_dir / "1.0") == ".1.0@2024.12"
    gone = fake(app_dir, ".2.0@2023.06", "2.0", "2023.06", home=str(tmp_path / "none" / "bin"))
    (app_dir / ".2.0@previous").symlink_to(gone.name)
    one_line_error(acc_py(python, "app", "rollback", APP, "2.0", env=env), BaseError,
                   f"{tmp_path / 'none'}, which is not installed")  # fmt: skip
    (app_dir / ".2.0@previous").unlink()
    one_line_error(acc_py(python, "app", "rollback", APP, "2.0", env=env), UsageError,
                   "no previous deployment", "2024.12", "--base-python")  # fmt: skip
    one_line_error(acc_py(python, "app", "rollback", APP, "3.0", env=env), UsageError,
                   "not deployed", "1.0, 2.0")  # fmt: skip
    assert sorted(p.name for p in app_dir.iterdir() if not p.name.startswith(".1")) == [
        ".2.0@2023.06", ".2.0@2024.12", "1.0", "2.0", "pro",
    ]  # fmt: skip

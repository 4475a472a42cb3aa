"""``acc-py app deploy``: a sealed venv of an application, deployed under the deploy base.

A deployment of a version on a base (:mod:`acc_py._apps` has the layout) holds ``venv/`` (a
sealed venv on the base the lock names: the lock's pins installed with --require-hashes, then
the app's wheel with --no-deps, then ``pip check``), ``exec/<script>`` launchers of its console
scripts, ``requirements.txt`` (the lock) and ``app.json``. ``<app>/<version>``, ``latest`` and
``pro`` are relative symlinks, switched atomically (a new symlink renamed over the old one).

``deploy`` of a version already deployed: on the same base with the same content (the lock's
pins, the wheel's files) it changes nothing; with other content it is refused; on another base
it stages a new tree and moves ``<version>`` to it, keeping the old one for ``rollback``. A tree
is staged in ``<app>/.<version>@<base>.tmp-*`` and renamed into place at the very end: any
failure removes the stage and leaves every deployed version and symlink as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import zipfile

from accpy_core.errors import RefusedError, UsageError
from accpy_core.fs import crash_point, sync_tree
from accpy_core.proc import clean_env, run

from . import _apps
from . import venv as _venv
from ._apps import app_key
from ._base import Base
from .app import LOCK_DIR, read_lock

_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

_LAUNCHER = """#!/bin/sh
# {app} {version}: the {script} command, deployed by `acc-py app deploy` on the
# Acc-Py base {base}. The environment cannot change which packages it runs.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE PYTHONNOUSERSITE
exec {target} "$@"
"""


def _pip(python: str, *args: str, what: str) -> None:
    run([python, "-m", "pip", *args], env=clean_env(user=True), what=what)


def _build_wheel(base: Base, project: str, out: str) -> str:
    what = f"building the wheel of {project}"
    _pip(base.python, "wheel", "--quiet", "--no-deps", "--wheel-dir", out, project, what=what)
    wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
    if len(wheels) != 1:
        raise UsageError(f"building {project} gave {len(wheels)} wheels, expected one")
    return os.path.join(out, wheels[0])


def _console_scripts(wheel: str) -> list[str]:
    scripts = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if not (
                len(parts) == 2
                and parts[0].endswith(".dist-info")
                and parts[1] == "entry_points.txt"
            ):
                continue
            section = None
            for raw in zf.read(name).decode("utf-8").splitlines():
                line = raw.strip()
                if line.startswith("["):
                    section = line.strip("[] ")
                elif section == "console_scripts" and "=" in line:
                    scripts.append(line.split("=", 1)[0].strip())
    for script in scripts:
        # the name becomes a file in exec/ and a word in a shell script: nothing but a name
        if not _SCRIPT_NAME.match(script):
            raise UsageError(
                f"{os.path.basename(wheel)} declares a console script named {script!r}, which "
                "is not a plain file name; rename it in the project's entry points"
            )
    return sorted(scripts)


def _target(args: argparse.Namespace) -> tuple[str | None, str]:
    """(the wheel ``deploy`` was given, None for a project to build; the lock)."""
    target = os.path.abspath(args.target)
    if target.endswith(".whl") and os.path.isfile(target):
        lock = args.lock or os.path.join(os.getcwd(), LOCK_DIR, "requirements.txt")
        return target, os.path.abspath(lock)
    if not os.path.isdir(target):
        raise UsageError(f"{args.target} is neither a project directory nor a wheel file")
    return None, os.path.abspath(args.lock or os.path.join(target, LOCK_DIR, "requirements.txt"))


#: what deploy does with a version: nothing, point it at an existing tree, or stage a new one
NOOP, SWITCH, STAGE = "noop", "switch", "stage"


def _decide(app_dir: str, app: str, version: str, want: _apps.Content) -> tuple[str, str]:
    """(NOOP, SWITCH or STAGE, the entry that holds or will hold ``want``); RefusedError when
    the version is deployed on this base with other content."""
    cur = _apps.current(app_dir, version)
    found = _apps.trees(app_dir, version).get(want.base)
    legacy = cur is not None and _apps.is_legacy(app_dir, cur)
    if cur is not None and legacy and _apps.read_meta(app_dir, cur).get("base") == want.base:
        found = cur  # an older acc-py's deployment on this base
    if found is None:
        return STAGE, _apps.tree_name(version, want.base)
    have = _apps.content_of(app_dir, found)
    differs = "its files (made by an older acc-py)" if have is None else have.differs(want)
    if differs:
        raise RefusedError(
            f"{app} {version} is already deployed on base {want.base} in "
            f"{os.path.join(app_dir, found)}, and {differs} differ from this one's; a deployed "
            "version never changes: release a new version (raise it in the project)"
        )
    return (NOOP if found == cur else SWITCH), found


def deploy(args: argparse.Namespace, base: Base) -> int:
    wheel, lock = _target(args)
    reqs = read_lock(lock, base)
    root = _apps.deploy_base(args)
    if not os.path.isdir(root):
        os.makedirs(root)
    work = tempfile.mkdtemp(prefix=".acc-py-deploy-", dir=root)
    try:
        if wheel is None:
            wheel = _build_wheel(base, os.path.abspath(args.target), work)
        parts = os.path.basename(wheel)[: -len(".whl")].split("-")
        if len(parts) < 5:
            raise UsageError(f"{wheel} is not a wheel file name (name-version-tags.whl)")
        app, version = app_key(parts[0]), parts[1]
        app_dir = os.path.join(root, app)
        if not os.path.isdir(app_dir):
            os.makedirs(app_dir)
        want = _apps.content(base.version, reqs, wheel)
        with _apps.locked(app_dir):
            _apps.repair(app_dir, version)
            action, name = _decide(app_dir, app, version, want)
        final = os.path.join(app_dir, name)
        if action == NOOP:
            sys.stdout.write(
                f"{app} {version} is already deployed on base {base.version} in {final} with "
                "this lock and wheel: nothing changed\n"
            )
            return 0
        if action == STAGE:
            stage = tempfile.mkdtemp(prefix=f"{name}.tmp-", dir=app_dir)
            try:
                _stage(base, stage, final, app=app, version=version, wheel=wheel, lock=lock,
                       reqs=reqs, want=want)  # fmt: skip
                sync_tree(stage)
                try:
                    os.rename(stage, final)
                except OSError:
                    raise RefusedError(
                        f"{app} {version} appeared in {final} meanwhile (another deploy?); "
                        "nothing changed: deploy again"
                    ) from None
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            crash_point(f"staged {name}")
        with _apps.locked(app_dir):
            was = _apps.switch(app_dir, version, name)
            _apps.switch_link(app_dir, "latest", version)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(final, _apps.META), encoding="utf-8") as f:
        scripts = json.load(f)["scripts"]
    shown = os.path.join(app_dir, version)
    commands = ", ".join(os.path.join(shown, "exec", s) for s in scripts) or "(none)"
    how = "Deployed" if action == STAGE else "Switched back to the deployment of"
    lines = [
        f"{how} {app} {version} on base {base.version}: {shown} -> {name}; latest -> {version}",
        f"  commands: {commands}",
    ]
    if was is not None:
        lines.append(
            f"  previous: base {_apps.base_of(app_dir, was)} in {os.path.join(app_dir, was)}, "
            f"kept (back to it: acc-py app rollback {app} {version})"
        )
    lines.append(f"  make it pro: acc-py app promote {app} {version}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _stage(
    base: Base,
    stage: str,
    final: str,
    *,
    app: str,
    version: str,
    wheel: str,
    lock: str,
    reqs: list[str],
    want: _apps.Content,
) -> None:
    venv_dir = os.path.join(stage, "venv")
    final_venv = os.path.join(final, "venv")
    _venv.create(base, venv_dir, prompt=f"{app}-{version}", final_path=final_venv)
    python = os.path.join(venv_dir, "bin", "python")
    req_file = os.path.join(stage, "requirements.txt")
    shutil.copyfile(lock, req_file)
    if reqs:
        what = f"installing the lock of {app} {version}"
        _pip(python, "install", "--quiet", "--require-hashes", "-r", req_file, what=what)
    what = f"installing {os.path.basename(wheel)}"
    _pip(python, "install", "--quiet", "--no-deps", wheel, what=what)
    what = f"checking the dependencies of {app} {version} (is the lock up to date? acc-py app lock)"
    _pip(python, "check", what=what)
    scripts = _console_scripts(wheel)
    exec_dir = os.path.join(stage, "exec")
    os.mkdir(exec_dir)
    for script in scripts:
        path = os.path.join(exec_dir, script)
        target = shlex.quote(os.path.join(final_venv, "bin", script))
        text = _LAUNCHER.format(
            app=app, version=version, script=script, base=base.version, target=target
        )
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(path, 0o755)
    # what pip wrote names the stage's venv (shebangs): name the final one
    _apps.rewrite_paths(_apps.script_files(stage), venv_dir, final_venv)
    meta = {
        "app": app,
        "version": version,
        "base": base.version,
        "python": base.python_full,
        "wheel": os.path.basename(wheel),
        "scripts": scripts,
        "tree": os.path.basename(final),
        "content": want.to_json(),
    }
    with open(os.path.join(stage, _apps.META), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.chmod(stage, 0o755)

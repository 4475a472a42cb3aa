"""``acc-py app deploy|promote|run|list``: deployed applications under the deploy base.

Layout: ``<deploy-base>/<app>/<version>/`` holds ``venv/`` (a sealed venv on the base the lock
names: the lock's pins installed with --require-hashes, then the app's wheel with --no-deps,
then ``pip check``), ``exec/<script>`` launchers of its console scripts, ``requirements.txt``
(the lock) and ``app.json``. ``<app>/latest`` and ``<app>/pro`` are relative symlinks to a
version, switched atomically (a new symlink renamed over the old one).

A deployment is staged in ``<app>/.<version>.tmp-*`` and renamed into place at the very end:
any failure removes the stage and leaves every deployed version and symlink as it was.
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
from typing import List, Tuple

from accpy_core.errors import BaseError, RefusedError, UsageError
from accpy_core.fs import switch_symlink
from accpy_core.proc import clean_env, run

from . import venv as _venv
from ._base import Base
from .app import LOCK_DIR, read_lock

#: a sort key of an application version: numbers compare as numbers
VersionKey = List[Tuple[int, int, str]]
_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")

_LAUNCHER = """#!/bin/sh
# {app} {version}: the {script} command, deployed by `acc-py app deploy` on the
# Acc-Py base {base}. The environment cannot change which packages it runs.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE PYTHONNOUSERSITE
exec {target} "$@"
"""


def deploy_base(args: argparse.Namespace) -> str:
    d = args.deploy_base or os.environ.get("ACC_PY_DEPLOY_BASE")
    return os.path.abspath(d or os.path.join(os.path.expanduser("~"), "acc-py-apps"))


def app_key(name: str) -> str:
    """The directory name of an application: its wheel name, lower case (my-app -> my_app)."""
    return "".join(c if c.isalnum() or c == "." else "_" for c in name.lower())


def _version_key(v: str) -> VersionKey:
    key: VersionKey = []
    num = ""
    for c in v + " ":
        if c.isdigit():
            num += c
            continue
        if num:
            key.append((0, int(num), ""))
            num = ""
        if c not in ". ":
            key.append((1, 0, c))
    return key


def _switch(app_dir: str, link: str, version: str) -> None:
    """Point ``app_dir/link`` at ``version``: a new symlink renamed over the old one."""
    switch_symlink(os.path.join(app_dir, link), version)


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


def _fix_shebangs(bindir: str, old: str, new: str) -> None:
    """Scripts pip wrote in the stage name the stage's python: name the final one."""
    old_b = ("#!" + old).encode()
    for name in os.listdir(bindir):
        path = os.path.join(bindir, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data.startswith(old_b):
            with open(path, "wb") as f:
                f.write(("#!" + new).encode() + data[len(old_b) :])


def deploy(args: argparse.Namespace, base: Base) -> int:
    target = os.path.abspath(args.target)
    wheel: str | None
    if target.endswith(".whl") and os.path.isfile(target):
        wheel = target
        lock = args.lock or os.path.join(os.getcwd(), LOCK_DIR, "requirements.txt")
    elif os.path.isdir(target):
        wheel = None
        lock = args.lock or os.path.join(target, LOCK_DIR, "requirements.txt")
    else:
        raise UsageError(f"{args.target} is neither a project directory nor a wheel file")
    lock = os.path.abspath(lock)
    reqs = read_lock(lock, base)
    root = deploy_base(args)
    if not os.path.isdir(root):
        os.makedirs(root)
    work = tempfile.mkdtemp(prefix=".acc-py-deploy-", dir=root)
    try:
        if wheel is None:
            wheel = _build_wheel(base, target, work)
        parts = os.path.basename(wheel)[: -len(".whl")].split("-")
        if len(parts) < 5:
            raise UsageError(f"{wheel} is not a wheel file name (name-version-tags.whl)")
        app, version = app_key(parts[0]), parts[1]
        app_dir = os.path.join(root, app)
        final = os.path.join(app_dir, version)
        if os.path.lexists(final):
            raise RefusedError(
                f"{app} {version} is already deployed in {final}; deployed versions are never "
                "replaced: release a new version"
            )
        if not os.path.isdir(app_dir):
            os.makedirs(app_dir)
        stage = tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=app_dir)
        try:
            _stage(base, stage, final, app=app, version=version, wheel=wheel, reqs=reqs, lock=lock)
            try:
                os.rename(stage, final)
            except OSError:
                raise RefusedError(
                    f"{app} {version} appeared in {final} meanwhile (another deploy?); nothing "
                    "changed"
                ) from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _switch(app_dir, "latest", version)
    with open(os.path.join(final, "app.json"), encoding="utf-8") as f:
        scripts = json.load(f)["scripts"]
    commands = ", ".join(os.path.join(final, "exec", s) for s in scripts) or "(none)"
    sys.stdout.write(
        f"Deployed {app} {version} in {final} (base {base.version}); latest -> {version}\n"
        f"  commands: {commands}\n"
        f"  make it pro: acc-py app promote {app} {version}\n"
    )
    return 0


def _stage(
    base: Base,
    stage: str,
    final: str,
    *,
    app: str,
    version: str,
    wheel: str,
    reqs: list[str],
    lock: str,
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
    _fix_shebangs(os.path.join(venv_dir, "bin"), venv_dir, final_venv)
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
    meta = {
        "app": app,
        "version": version,
        "base": base.version,
        "python": base.python_full,
        "wheel": os.path.basename(wheel),
        "scripts": scripts,
    }
    with open(os.path.join(stage, "app.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.chmod(stage, 0o755)


def _versions(app_dir: str) -> list[str]:
    out = []
    for name in os.listdir(app_dir):
        full = os.path.join(app_dir, name)
        if (
            not name.startswith(".")
            and not os.path.islink(full)
            and os.path.isfile(os.path.join(full, "app.json"))
        ):
            out.append(name)
    return sorted(out, key=_version_key)


def _deployed(root: str) -> list[str]:
    """The applications deployed in ``root``."""
    if not os.path.isdir(root):
        return []
    return sorted(
        n
        for n in os.listdir(root)
        if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
    )


def _app_dir(root: str, app: str) -> str:
    app_dir = os.path.join(root, app_key(app))
    if not os.path.isdir(app_dir):
        known = ", ".join(_deployed(root)) or "none"
        raise UsageError(f"no application {app} in {root} (deployed: {known})")
    return app_dir


def promote(args: argparse.Namespace, base: Base) -> int:
    app_dir = _app_dir(deploy_base(args), args.app)
    versions = _versions(app_dir)
    if args.version not in versions:
        raise UsageError(
            f"{args.app} {args.version} is not deployed (versions: {', '.join(versions) or 'none'})"
        )
    _switch(app_dir, "pro", args.version)
    sys.stdout.write(f"{os.path.basename(app_dir)}: pro -> {args.version}\n")
    return 0


def _link(app_dir: str, name: str) -> str | None:
    path = os.path.join(app_dir, name)
    return os.readlink(path) if os.path.islink(path) else None


def _own_options(args: argparse.Namespace, argv: list[str]) -> list[str]:
    """``run APP --version V --script S -- ARGS``: acc-py's options may follow APP; the first
    other word (or ``--``) starts the application's arguments."""
    options = (
        ("--version", "app_version"),
        ("--script", "script"),
        ("--deploy-base", "deploy_base"),
    )
    while argv:
        a = argv[0]
        for opt, dest in options:
            if a == opt and len(argv) > 1:
                setattr(args, dest, argv[1])
                argv = argv[2:]
                break
            if a.startswith(opt + "="):
                setattr(args, dest, a[len(opt) + 1 :])
                argv = argv[1:]
                break
        else:
            if a == "--":
                argv = argv[1:]
            break
    return argv


def _choose_script(args: argparse.Namespace, version: str, exec_dir: str) -> str:
    scripts = sorted(os.listdir(exec_dir)) if os.path.isdir(exec_dir) else []
    if args.script:
        chosen = args.script if args.script in scripts else None
    else:
        key = app_key(args.app)
        named = [s for s in scripts if app_key(s) == key]
        chosen = named[0] if named else (scripts[0] if len(scripts) == 1 else None)
    if chosen is None:
        has = "the commands " + ", ".join(scripts) if scripts else "no command"
        raise UsageError(
            f"{args.app} {version} has {has}; choose one with: acc-py app run --script NAME "
            f"{args.app}"
        )
    return str(chosen)


def run_app(args: argparse.Namespace, base: Base) -> int:
    argv = _own_options(args, list(args.args))
    app_dir = _app_dir(deploy_base(args), args.app)
    version = args.app_version or _link(app_dir, "pro")
    deployed = ", ".join(_versions(app_dir)) or "none"
    if version is None:
        raise UsageError(
            f"{args.app} has no pro version; promote one: acc-py app promote {args.app} VERSION "
            f"(deployed: {deployed})"
        )
    vdir = os.path.join(app_dir, version)
    if not os.path.isfile(os.path.join(vdir, "app.json")):
        raise UsageError(f"{args.app} {version} is not deployed (versions: {deployed})")
    home = _venv.read_cfg(os.path.join(vdir, "venv")).get("home", "")
    if home and not os.path.isdir(home):
        raise BaseError(
            f"{args.app} {version} runs on the Acc-Py base at {os.path.dirname(home)}, which is "
            "not installed any more; deploy it again on an installed base"
        )
    path = os.path.join(vdir, "exec", _choose_script(args, version, os.path.join(vdir, "exec")))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path, *argv])


def list_apps(args: argparse.Namespace, base: Base) -> int:
    root = deploy_base(args)
    apps = _deployed(root)
    if not apps:
        sys.stdout.write(f"no application deployed in {root}\n")
        return 0
    lines = [f"applications in {root}:"]
    for app in apps:
        app_dir = os.path.join(root, app)
        latest, pro = _link(app_dir, "latest"), _link(app_dir, "pro")
        lines.append(app)
        for v in _versions(app_dir):
            tags = [t for t, target in (("latest", latest), ("pro", pro)) if target == v]
            lines.append(f"  {v:<16} {' '.join(tags)}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

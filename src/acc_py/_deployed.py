"""``acc-py app promote|rollback|run|list``: the deployed applications (:mod:`acc_py._apps`).

``promote`` and ``rollback`` switch one symlink each (``pro``; ``<version>`` and the previous
one); ``run`` resolves the version's tree once and execs its launcher, so the process runs from
that tree to its end whatever is switched meanwhile.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Tuple

from accpy_core.errors import BaseError, UsageError
from accpy_core.fs import read_link

from . import _apps
from . import venv as _venv
from ._apps import app_key
from ._base import Base

#: a sort key of an application version: numbers compare as numbers
VersionKey = List[Tuple[int, int, str]]


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


def _versions(app_dir: str) -> list[str]:
    return sorted(_apps.versions(app_dir), key=_version_key)


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


def _known(app_dir: str, app: str, version: str) -> str:
    """The entry of ``app_dir`` that holds ``version``'s current deployment; UsageError if none."""
    found = _apps.current(app_dir, version)
    if found is None:
        deployed = ", ".join(_versions(app_dir)) or "none"
        raise UsageError(f"{app} {version} is not deployed (versions: {deployed})")
    return found


def promote(args: argparse.Namespace, base: Base) -> int:
    app_dir = _app_dir(_apps.deploy_base(args), args.app)
    with _apps.locked(app_dir):
        _known(app_dir, args.app, args.version)
        _apps.switch_link(app_dir, "pro", args.version)
    sys.stdout.write(f"{os.path.basename(app_dir)}: pro -> {args.version}\n")
    return 0


def _check_base(app: str, version: str, top: str) -> None:
    """BaseError unless the base the deployment ``top`` runs on is still installed."""
    home = _venv.read_cfg(os.path.join(top, "venv")).get("home", "")
    if home and not os.path.isdir(home):
        raise BaseError(
            f"{app} {version} runs on the Acc-Py base at {os.path.dirname(home)}, which is "
            "not installed any more; deploy it again on an installed base"
        )


def rollback(args: argparse.Namespace, base: Base) -> int:
    """``rollback APP VERSION``: VERSION back to the deployment it was switched away from (on
    the base it ran on before); run again to undo."""
    app_dir = _app_dir(_apps.deploy_base(args), args.app)
    app, version = os.path.basename(app_dir), args.version
    with _apps.locked(app_dir):
        _apps.repair(app_dir, version)
        cur = _known(app_dir, app, version)
        back = _apps.previous(app_dir, version)
        if back is None:
            raise UsageError(
                f"{app} {version} has no previous deployment to roll back to (it runs on base "
                f"{_apps.base_of(app_dir, cur)}); deploy it on another base with: acc-py app "
                "deploy PROJECT --base-python=VERSION"
            )
        _check_base(app, version, os.path.join(app_dir, back))
        _apps.switch(app_dir, version, back)
    sys.stdout.write(
        f"{app} {version}: back on base {_apps.base_of(app_dir, back)} ({version} -> {back}); "
        f"base {_apps.base_of(app_dir, cur)} kept (undo: acc-py app rollback {app} {version})\n"
    )
    return 0


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
    app_dir = _app_dir(_apps.deploy_base(args), args.app)
    version = args.app_version or read_link(os.path.join(app_dir, "pro"))
    deployed = ", ".join(_versions(app_dir)) or "none"
    if version is None:
        raise UsageError(
            f"{args.app} has no pro version; promote one: acc-py app promote {args.app} VERSION "
            f"(deployed: {deployed})"
        )
    # the tree, resolved once: the process runs from it whatever <version> points at later
    vdir = os.path.join(app_dir, _known(app_dir, args.app, version))
    _check_base(args.app, version, vdir)
    path = os.path.join(vdir, "exec", _choose_script(args, version, os.path.join(vdir, "exec")))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path, *argv])


def list_apps(args: argparse.Namespace, base: Base) -> int:
    root = _apps.deploy_base(args)
    apps = _deployed(root)
    if not apps:
        sys.stdout.write(f"no application deployed in {root}\n")
        return 0
    lines = [f"applications in {root}:"]
    for app in apps:
        app_dir = os.path.join(root, app)
        latest = read_link(os.path.join(app_dir, "latest"))
        pro = read_link(os.path.join(app_dir, "pro"))
        lines.append(app)
        for v in _versions(app_dir):
            tags = " ".join(t for t, target in (("latest", latest), ("pro", pro)) if target == v)
            on = _apps.base_of(app_dir, _apps.current(app_dir, v) or v)
            back = _apps.previous(app_dir, v)
            before = f"previous: {_apps.base_of(app_dir, back)}" if back else ""
            lines.append(f"  {v:<16} {on:<9} {tags:<11} {before}".rstrip())
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

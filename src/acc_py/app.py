"""``acc-py app``: lock an application on the current base, deploy it, promote it, run it.

``lock [PROJECT]`` resolves the project's dependencies against the current base (pip's dry-run
report, in a throw-away venv with the base's packages) and writes, byte for byte the same for
the same inputs:

- ``deployment/app/requirements.txt``: headed ``### base_python: <base>``, every package the
  base does not provide, pinned with its sha256 (sorted by name);
- ``deployment/app/config.json``: the application's name and the base version.

Deployments live under the deploy base: ``--deploy-base``, else ``$ACC_PY_DEPLOY_BASE``, else
``~/acc-py-apps``: ``<deploy-base>/<app>/<version>`` leads to the version's deployment on one
base (``venv/``, ``exec/`` launchers of the console scripts, the lock and ``app.json``), with
the symlinks ``latest`` and ``pro`` beside; :mod:`acc_py._apps` has the layout. ``deploy`` is
in :mod:`acc_py._deploy`, the verbs promote, rollback, run and list in :mod:`acc_py._deployed`.

``lock`` and ``deploy`` take ``--base-python VERSION``: the base to lock against and deploy onto,
among those installed beside the active one (``<root>/base/VERSION``); that base's own acc-py
then does the work. Default: the active base.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any, List, Tuple

from accpy_core.errors import BaseError, ConfigError, RefusedError, UsageError
from accpy_core.fs import atomic_write
from accpy_core.names import METADATA_NAME
from accpy_core.proc import clean_env, quote_command, run
from accpy_core.versions import is_version, parse_date, version_key

from . import venv as _venv
from ._base import Base, normalize_name

HELP = "application deployment: lock, deploy, promote, rollback, run, list"
LOCK_DIR = os.path.join("deployment", "app")
HEADER = "### base_python: "
#: (name, version, sha256) of each package a lock pins
Pins = List[Tuple[str, str, str]]


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        f"{HELP}. Deploy base: --deploy-base, else $ACC_PY_DEPLOY_BASE, else ~/acc-py-apps."
    )
    p.set_defaults(app_parser=p)
    verbs = p.add_subparsers(dest="app_command", metavar="VERB")

    def deploy_base(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--deploy-base",
            metavar="DIR",
            help="where applications are deployed (default: $ACC_PY_DEPLOY_BASE or ~/acc-py-apps)",
        )

    def base_python(q: argparse.ArgumentParser, what: str) -> None:
        q.add_argument(
            "--base-python",
            metavar="VERSION",
            help=f"{what} the Acc-Py base VERSION (e.g. 2024.12) installed beside the active one "
            "(default: the active base)",
        )

    q = verbs.add_parser(
        "lock",
        help="pin the dependencies with hashes for the current base",
        description="Resolve PROJECT's dependencies against the current base (or --base-python) "
        "and write PROJECT/deployment/app/requirements.txt and config.json.",
    )
    q.add_argument(
        "project", nargs="?", default=".", metavar="PROJECT", help="project directory (default: .)"
    )
    base_python(q, "lock against")

    q = verbs.add_parser(
        "deploy",
        help="deploy a sealed venv of PROJECT or WHEEL",
        description="Build PROJECT's wheel (or take WHEEL) and deploy it with its lock as "
        "<deploy-base>/<app>/<version>; latest points at it. A version deployed on another base "
        "moves to this one (the old deployment is kept: acc-py app rollback); on the same base "
        "the same lock and wheel change nothing, other ones are refused.",
    )
    q.add_argument("target", metavar="PROJECT|WHEEL")
    q.add_argument(
        "--lock",
        metavar="FILE",
        help="the lock (default: PROJECT/deployment/app/requirements.txt, or "
        "./deployment/app/requirements.txt)",
    )
    deploy_base(q)
    base_python(q, "deploy onto")

    q = verbs.add_parser("promote", help="point pro at a deployed version")
    q.add_argument("app", metavar="APP")
    q.add_argument("version", metavar="VERSION")
    deploy_base(q)

    q = verbs.add_parser(
        "rollback",
        help="move a version back to the base it ran on before its last deploy",
        description="Point APP VERSION back at the deployment it was switched away from (the "
        "one on its previous base); processes running the current one keep running. Run it "
        "again to undo.",
    )
    q.add_argument("app", metavar="APP")
    q.add_argument("version", metavar="VERSION")
    deploy_base(q)

    q = verbs.add_parser(
        "run",
        help="run the pro version (or --version V), passing its exit code",
        description="Run APP's command from its pro version; arguments after APP go to the "
        "application (use -- before ones that look like options).",
    )
    q.add_argument("--version", dest="app_version", metavar="V", help="run this version")
    q.add_argument("--script", metavar="NAME", help="which console script, if APP has several")
    deploy_base(q)
    q.add_argument("app", metavar="APP")
    q.add_argument("args", nargs="...", metavar="ARGS")

    q = verbs.add_parser(
        "list", help="show each application's versions, the base each runs on, latest and pro"
    )
    deploy_base(q)


def execute(args: argparse.Namespace, base: Base) -> int:
    verb = args.app_command
    if verb is None:
        args.app_parser.print_help(sys.stderr)
        return UsageError.exit_code
    wanted = getattr(args, "base_python", None)
    if wanted is not None and wanted != base.version:
        return on_other_base(args, base, wanted)
    if verb == "lock":
        return execute_lock(args, base)
    from . import _deploy, _deployed

    verbs = {
        "deploy": _deploy.deploy,
        "promote": _deployed.promote,
        "rollback": _deployed.rollback,
        "run": _deployed.run_app,
        "list": _deployed.list_apps,
    }
    return verbs[verb](args, base)


def installed_beside(base: Base) -> list[str]:
    """The versions installed beside ``base`` (``<root>/base/<version>`` with an ACC-PY.json)."""
    root = os.path.dirname(base.dir)
    try:
        names = os.listdir(root)
    except OSError:
        return [base.version]
    found = [
        n for n in names if is_version(n) and os.path.isfile(os.path.join(root, n, METADATA_NAME))
    ]
    return sorted(set(found) | {base.version}, key=version_key)


def other_base(base: Base, wanted: str) -> Base:
    """The base ``wanted`` installed beside ``base``; refused unless it exists and has not
    reached its end of life."""
    if not is_version(wanted):
        raise UsageError(
            f"--base-python {wanted!r} is not a base version (YYYY.MM, e.g. {base.version})"
        )
    root = os.path.dirname(base.dir)
    other = os.path.join(root, wanted)
    if not os.path.isfile(os.path.join(other, METADATA_NAME)):
        raise BaseError(
            f"base {wanted} is not installed beside base {base.version} in {root} (installed: "
            f"{', '.join(installed_beside(base))}); install it with acc-py-install, or choose "
            "one of these"
        )
    from ._base import read_base

    found = read_base(other)
    eol = parse_date(found.end_of_life)
    if eol is not None and eol <= datetime.date.today():
        raise RefusedError(
            f"base {wanted} reached its end of life on {eol.isoformat()}: nothing is locked or "
            f"deployed on it; choose a base that is still supported: "
            f"{', '.join(v for v in installed_beside(base) if v != wanted)}"
        )
    return found


def on_other_base(args: argparse.Namespace, base: Base, wanted: str) -> int:
    """``lock``/``deploy --base-python V``: run the same verb with base V's own acc-py (its
    Python, its packages, its index), without the option; its exit code."""
    other = other_base(base, wanted)
    argv = ["-v"] if args.verbosity > 0 else []
    if args.app_command == "lock":
        argv += ["app", "lock", args.project]
    else:
        argv += ["app", "deploy", args.target]
        argv += ["--lock", args.lock] if args.lock else []
        argv += ["--deploy-base", args.deploy_base] if args.deploy_base else []
    launcher = os.path.join(other.dir, "bin", "acc-py")
    cmd = [launcher, *argv]
    env = dict(os.environ, ACC_PY_BASE=other.dir, ACC_PY_BASE_VERSION=other.version)
    sys.stderr.write(f"acc-py: on base {other.version}: {quote_command(cmd)}\n")
    sys.stderr.flush()
    try:
        return subprocess.call(cmd, env=env)
    except OSError as exc:
        raise BaseError(
            f"cannot run {launcher} ({exc.strerror}): the base {wanted} is incomplete; reinstall it"
        ) from None


def _hash(item: dict[str, Any]) -> str | None:
    info = (item.get("download_info") or {}).get("archive_info") or {}
    hashes = info.get("hashes") or {}
    if hashes.get("sha256"):
        return str(hashes["sha256"])
    legacy = info.get("hash") or ""  # pip 22.2: "sha256=<hex>"
    if legacy.startswith("sha256="):
        return str(legacy[len("sha256=") :])
    return None


def resolve(base: Base, project: str) -> tuple[str | None, Pins]:
    """(app name, [(name, version, sha256)]) of what PROJECT needs beyond the base."""
    tmp = tempfile.mkdtemp(prefix="acc-py-lock-")
    try:
        env = _venv.create(base, os.path.join(tmp, "venv"))
        report = os.path.join(tmp, "report.json")
        python = os.path.join(env, "bin", "python")
        run(
            [python, "-m", "pip", "install", "--dry-run", "--quiet", "--report", report, project],
            env=clean_env(user=True),
            what=f"resolving the dependencies of {project} on base {base.version}",
        )
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    app = None
    pins: Pins = []
    for item in data.get("install", []):
        meta = item.get("metadata") or {}
        info = item.get("download_info") or {}
        if "dir_info" in info:  # the project itself (or another local directory)
            if item.get("is_direct") and app is None:
                app = meta.get("name")
                continue
            raise ConfigError(
                f"{meta.get('name')} comes from the directory {info.get('url')} and cannot be "
                "pinned with a hash; publish it to the index"
            )
        digest = _hash(item)
        if not digest:
            raise ConfigError(
                f"{meta.get('name')} {meta.get('version')} has no sha256 in pip's report (a VCS "
                "dependency?); depend on a released version"
            )
        pins.append((meta["name"], meta["version"], digest))
    pins.sort(key=lambda p: normalize_name(p[0]))
    return app, pins


def render_lock(base: Base, app: str, pins: Pins) -> str:
    lines = [
        HEADER + base.version,
        f"# Locked by `acc-py app lock` for {app} on the Acc-Py base {base.version} "
        f"(Python {base.python_version}).",
        f"# What {app} needs beyond the base's own packages, pinned with hashes;",
        "# `acc-py app deploy` installs it with --require-hashes.",
        "# Edit the project's dependencies, not this file, and lock again.",
    ]
    if not pins:
        lines.append("# (nothing: the base provides every dependency)")
    for name, version, digest in pins:
        lines.append(f"{normalize_name(name)}=={version} \\\n    --hash=sha256:{digest}")
    return "\n".join(lines) + "\n"


def render_config(base: Base, app: str) -> str:
    config = {"app": app, "base_python": base.version, "python": base.python_version}
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def _write_if_changed(path: str, text: str) -> bool:
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    atomic_write(path, text)
    return True


def execute_lock(args: argparse.Namespace, base: Base) -> int:
    project = os.path.abspath(args.project)
    if not any(os.path.isfile(os.path.join(project, f)) for f in ("pyproject.toml", "setup.py")):
        raise UsageError(
            f"{project} is not a Python project (no pyproject.toml or setup.py); give the "
            "project directory: acc-py app lock PROJECT"
        )
    app, pins = resolve(base, project)
    if not app:
        raise ConfigError(
            f"pip's report does not name the project {project} itself; is it already installed "
            "in the base?"
        )
    out = os.path.join(project, LOCK_DIR)
    if not os.path.isdir(out):
        os.makedirs(out)
    written = [
        _write_if_changed(os.path.join(out, "requirements.txt"), render_lock(base, app, pins)),
        _write_if_changed(os.path.join(out, "config.json"), render_config(base, app)),
    ]
    changed = any(written)
    sys.stdout.write(
        f"{'Wrote' if changed else 'Unchanged:'} {os.path.join(out, 'requirements.txt')} for "
        f"{app} on base {base.version}: {len(pins)} package(s) beyond the base"
        f"{'' if changed else ' (already up to date)'}\n"
    )
    return 0


def read_lock(path: str, base: Base) -> list[str]:
    """The requirement lines of a lock made on this base; ConfigError/BaseError otherwise."""
    again = "make it with: acc-py app lock"
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise UsageError(f"there is no lock {path}; {again}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the lock {path} ({exc.strerror}); {again}") from None
    wanted, reqs = parse_lock(text, path)
    if wanted != base.version:
        root = os.path.dirname(base.dir)
        other = os.path.join(root, wanted)
        if os.path.isdir(other):
            hint = f"deploy on that base with --base-python={wanted}"
        else:
            hint = f"base {wanted} is not installed in {root}"
        raise BaseError(
            f"the lock {path} was made on the Acc-Py base {wanted}, this is base {base.version}; "
            f"{hint}, or lock again on {base.version}"
        )
    return reqs


def parse_lock(text: str, path: str) -> tuple[str, list[str]]:
    """(the base it names, its requirement lines: ``name==version --hash=sha256:...``, each
    with single spaces) of the lock ``text`` read from ``path``; ConfigError if it is none."""
    first = text.split("\n", 1)[0]
    wanted = first[len(HEADER) :].strip() if first.startswith(HEADER) else ""
    if not is_version(wanted):
        raise ConfigError(
            f"{path} is not an acc-py lock: its first line must be "
            f"'{HEADER.strip()} <base version>'; make it with: acc-py app lock"
        )
    reqs = []
    for lineno, raw in enumerate(text.replace("\\\n", " ").split("\n"), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec = line.split()[0]
        if "==" not in spec or "--hash=sha256:" not in line:
            raise ConfigError(
                f"{path}: entry {lineno} ({spec}) is not pinned with == and --hash=sha256:; "
                "lock again with: acc-py app lock"
            )
        reqs.append(" ".join(line.split()))
    return wanted, reqs

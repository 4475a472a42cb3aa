"""``acc-py app``: lock an application on the current base, deploy it, promote it, run it.

``lock [PROJECT]`` resolves the project's dependencies against the current base (pip's dry-run
report, in a throw-away venv with the base's packages) and writes, byte for byte the same for
the same inputs:

- ``deployment/app/requirements.txt``: headed ``### base_python: <base>``, every package the
  base does not provide, pinned with its sha256 (sorted by name);
- ``deployment/app/config.json``: the application's name and the base version.

Deployments live under the deploy base: ``--deploy-base``, else ``$ACC_PY_DEPLOY_BASE``, else
``~/acc-py-apps``: ``<deploy-base>/<app>/<version>/`` (``venv/``, ``exec/`` launchers of the
console scripts, the lock and ``app.json``), with the symlinks ``latest`` and ``pro`` beside.
The verbs deploy, promote, run and list are in :mod:`acc_py._deploy`.
"""
import os
import sys

from ._base import AccPyError, UsageError, clean_env, normalize_name, run

HELP = "application deployment: lock, deploy, promote, run, list"
LOCK_DIR = os.path.join("deployment", "app")
HEADER = "### base_python: "


class LockError(AccPyError):
    exit_code = 6


def configure_parser(sub):
    p = sub.add_parser("app", help=HELP, description=HELP + ". Deploy base: --deploy-base, "
                       "else $ACC_PY_DEPLOY_BASE, else ~/acc-py-apps.")
    verbs = p.add_subparsers(dest="app_command", metavar="VERB")

    def deploy_base(q):
        q.add_argument("--deploy-base", metavar="DIR",
                       help="where applications are deployed (default: $ACC_PY_DEPLOY_BASE or "
                       "~/acc-py-apps)")

    q = verbs.add_parser("lock", help="pin the dependencies with hashes for the current base",
                         description="Resolve PROJECT's dependencies against the current base "
                         "and write PROJECT/deployment/app/requirements.txt and config.json.")
    q.add_argument("project", nargs="?", default=".", metavar="PROJECT",
                   help="project directory (default: .)")
    q.set_defaults(func=execute_lock)

    q = verbs.add_parser("deploy", help="deploy a sealed venv of PROJECT or WHEEL",
                         description="Build PROJECT's wheel (or take WHEEL) and deploy it with its "
                         "lock into <deploy-base>/<app>/<version>/; latest points at it.")
    q.add_argument("target", metavar="PROJECT|WHEEL")
    q.add_argument("--lock", metavar="FILE", help="the lock (default: PROJECT/"
                   "deployment/app/requirements.txt, or ./deployment/app/requirements.txt)")
    deploy_base(q)
    q.set_defaults(func=_lazy("deploy"))

    q = verbs.add_parser("promote", help="point pro at a deployed version")
    q.add_argument("app", metavar="APP")
    q.add_argument("version", metavar="VERSION")
    deploy_base(q)
    q.set_defaults(func=_lazy("promote"))

    q = verbs.add_parser("run", help="run the pro version (or --version V), passing its exit code",
                         description="Run APP's command from its pro version; arguments after APP "
                         "go to the application (use -- before ones that look like options).")
    q.add_argument("--version", dest="app_version", metavar="V", help="run this version")
    q.add_argument("--script", metavar="NAME", help="which console script, if APP has several")
    deploy_base(q)
    q.add_argument("app", metavar="APP")
    q.add_argument("args", nargs="...", metavar="ARGS")
    q.set_defaults(func=_lazy("run_app"))

    q = verbs.add_parser("list", help="show each application's versions, latest and pro")
    deploy_base(q)
    q.set_defaults(func=_lazy("list_apps"))
    p.set_defaults(func=lambda args, base: _no_verb(p))


def _no_verb(parser):
    parser.print_help(sys.stderr)
    return 2


def _lazy(name):
    def call(args, base):
        from . import _deploy

        return getattr(_deploy, name)(args, base)

    return call


def _hash(item):
    info = (item.get("download_info") or {}).get("archive_info") or {}
    hashes = info.get("hashes") or {}
    if hashes.get("sha256"):
        return hashes["sha256"]
    legacy = info.get("hash") or ""  # pip 22.2: "sha256=<hex>"
    if legacy.startswith("sha256="):
        return legacy[len("sha256="):]
    return None


def resolve(base, project, verbose=False):
    """(app name, [(name, version, sha256)]) of what PROJECT needs beyond the base."""
    import json
    import shutil
    import tempfile

    from . import venv as _venv

    tmp = tempfile.mkdtemp(prefix="acc-py-lock-")
    try:
        env = _venv.create(base, os.path.join(tmp, "venv"))
        report = os.path.join(tmp, "report.json")
        run([os.path.join(env, "bin", "python"), "-m", "pip", "install", "--dry-run", "--quiet",
             "--report", report, project],
            "resolving the dependencies of %s on base %s" % (project, base.version), verbose,
            env=clean_env())
        with open(report, encoding="utf-8") as f:
            data = json.load(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    app = None
    pins = []
    for item in data.get("install", []):
        meta = item.get("metadata") or {}
        info = item.get("download_info") or {}
        if "dir_info" in info:  # the project itself (or another local directory)
            if item.get("is_direct") and app is None:
                app = meta.get("name")
                continue
            raise LockError("%s comes from the directory %s and cannot be pinned with a hash; "
                            "publish it to the index" % (meta.get("name"), info.get("url")))
        digest = _hash(item)
        if not digest:
            raise LockError("%s %s has no sha256 in pip's report (a VCS dependency?); depend "
                            "on a released version" % (meta.get("name"), meta.get("version")))
        pins.append((meta["name"], meta["version"], digest))
    pins.sort(key=lambda p: normalize_name(p[0]))
    return app, pins


def render_lock(base, app, pins):
    lines = [
        HEADER + base.version,
        "# Locked by `acc-py app lock` for %s on the Acc-Py base %s (Python %s)."
        % (app, base.version, base.python_version),
        "# What %s needs beyond the base's own packages, pinned with hashes;" % app,
        "# `acc-py app deploy` installs it with --require-hashes.",
        "# Edit the project's dependencies, not this file, and lock again.",
    ]
    if not pins:
        lines.append("# (nothing: the base provides every dependency)")
    for name, version, digest in pins:
        lines.append("%s==%s \\\n    --hash=sha256:%s" % (normalize_name(name), version, digest))
    return "\n".join(lines) + "\n"


def render_config(base, app):
    import json

    return json.dumps({"app": app, "base_python": base.version,
                       "python": base.python_version}, indent=2, sort_keys=True) + "\n"


def _write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return False
    except OSError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def execute_lock(args, base):
    project = os.path.abspath(args.project)
    if not any(os.path.isfile(os.path.join(project, f)) for f in ("pyproject.toml", "setup.py")):
        raise UsageError("%s is not a Python project (no pyproject.toml or setup.py); give the "
                         "project directory: acc-py app lock PROJECT" % project)
    app, pins = resolve(base, project, args.verbose)
    if not app:
        raise LockError("pip's report does not name the project %s itself; is it already "
                        "installed in the base?" % project)
    out = os.path.join(project, LOCK_DIR)
    if not os.path.isdir(out):
        os.makedirs(out)
    changed = [
        name for name, text in (("requirements.txt", render_lock(base, app, pins)),
                                ("config.json", render_config(base, app)))
        if _write_if_changed(os.path.join(out, name), text)
    ]
    sys.stdout.write("%s %s for %s on base %s: %d package(s) beyond the base%s\n" % (
        "Wrote" if changed else "Unchanged:", os.path.join(out, "requirements.txt"), app,
        base.version, len(pins), "" if changed else " (already up to date)"))
    return 0


def read_lock(path, base):
    """The requirement lines of a lock made on this base; LockError/BaseError otherwise."""
    from ._base import BaseError

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise LockError("cannot read the lock %s (%s); make it with: acc-py app lock"
                        % (path, exc.strerror)) from None
    first = text.split("\n", 1)[0]
    if not first.startswith(HEADER) or not first[len(HEADER):].strip():
        raise LockError("%s is not an acc-py lock: its first line must be '%s<base version>'; "
                        "make it with: acc-py app lock" % (path, HEADER.strip()))
    wanted = first[len(HEADER):].strip()
    if wanted != base.version:
        other = os.path.join(os.path.dirname(base.dir), wanted)
        if os.path.isdir(other):
            hint = "deploy with that base: %s app deploy ..." % os.path.join(other, "bin", "acc-py")
        else:
            hint = "base %s is not installed in %s" % (wanted, os.path.dirname(base.dir))
        raise BaseError("the lock %s was made on the Acc-Py base %s, this is base %s; %s, or "
                        "lock again on %s" % (path, wanted, base.version, hint, base.version))
    reqs = []
    for lineno, line in enumerate(text.replace("\\\n", " ").split("\n"), start=1):
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        spec = line.split()[0]
        if "==" not in spec or "--hash=sha256:" not in line:
            raise LockError("%s: entry %d (%s) is not pinned with == and --hash=sha256:; lock "
                            "again with: acc-py app lock" % (path, lineno, spec))
        reqs.append(line.strip())
    return reqs

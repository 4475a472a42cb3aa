"""``acc-py app deploy|promote|run|list``: deployed applications under the deploy base.

Layout: ``<deploy-base>/<app>/<version>/`` holds ``venv/`` (a sealed venv on the base the lock
names: the lock's pins installed with --require-hashes, then the app's wheel with --no-deps,
then ``pip check``), ``exec/<script>`` launchers of its console scripts, ``requirements.txt``
(the lock) and ``app.json``. ``<app>/latest`` and ``<app>/pro`` are relative symlinks to a
version, switched atomically (a new symlink renamed over the old one).

A deployment is staged in ``<app>/.<version>.tmp-*`` and renamed into place at the very end:
any failure removes the stage and leaves every deployed version and symlink as it was.
"""
import os
import re
import shlex
import shutil
import sys
import tempfile

from . import venv as _venv
from ._base import BaseError, RefusedError, UsageError, clean_env, run
from .app import LOCK_DIR, read_lock


def deploy_base(args):
    d = args.deploy_base or os.environ.get("ACC_PY_DEPLOY_BASE") or os.path.join(
        os.path.expanduser("~"), "acc-py-apps")
    return os.path.abspath(d)


def app_key(name):
    """The directory name of an application: its wheel name, lower case (my-app -> my_app)."""
    out = []
    for c in name.lower():
        out.append(c if c.isalnum() or c == "." else "_")
    return "".join(out)


def _version_key(v):
    key = []
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


def _switch(app_dir, link, version):
    """Point ``app_dir/link`` at ``version``: a new symlink renamed over the old one."""
    tmp = os.path.join(app_dir, ".%s.tmp-%d" % (link, os.getpid()))
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(version, tmp)
    os.replace(tmp, os.path.join(app_dir, link))


def _build_wheel(base, project, out, verbose):
    run([base.python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", out, project],
        "building the wheel of %s" % project, verbose, env=clean_env())
    wheels = [f for f in os.listdir(out) if f.endswith(".whl")]
    if len(wheels) != 1:
        raise UsageError("building %s gave %d wheels, expected one" % (project, len(wheels)))
    return os.path.join(out, wheels[0])


def _console_scripts(wheel):
    import zipfile

    scripts = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            parts = name.split("/")
            if len(parts) == 2 and parts[0].endswith(".dist-info") and \
                    parts[1] == "entry_points.txt":
                section = None
                for line in zf.read(name).decode("utf-8").splitlines():
                    line = line.strip()
                    if line.startswith("["):
                        section = line.strip("[] ")
                    elif section == "console_scripts" and "=" in line:
                        scripts.append(line.split("=", 1)[0].strip())
    for script in scripts:
        # the name becomes a file in exec/ and a word in a shell script: nothing but a name
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", script):
            raise UsageError(
                "%s declares a console script named %r, which is not a plain file name; "
                "rename it in the project's entry points" % (os.path.basename(wheel), script)
            )
    return sorted(scripts)


_LAUNCHER = """#!/bin/sh
# %(app)s %(version)s: the %(script)s command, deployed by `acc-py app deploy` on the
# Acc-Py base %(base)s. The environment cannot change which packages it runs.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE PYTHONNOUSERSITE
exec %(target)s "$@"
"""


def _fix_shebangs(bindir, old, new):
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
                f.write(("#!" + new).encode() + data[len(old_b):])


def deploy(args, base):
    import json

    target = os.path.abspath(args.target)
    if target.endswith(".whl") and os.path.isfile(target):
        project, wheel = None, target
        lock = args.lock or os.path.join(os.getcwd(), LOCK_DIR, "requirements.txt")
    elif os.path.isdir(target):
        project, wheel = target, None
        lock = args.lock or os.path.join(project, LOCK_DIR, "requirements.txt")
    else:
        raise UsageError("%s is neither a project directory nor a wheel file" % args.target)
    reqs = read_lock(os.path.abspath(lock), base)
    root = deploy_base(args)
    if not os.path.isdir(root):
        os.makedirs(root)
    work = tempfile.mkdtemp(prefix=".acc-py-deploy-", dir=root)
    try:
        if wheel is None:
            wheel = _build_wheel(base, project, work, args.verbose)
        parts = os.path.basename(wheel)[: -len(".whl")].split("-")
        if len(parts) < 5:
            raise UsageError("%s is not a wheel file name (name-version-tags.whl)" % wheel)
        app, version = app_key(parts[0]), parts[1]
        app_dir = os.path.join(root, app)
        final = os.path.join(app_dir, version)
        if os.path.lexists(final):
            raise RefusedError("%s %s is already deployed in %s; deployed versions are never "
                               "replaced: release a new version" % (app, version, final))
        if not os.path.isdir(app_dir):
            os.makedirs(app_dir)
        stage = tempfile.mkdtemp(prefix=".%s.tmp-" % version, dir=app_dir)
        try:
            _stage(base, args, stage, final, app, version, wheel, reqs, lock)
            try:
                os.rename(stage, final)
            except OSError:
                raise RefusedError("%s %s appeared in %s meanwhile (another deploy?); nothing "
                                   "changed" % (app, version, final)) from None
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _switch(app_dir, "latest", version)
    with open(os.path.join(final, "app.json"), encoding="utf-8") as f:
        scripts = json.load(f)["scripts"]
    sys.stdout.write(
        "Deployed %s %s in %s (base %s); latest -> %s\n  commands: %s\n"
        "  make it pro: acc-py app promote %s %s\n"
        % (app, version, final, base.version, version,
           ", ".join(os.path.join(final, "exec", s) for s in scripts) or "(none)", app, version))
    return 0


def _stage(base, args, stage, final, app, version, wheel, reqs, lock):
    import json

    venv_dir = os.path.join(stage, "venv")
    final_venv = os.path.join(final, "venv")
    _venv.create(base, venv_dir, prompt="%s-%s" % (app, version), final_path=final_venv)
    python = os.path.join(venv_dir, "bin", "python")
    if reqs:
        req_file = os.path.join(stage, "requirements.txt")
        shutil.copyfile(lock, req_file)
        run([python, "-m", "pip", "install", "--quiet", "--require-hashes", "-r", req_file],
            "installing the lock of %s %s" % (app, version), args.verbose, env=clean_env())
    else:
        shutil.copyfile(lock, os.path.join(stage, "requirements.txt"))
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", wheel],
        "installing %s" % os.path.basename(wheel), args.verbose, env=clean_env())
    run([python, "-m", "pip", "check"], "checking the dependencies of %s %s (is the lock "
        "up to date? acc-py app lock)" % (app, version), args.verbose, env=clean_env())
    _fix_shebangs(os.path.join(venv_dir, "bin"), venv_dir, final_venv)
    scripts = _console_scripts(wheel)
    exec_dir = os.path.join(stage, "exec")
    os.mkdir(exec_dir)
    for script in scripts:
        path = os.path.join(exec_dir, script)
        with open(path, "w", encoding="utf-8") as f:
            target = shlex.quote(os.path.join(final_venv, "bin", script))
            f.write(_LAUNCHER % {"app": app, "version": version, "script": script,
                                 "base": base.version, "target": target})
        os.chmod(path, 0o755)
    meta = {"app": app, "version": version, "base": base.version,
            "python": base.python_full, "wheel": os.path.basename(wheel), "scripts": scripts}
    with open(os.path.join(stage, "app.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.chmod(stage, 0o755)


def _versions(app_dir):
    out = []
    for name in os.listdir(app_dir):
        full = os.path.join(app_dir, name)
        if not name.startswith(".") and not os.path.islink(full) and \
                os.path.isfile(os.path.join(full, "app.json")):
            out.append(name)
    return sorted(out, key=_version_key)


def _app_dir(root, app):
    app_dir = os.path.join(root, app_key(app))
    if not os.path.isdir(app_dir):
        known = sorted(n for n in os.listdir(root) if not n.startswith(".")) \
            if os.path.isdir(root) else []
        raise UsageError("no application %s in %s (deployed: %s)"
                         % (app, root, ", ".join(known) or "none"))
    return app_dir


def promote(args, base):
    app_dir = _app_dir(deploy_base(args), args.app)
    versions = _versions(app_dir)
    if args.version not in versions:
        raise UsageError("%s %s is not deployed (versions: %s)"
                         % (args.app, args.version, ", ".join(versions) or "none"))
    _switch(app_dir, "pro", args.version)
    sys.stdout.write("%s: pro -> %s\n" % (os.path.basename(app_dir), args.version))
    return 0


def _link(app_dir, name):
    path = os.path.join(app_dir, name)
    return os.readlink(path) if os.path.islink(path) else None


def _own_options(args, argv):
    """``run APP --version V --script S -- ARGS``: acc-py's options may follow APP; the first
    other word (or ``--``) starts the application's arguments."""
    while argv:
        a = argv[0]
        for opt, dest in (("--version", "app_version"), ("--script", "script"),
                          ("--deploy-base", "deploy_base")):
            if a == opt and len(argv) > 1:
                setattr(args, dest, argv[1])
                argv = argv[2:]
                break
            if a.startswith(opt + "="):
                setattr(args, dest, a[len(opt) + 1:])
                argv = argv[1:]
                break
        else:
            if a == "--":
                argv = argv[1:]
            break
    return argv


def run_app(args, base):
    argv = _own_options(args, list(args.args))
    app_dir = _app_dir(deploy_base(args), args.app)
    version = args.app_version or _link(app_dir, "pro")
    if version is None:
        raise UsageError("%s has no pro version; promote one: acc-py app promote %s VERSION "
                         "(deployed: %s)" % (args.app, args.app,
                                             ", ".join(_versions(app_dir)) or "none"))
    vdir = os.path.join(app_dir, version)
    if not os.path.isfile(os.path.join(vdir, "app.json")):
        raise UsageError("%s %s is not deployed (versions: %s)"
                         % (args.app, version, ", ".join(_versions(app_dir)) or "none"))
    home = _venv.read_cfg(os.path.join(vdir, "venv")).get("home", "")
    if home and not os.path.isdir(home):
        raise BaseError("%s %s runs on the Acc-Py base at %s, which is not installed any more; "
                        "deploy it again on an installed base" % (args.app, version,
                                                                  os.path.dirname(home)))
    exec_dir = os.path.join(vdir, "exec")
    scripts = sorted(os.listdir(exec_dir)) if os.path.isdir(exec_dir) else []
    if args.script:
        chosen = args.script if args.script in scripts else None
    else:
        key = app_key(args.app)
        named = [s for s in scripts if app_key(s) == key]
        chosen = named[0] if named else (scripts[0] if len(scripts) == 1 else None)
    if chosen is None:
        raise UsageError("%s %s has %s; choose one with: acc-py app run --script NAME %s"
                         % (args.app, version, "the commands " + ", ".join(scripts)
                            if scripts else "no command", args.app))
    path = os.path.join(exec_dir, chosen)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(path, [path] + argv)


def list_apps(args, base):
    root = deploy_base(args)
    apps = sorted(n for n in os.listdir(root) if not n.startswith(".")
                  and os.path.isdir(os.path.join(root, n))) if os.path.isdir(root) else []
    if not apps:
        sys.stdout.write("no application deployed in %s\n" % root)
        return 0
    lines = ["applications in %s:" % root]
    for app in apps:
        app_dir = os.path.join(root, app)
        latest, pro = _link(app_dir, "latest"), _link(app_dir, "pro")
        lines.append(app)
        for v in _versions(app_dir):
            tags = [t for t, target in (("latest", latest), ("pro", pro)) if target == v]
            lines.append("  %-16s %s" % (v, " ".join(tags)))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0

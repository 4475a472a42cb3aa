"""The documented upgrade of a deployed application to another base, with real bases (2023.06:
CPython 3.11, 2024.12: CPython 3.13, as ``root_2412`` installs them), real processes and the
loopback site index:

```sh
source <root>/base/2024.12/setup.sh
cd /path/to/project/
acc-py app lock . --base-python=2024.12
acc-py app deploy . --base-python=2024.12
```

The version moves to the new base while a process of it runs on the old one; ``acc-py app run``
then starts the new one; the old deployment stays for ``rollback``; the same lock again changes
nothing, other content under the version is refused, a failure half-way changes nothing. A
deployment made by the acc-py before this layout (a real directory ``<app>/<version>``, by the
acc-py of commit ``LEGACY``) keeps working and is migrated, nothing of it lost.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path

from conftest import PROJECT, in_base
from servers import suite_ca

from accpy_core.errors import CommandError, RefusedError, UsageError

from . import test_acc_py as shared
from .test_acc_py import OTHER, VERSION, acc, file_list, ok, one_line_error, user_env, write_project

HOST_STORE = "/etc/ssl/certs/ca-certificates.crt"

#: the bases of test_acc_py: 2023.06, and 2024.12 installed beside it
root, root_2412 = shared.root, shared.root_2412

#: the last commit whose acc-py deployed ``<app>/<version>`` as a real directory
LEGACY = "41b2476c93ba74127885465ee89550d58268a708"

#: the application: says where it runs from at once, waits for a line on the fifo it is given,
#: then imports its dependency (only now: from the tree it started from) and says where from
MAIN = """import sys


def main():
    print("started", sys.prefix, flush=True)
    if sys.argv[1:]:
        with open(sys.argv[1]) as fifo:
            fifo.readline()
    import accpy_tinydep

    print("%d.%d" % sys.version_info[:2], sys.prefix, accpy_tinydep.__file__, flush=True)
"""


def project(proj: Path, name: str, version: str, dep: str = "accpy_tinydep==1.0") -> None:
    write_project(proj, name, version, [dep])
    (proj / name / "cli.py").write_text(MAIN)
    with (proj / "pyproject.toml").open("a") as f:
        f.write(f'[project.scripts]\n{name.replace("_", "-")} = "{name}.cli:main"\n')


def on_base(root: Path, base: str, apps: Path, proj: Path, commands: str) -> str:
    """``commands`` in bash after sourcing ``base``'s setup.sh, in ``proj``; their stdout."""
    body = f"export ACC_PY_DEPLOY_BASE={apps}\ncd {proj}\n{commands}"
    proc = in_base(root / "base" / base, body, proj.parent / "home")
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    return proc.stdout


UPGRADE = f"acc-py app lock . --base-python={OTHER}\nacc-py app deploy . --base-python={OTHER}"


def ran(tree: Path, python: str) -> list[str]:
    """What MAIN prints when it runs from ``tree`` on ``python``."""
    venv = tree / "venv"
    dep = venv / "lib" / f"python{python}" / "site-packages" / "accpy_tinydep" / "__init__.py"
    return [f"started {venv}", f"{python} {venv} {dep}"]


def stats(app_dir: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every entry of an application's directory, symlinks not followed."""
    return {p.name: (p.lstat().st_ino, p.lstat().st_mtime_ns) for p in sorted(app_dir.iterdir())}


def test_documented_upgrade_while_the_old_one_runs(root_2412: Path, tmp_path: Path) -> None:
    root, cwd = root_2412, tmp_path / "work"
    cwd.mkdir()
    proj, apps = cwd / "demo_live", cwd / "apps"
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}
    app_dir = apps / "demo_live"
    old, new = app_dir / f".0.1.0@{VERSION}", app_dir / f".0.1.0@{OTHER}"
    project(proj, "demo_live", "0.1.0")
    lock = proj / "deployment" / "app" / "requirements.txt"
    ok(acc(root, proj, "app", "lock"))
    old_lock = cwd / "requirements-2023.06.txt"
    old_lock.write_bytes(lock.read_bytes())
    ok(acc(root, proj, "app", "deploy", ".", **env))
    ok(acc(root, cwd, "app", "promote", "demo_live", "0.1.0", **env))
    assert os.readlink(app_dir / "0.1.0") == old.name

    # a process of 0.1.0 on 2023.06, started by `acc-py app run`, waits on a fifo
    fifo = cwd / "fifo"
    os.mkfifo(fifo)
    runner = [str(root / "base" / "pro" / "bin" / "acc-py"), "app", "run", "demo_live", str(fifo)]
    live = subprocess.Popen(
        runner, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env={**user_env(cwd.parent / "home"), **env},
    )  # fmt: skip
    try:
        assert live.stdout is not None
        assert live.stdout.readline() == f"started {old}/venv\n"

        out = on_base(root, OTHER, apps, proj, UPGRADE)  # the documentation's commands
        assert f"Deployed demo_live 0.1.0 on base {OTHER}" in out
        assert f"previous: base {VERSION} in {old}, kept" in out
        assert os.readlink(app_dir / "0.1.0") == new.name
        assert os.readlink(app_dir / ".0.1.0@previous") == old.name
        assert lock.read_text().startswith(f"### base_python: {OTHER}\n")

        with open(fifo, "w") as f:
            f.write("go\n")
        rest, err = live.communicate(timeout=300)
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    assert live.returncode == 0, err
    assert rest.splitlines() == ran(old, "3.11")[1:]  # its import came from its own tree

    assert ok(acc(root, cwd, "app", "run", "demo_live", **env)).splitlines() == ran(new, "3.13")
    listed = ok(acc(root, cwd, "app", "list", **env)).splitlines()
    assert listed[1:] == [
        "demo_live",
        f"  0.1.0            {OTHER}   latest pro  previous: {VERSION}",
    ]

    # the same lock on the same base again: nothing changes, not even a date
    deployed, before = file_list(apps), stats(app_dir)
    out = on_base(root, OTHER, apps, proj, f"acc-py app deploy . --base-python={OTHER}")
    assert f"already deployed on base {OTHER} in {new} with this lock and wheel" in out
    assert file_list(apps) == deployed and stats(app_dir) == before

    # other content under 0.1.0 on 2024.12: the app's code, or its pins
    cli = proj / "demo_live" / "cli.py"
    cli.write_text(MAIN + "# changed\n")
    for commands, differs in (
        (f"acc-py app deploy . --base-python={OTHER}", "the wheel's files"),
        (f"acc-py app deploy . --lock {old_lock} --base-python={VERSION}", "the wheel's files"),
    ):
        proc = in_base(root / "base" / OTHER, f"export ACC_PY_DEPLOY_BASE={apps}\ncd {proj}\n"
                       f"{commands}", cwd.parent / "home")  # fmt: skip
        one_line_error(proc, RefusedError, "already deployed", differs, "release a new version")
        assert file_list(apps) == deployed and stats(app_dir) == before
    cli.write_text(MAIN)
    good = lock.read_text()
    pin = next(line for line in good.splitlines() if line.startswith("accpy-tinydep=="))
    lock.write_text(good.replace(pin, "accpy-tinydep==2.0 \\"))
    proc = in_base(root / "base" / OTHER, f"export ACC_PY_DEPLOY_BASE={apps}\ncd {proj}\n"
                   f"acc-py app deploy .", cwd.parent / "home")  # fmt: skip
    one_line_error(proc, RefusedError, "the lock's pins differ", "release a new version")
    assert file_list(apps) == deployed and stats(app_dir) == before
    lock.write_text(good)

    # rollback to 2023.06 and back; the deploy of the old lock returns to the kept tree too
    out = ok(acc(root, cwd, "app", "rollback", "demo_live", "0.1.0", **env))
    assert f"back on base {VERSION}" in out
    assert ok(acc(root, cwd, "app", "run", "demo_live", **env)).splitlines() == ran(old, "3.11")
    ok(acc(root, cwd, "app", "rollback", "demo_live", "0.1.0", **env))
    assert ok(acc(root, cwd, "app", "run", "demo_live", **env)).splitlines() == ran(new, "3.13")
    one_line_error(acc(root, cwd, "app", "rollback", "demo_live", "9.9", **env), UsageError,
                   "not deployed", "0.1.0")  # fmt: skip
    out = on_base(root, OTHER, apps, proj, f"acc-py app deploy . --lock {old_lock} "
                  f"--base-python={VERSION}")  # fmt: skip
    assert f"Switched back to the deployment of demo_live 0.1.0 on base {VERSION}" in out
    assert os.readlink(app_dir / "0.1.0") == old.name
    assert stats(app_dir)[old.name] == before[old.name]  # the same tree, not a new one
    on_base(root, OTHER, apps, proj, f"acc-py app deploy . --base-python={OTHER}")
    assert os.readlink(app_dir / "0.1.0") == new.name

    # a failure half-way through an upgrade (the index unreachable) changes nothing
    project(proj, "demo_live", "0.2.0")
    ok(acc(root, proj, "app", "lock"))
    ok(acc(root, proj, "app", "deploy", ".", **env))
    on_base(root, OTHER, apps, proj, f"acc-py app lock . --base-python={OTHER}\n"
            f"python -m pip wheel --quiet --no-deps --wheel-dir {cwd / 'dist'} .")  # fmt: skip
    deployed, before = file_list(apps), stats(app_dir)
    (wheel,) = (cwd / "dist").glob("demo_live-0.2.0-*.whl")
    proc = in_base(
        root / "base" / OTHER,
        f"export ACC_PY_DEPLOY_BASE={apps} PIP_INDEX_URL=http://127.0.0.1:9/simple/ PIP_RETRIES=0\n"
        f"cd {proj}\nacc-py app deploy {wheel} --lock {lock} --base-python={OTHER}",
        cwd.parent / "home",
    )
    one_line_error(proc, CommandError, "installing the lock of demo_live 0.2.0")
    assert file_list(apps) == deployed and stats(app_dir) == before
    assert os.readlink(app_dir / "0.2.0") == f".0.2.0@{VERSION}"


def legacy_acc_py(root: Path, top: Path) -> list[str]:
    """The command of the acc-py of commit LEGACY, run by the 2023.06 base's Python."""
    src = top / "legacy"
    src.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(PROJECT), "archive", LEGACY, "src/acc_py", "src/accpy_core"],
        capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "x", "-C", str(src)], input=archive.stdout, check=True)
    code = f"import sys; sys.path.insert(0, {str(src / 'src')!r}); from acc_py.cli import main; "
    code += "sys.exit(main())"
    return [str(root / "base" / VERSION / "bin" / "python3"), "-E", "-s", "-c", code]


def test_a_deployment_of_the_older_acc_py_is_migrated(root_2412: Path, tmp_path: Path) -> None:
    """``<app>/1.0/`` as the older acc-py made it: run, listed, the same lock on its base is a
    no-op, other content refused; the upgrade moves it to ``.1.0@2023.06`` with every file,
    paths naming that tree (it runs by itself), rollback returns to it."""
    root, cwd = root_2412, tmp_path / "work"
    cwd.mkdir()
    proj, apps = cwd / "demo_old", cwd / "apps"
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}
    app_dir, tree = apps / "demo_old", apps / "demo_old" / f".1.0@{VERSION}"
    project(proj, "demo_old", "1.0")
    ok(acc(root, proj, "app", "lock"))
    older = legacy_acc_py(root, tmp_path)
    # the older acc-py's venvs have the pip of ensurepip, which trusts the host's store (and
    # this machine's /etc/pip.conf names it): a console's store holds the site's CA, this one
    # must be given the suite's
    store = tmp_path / "console-store.pem"
    store.write_text(Path(ssl.get_default_verify_paths().cafile or HOST_STORE).read_text()
                     + suite_ca().cert.read_text())  # fmt: skip
    full_env = {**user_env(cwd.parent / "home"), **env, "PIP_CERT": str(store)}
    for args in (["app", "deploy", "."], ["app", "promote", "demo_old", "1.0"]):
        proc = subprocess.run([*older, *args], cwd=proj, env=full_env, capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    legacy = app_dir / "1.0"
    assert legacy.is_dir() and not legacy.is_symlink()
    assert "content" not in (legacy / "app.json").read_text()  # made by the older acc-py
    assert ok(acc(root, cwd, "app", "run", "demo_old", **env)).splitlines() == ran(legacy, "3.11")
    listed = ok(acc(root, cwd, "app", "list", **env)).splitlines()
    assert listed[1:] == ["demo_old", f"  1.0              {VERSION}   latest pro"]

    deployed, before = file_list(apps), stats(app_dir)
    out = ok(acc(root, proj, "app", "deploy", ".", **env))  # the same lock and project
    assert f"already deployed on base {VERSION} in {legacy} with this lock and wheel" in out
    assert file_list(apps) == deployed and stats(app_dir) == before
    (proj / "demo_old" / "cli.py").write_text(MAIN + "# changed\n")
    one_line_error(acc(root, proj, "app", "deploy", ".", **env), RefusedError,
                   "the wheel's files", "release a new version")  # fmt: skip
    assert file_list(apps) == deployed and stats(app_dir) == before
    (proj / "demo_old" / "cli.py").write_text(MAIN)

    old_files = dict(file_list(legacy))
    on_base(root, OTHER, apps, proj, UPGRADE)
    assert os.readlink(legacy) == f".1.0@{OTHER}" and os.readlink(app_dir / "pro") == "1.0"
    new_tree = app_dir / f".1.0@{OTHER}"
    now = ok(acc(root, cwd, "app", "run", "demo_old", **env))
    assert now.splitlines() == ran(new_tree, "3.13")
    moved = dict(file_list(tree))
    assert sorted(moved) == sorted(old_files)  # every file of the old deployment
    changed = sorted(k for k in moved if moved[k] != old_files[k])
    assert all(k == "app.json" or k.startswith(("venv/bin/", "exec/")) or k == "venv/pyvenv.cfg"
               for k in changed), changed  # fmt: skip
    for name in changed:
        text = (tree / name).read_text()
        assert f"{legacy}/" not in text and (name == "app.json" or f"{tree}/venv" in text), name
    alone = subprocess.run([str(tree / "exec" / "demo-old")], capture_output=True, text=True,
                           check=True)  # fmt: skip
    assert alone.stdout.splitlines() == ran(tree, "3.11")  # by itself, on 2023.06
    ok(acc(root, cwd, "app", "rollback", "demo_old", "1.0", **env))
    assert ok(acc(root, cwd, "app", "run", "demo_old", **env)).splitlines() == ran(tree, "3.11")

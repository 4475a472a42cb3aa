"""The acc-py command (src/acc_py) on its own, on every local CPython 3.7-3.13.

acc-py takes its base from the running Python: ``sys.base_prefix``, which must hold an
``ACC-PY.json``. Each interpreter gets a fake base in a temp dir, ``<tmp>/base``: a copy of the
local CPython's ``bin/python3.X`` (pyenv builds are --enable-shared with an absolute RPATH, so a
copy runs), ``lib`` a symlink to that CPython's ``lib`` (so the copy finds its prefix there) and
the ``ACC-PY.json`` the builder writes. CLI tests spawn ``python -m acc_py`` with
PYTHONPATH=src:installer (acc_py and accpy_core, as a base has them in its site-packages).
In-process tests import acc_py from the test venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, REQUIRED_PYTHONS, every_python, python_exe

from acc_py import _apps, _base, _deploy, _deployed, _recreate, app, ci
from acc_py._base import Base, logical_base_dir
from acc_py.venv import render_script
from accpy_core.errors import (
    AccPyError,
    BaseError,
    CommandError,
    ConfigError,
    MetadataError,
    RefusedError,
    UsageError,
)
from accpy_core.metadata import from_dict, read_metadata
from accpy_core.names import METADATA_NAME

PYTHONPATH = f"{PROJECT / 'src'}{os.pathsep}{PROJECT / 'installer'}"
#: acc-py runs on every base's Python: tested on every local CPython 3.7-3.13 the suite requires
MINORS = every_python(
    tuple(m for m in REQUIRED_PYTHONS if (3, 7) <= tuple(map(int, m.split("."))) <= (3, 13))
)
INDEX = "http://127.0.0.1:9/simple/"  # nothing listens there
BASES = [
    {"version": "2020.11", "patch": 1, "python": "3.7.9", "status": "deprecated",
     "end_of_life": "2024-12-31", "platform": "manylinux_2_17_x86_64"},
    {"version": "2023.06", "patch": 2, "python": "3.11.4", "status": "pro",
     "end_of_life": None, "platform": "manylinux_2_28_x86_64"},
    {"version": "2024.12", "patch": 1, "python": "3.13.0", "status": "supported",
     "end_of_life": None, "platform": "manylinux_2_28_x86_64"},
]  # fmt: skip


def metadata(python: str) -> dict[str, object]:
    """ACC-PY.json of the fake 2023.06 base (what acc-py reads of what the builder writes)."""
    return {
        "schema": 1, "name": "acc-py-base", "version": "2023.06", "patch": 2,
        "release": "2023.06.2", "python": python, "platform": "manylinux_2_28_x86_64",
        "status": "pro", "end_of_life": None,
        "site": {"index_url": INDEX, "usage_collector": "127.0.0.1:9",
                 "install_root": "/acc/local/share/python/acc-py"},
        "bases": BASES,
    }  # fmt: skip


def make_base(top: Path, minor: str) -> Path:
    """``top``/base: a base the local CPython ``minor`` takes for its own (see the docstring)."""
    prefix = python_exe(minor).parent.parent
    base = top / "base"
    (base / "bin").mkdir(parents=True)
    exe = base / "bin" / f"python{minor}"
    shutil.copy2(prefix / "bin" / f"python{minor}", exe)
    (base / "lib").symlink_to(prefix / "lib")
    probe = subprocess.run(
        [str(exe), "-c", "import platform, sys; print(sys.base_prefix, platform.python_version())"],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    base_prefix, version = probe.stdout.split()
    assert base_prefix == str(base), f"the copied python{minor} takes {base_prefix} for its base"
    (base / METADATA_NAME).write_text(json.dumps(metadata(version), indent=2, sort_keys=True))
    return base


@pytest.fixture(scope="session")
def fake_base(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``fake_base("3.X")``: the fake base of the local CPython 3.X, made once per session."""
    made: dict[str, Path] = {}

    def get(minor: str) -> Path:
        if minor not in made:
            made[minor] = make_base(tmp_path_factory.mktemp(f"base-{minor}"), minor)
        return made[minor]

    return get


@pytest.fixture(params=MINORS)
def python(request: pytest.FixtureRequest, fake_base: Callable[[str], Path]) -> str:
    """The python3.X of a fake base, for each CPython 3.7-3.13."""
    minor = request.param
    return str(fake_base(minor) / "bin" / f"python{minor}")


def acc_py(
    python: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {"PATH": "/usr/bin:/bin", "HOME": str(cwd or "/"), "PYTHONPATH": PYTHONPATH}
    full.update(env or {})
    return subprocess.run(
        [python, "-m", "acc_py", *args], cwd=cwd, env=full, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def one_line_error(
    proc: subprocess.CompletedProcess[str], kind: type[AccPyError], *words: str
) -> str:
    assert proc.returncode == kind.exit_code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("acc-py: error: "), lines[0]
    for w in words:
        assert w in lines[0]
    return lines[0]


# ------------------------------------------------------------------- on every interpreter


def test_all_modules_compile_and_import(python: str, tmp_path: Path) -> None:
    """Syntax, or annotations evaluated at import, that the oldest base Python (3.7) cannot
    take fail here."""
    files = [str(p) for p in (PROJECT / "src" / "acc_py").glob("*.py")]
    proc = subprocess.run(
        [python, "-c", "import sys, py_compile\nfor f in sys.argv[1:]: py_compile.compile("
         "f, cfile=f + 'c.tmp', doraise=True)", *files],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    for f in files:
        Path(f + "c.tmp").unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr
    modules = ", ".join(f"acc_py.{Path(f).stem}" for f in files if not f.endswith("__main__.py"))
    imported = subprocess.run(
        [python, "-c", f"import {modules}"], env={"PYTHONPATH": PYTHONPATH},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr


def test_version_and_help(python: str, tmp_path: Path) -> None:
    proc = acc_py(python, "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ver = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    base = Path(python).parent.parent
    assert proc.stdout == f"acc-py (Acc-Py base 2023.06, patch 2) Python {ver}\nbase: {base}\n"
    helped = acc_py(python, "--help", cwd=tmp_path)
    assert helped.returncode == 0
    for verb in ("venv", "init", "init-ci", "app"):
        assert verb in helped.stdout
    for kind in (UsageError, ConfigError, CommandError, RefusedError, BaseError):
        assert f"{kind.exit_code:>5}  {kind.__name__}: " in helped.stdout
    assert acc_py(python, cwd=tmp_path).returncode == UsageError.exit_code
    assert acc_py(python, "app", cwd=tmp_path).returncode == UsageError.exit_code
    assert acc_py(python, "app", "run", "--help", cwd=tmp_path).returncode == 0


def test_version_of_a_deprecated_base(tmp_path: Path) -> None:
    base = make_base(tmp_path, MINORS[0])
    meta = json.loads((base / METADATA_NAME).read_text())
    meta.update(version="2020.11", patch=1, status="deprecated", end_of_life="2024-12-31")
    (base / METADATA_NAME).write_text(json.dumps(meta))
    proc = acc_py(str(base / "bin" / f"python{MINORS[0]}"), "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(
        "acc-py (Acc-Py base 2020.11, patch 1 (deprecated, end of life 2024-12-31)) Python "
    )


def test_base_by_the_name_it_was_reached_through(python: str, tmp_path: Path) -> None:
    """ACC_PY_BASE (setup.sh) or the launcher's path name the base; shown by its version."""
    (tmp_path / "2023.06").symlink_to(Path(python).parent.parent)
    (tmp_path / "pro").symlink_to("2023.06")
    proc = acc_py(python, "--version", env={"ACC_PY_BASE": str(tmp_path / "pro")})
    assert proc.stdout.endswith(f"\nbase: {tmp_path / '2023.06'}\n"), proc.stderr
    launcher = tmp_path / "pro" / "bin" / "acc-py"
    code = f"from acc_py.cli import main; main(['--version'], launcher={str(launcher)!r})"
    ran = subprocess.run(
        [python, "-c", code], env={"PYTHONPATH": PYTHONPATH}, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert ran.stdout.endswith(f"\nbase: {tmp_path / '2023.06'}\n"), ran.stderr
    elsewhere = acc_py(python, "--version", env={"ACC_PY_BASE": str(tmp_path)})
    assert elsewhere.stdout.endswith(f"\nbase: {Path(python).parent.parent}\n")


@pytest.mark.parametrize("minor", MINORS)
def test_a_python_without_acc_py_json_is_not_a_base(minor: str, tmp_path: Path) -> None:
    python = python_exe(minor)
    assert not (python.parent.parent / METADATA_NAME).exists()
    for args in (["venv", "env"], ["init-ci"], ["--version"]):
        err = one_line_error(acc_py(str(python), *args, cwd=tmp_path), BaseError)
        assert f"{python.parent.parent} is not a built Acc-Py base" in err
        assert "/bin/acc-py" in err  # how to fix it
    assert list(tmp_path.iterdir()) == []


def test_venv_fast_path_imports_stay_light(python: str, tmp_path: Path) -> None:
    """``acc-py venv`` imports json but not argparse, logging, subprocess, typing nor the
    heavier core modules (each would cost a good part of its run time)."""
    probe = (
        "import sys; before = set(sys.modules)\n"
        "from acc_py.cli import main\n"
        "assert main(['venv', sys.argv[1]]) == 0\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run(
        [python, "-c", probe, str(tmp_path / "env")], env={"PYTHONPATH": PYTHONPATH},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    imported = set(proc.stdout.splitlines()[-1].split())
    assert {"acc_py.venv", "json"} <= imported
    heavy = {"argparse", "logging", "subprocess", "typing", "dataclasses", "pathlib", "shutil"}
    assert not imported & heavy
    light = {"accpy_core.errors", "accpy_core.metadata", "accpy_core.names"}
    assert not {m for m in imported if m.startswith("accpy_core.")} - light


def test_venv_matches_python_m_venv(python: str, tmp_path: Path) -> None:
    """Byte for byte what `python -m venv --system-site-packages --without-pip` writes, but
    for the recorded command and acc-py's additions (pip.conf, pip launchers)."""
    mine, theirs = tmp_path / "a" / "env", tmp_path / "b" / "env"
    for parent in (mine.parent, theirs.parent):
        parent.mkdir()
    proc = acc_py(python, "venv", str(tmp_path / "env"), "--prompt", "my env", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "env").rename(mine)
    subprocess.run(
        [python, "-m", "venv", "--without-pip", "--system-site-packages", "--prompt", "my env",
         str(tmp_path / "env")], check=True,
    )  # fmt: skip
    (tmp_path / "env").rename(theirs)

    def tree(root: Path) -> dict[str, str]:
        out = {}
        for p in sorted(root.rglob("*")):
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_text()
            else:
                out[rel] = "<dir>"
        return out

    a, b = tree(mine), tree(theirs)
    minor = ".".join(a["pyvenv.cfg"].split("version = ")[1].split(".")[:2])
    extras = {"pip.conf", "bin/pip", "bin/pip3", f"bin/pip{minor}"}
    assert set(a) - set(b) == extras
    assert set(b) - set(a) == set()
    for rel in b:
        if rel == "pyvenv.cfg":
            strip = [x for x in a[rel].splitlines() if not x.startswith("command")]
            assert strip == [x for x in b[rel].splitlines() if not x.startswith("command")]
        else:
            assert a[rel] == b[rel], rel
    assert f"home = {Path(python).parent}\n" in a["pyvenv.cfg"]  # the fake base, not pyenv's
    assert f"index-url = {INDEX}" in a["pip.conf"]
    env = mine / "bin" / "python"
    out = subprocess.run(
        [str(env), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "True"


def test_venv_refuses_and_clears(python: str, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    one_line_error(acc_py(python, "venv", "full", cwd=tmp_path), RefusedError, "not empty")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert acc_py(python, "venv", "env", cwd=tmp_path).returncode == 0
    junk = tmp_path / "env" / "lib" / "junk.txt"
    junk.write_text("x")
    proc = acc_py(python, "venv", "env", "--clear", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not junk.exists()
    assert (tmp_path / "env" / "pyvenv.cfg").is_file()
    one_line_error(acc_py(python, "venv", "--recreate", "nope", cwd=tmp_path), RefusedError, "venv")


def test_recreate_failure_restores_and_shows_the_command(python: str, tmp_path: Path) -> None:
    """pip cannot reinstall what the venv had (the index is down): the old venv is back as it
    was; the error names what failed, pip's output follows it, -v shows the command."""
    assert acc_py(python, "venv", "env", cwd=tmp_path).returncode == 0
    lib = next((tmp_path / "env" / "lib").iterdir())
    dist = lib / "site-packages" / "accpy_gone-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: accpy_gone\nVersion: 1.0\n")
    before = sorted(str(p) for p in (tmp_path / "env").rglob("*"))
    pip_env = {"PIP_NO_INDEX": "1"}  # hermetic, whatever /etc/pip.conf says; the user's
    # PIP_* settings reach the pip acc-py runs
    quiet = acc_py(python, "venv", "--recreate", "env", cwd=tmp_path, env=pip_env)
    verbose = acc_py(python, "-v", "venv", "--recreate", "env", cwd=tmp_path, env=pip_env)
    for proc in (quiet, verbose):
        assert proc.returncode == CommandError.exit_code, proc.stderr
        errors = [x for x in proc.stderr.splitlines() if x.startswith("acc-py: error: ")]
        assert len(errors) == 1, proc.stderr
        assert errors[0].startswith("acc-py: error: reinstalling 1 package(s)"), errors[0]
        assert f"the old venv {tmp_path / 'env'} is restored as it was" in errors[0]
        assert "accpy_gone" in proc.stderr.split(errors[0], 1)[1]  # pip's output, below
        assert sorted(str(p) for p in (tmp_path / "env").rglob("*")) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["env"]
    assert "\n+ " not in "\n" + quiet.stderr
    assert f"+ {tmp_path / 'env' / 'bin' / 'python'} -m pip install" in verbose.stderr
    assert "Traceback" in verbose.stderr and "Traceback" not in quiet.stderr


def test_init_project(python: str, tmp_path: Path) -> None:
    """``acc-py init name-of-package``: name-of-package/ holding the package name_of_package/;
    names that cannot become a package are refused with a suggestion."""
    for bad, fix in (("My App", "my-app"), ("json", "json-project"), ("2fast", "p2fast"),
                     ("app-", "app"), ("my app!", "my-app"), ("class", "class-project"),
                     ("a.b-", "a-b")):  # fmt: skip
        err = one_line_error(acc_py(python, "init", bad, cwd=tmp_path), UsageError, bad)
        assert err.endswith(f"; try: acc-py init {fix}"), err
    assert list(tmp_path.iterdir()) == []
    proc = acc_py(python, "init", "name-of-package", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "package name_of_package" in proc.stdout
    proj = tmp_path / "name-of-package"
    found = sorted(str(p.relative_to(proj)) for p in proj.rglob("*") if p.is_file())
    assert found == [
        ".gitignore", "README.md", "name_of_package/__init__.py", "name_of_package/__main__.py",
        "pyproject.toml", "tests/test_name_of_package.py",
    ]  # fmt: skip
    meta = tomllib.loads((proj / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "name-of-package"
    assert meta["project"]["scripts"] == {"name-of-package": "name_of_package.__main__:main"}
    assert meta["project"]["dependencies"] == []
    # the supported bases (2023.06: 3.11, 2024.12: 3.13) and the running one
    running = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    low = min((3, 11), tuple(int(x) for x in running.split(".")))
    assert meta["project"]["requires-python"] == ">={}.{}".format(*low)
    assert meta["build-system"]["build-backend"] == "setuptools.build_meta"
    ran = subprocess.run(
        [python, "-m", "name_of_package"], cwd=proj, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0 and "Hello from name-of-package 0.1.0" in ran.stdout
    again = acc_py(python, "init", "name-of-package", cwd=tmp_path)
    one_line_error(again, RefusedError, "never overwrites")
    plain = acc_py(python, "init", "my_app", cwd=tmp_path)  # an underscore name: as before
    assert plain.returncode == 0 and (tmp_path / "my_app" / "my_app" / "__main__.py").is_file()


def test_init_ci(python: str, tmp_path: Path) -> None:
    """The short form: the site's templates included, the base's two variables; no pipeline."""
    proc = acc_py(python, "init-ci", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ci_yml = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    assert ci_yml == {
        "include": [
            {
                "project": "acc-co/devops/python/acc-py-gitlab-ci-templates",
                "ref": "v2",
                "file": "v2/python.gitlab-ci.yml",
            }
        ],
        "variables": {
            "PY_VERSION": Path(python).name[len("python") :],
            "ACC_PY_BASE_IMAGE_TAG": "2023.06",
        },
    }
    assert "(v2/python.gitlab-ci.yml, ref v2) on base 2023.06" in proc.stdout
    (tmp_path / ".gitlab-ci.yml").write_text("# mine\n")
    one_line_error(acc_py(python, "init-ci", cwd=tmp_path), RefusedError, "--force")
    assert (tmp_path / ".gitlab-ci.yml").read_text() == "# mine\n"  # refused: untouched
    forced = acc_py(python, "init-ci", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert "ACC_PY_BASE_IMAGE_TAG" in (tmp_path / ".gitlab-ci.yml").read_text()
    assert [p.name for p in tmp_path.iterdir()] == [".gitlab-ci.yml"]  # no temporary file left


def fake_deployment(root: Path, app_name: str, version: str, code: str) -> None:
    """A deployed version as an older acc-py app deploy left it, a real directory (without the
    venv's contents); test_acc_py_apps has the layout of trees per base."""
    vdir = root / app_name / version
    (vdir / "exec").mkdir(parents=True)
    (vdir / "venv").mkdir()
    meta = {"app": app_name, "version": version, "base": "2023.06"}
    (vdir / "app.json").write_text(json.dumps(meta))
    script = vdir / "exec" / app_name
    script.write_text(f'#!/bin/sh\necho "{app_name} {version} $*"\nexit {code}\n')
    script.chmod(0o755)


def test_app_promote_run_list(python: str, tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    fake_deployment(apps, "demo", "1.0", "3")
    fake_deployment(apps, "demo", "1.10", "4")
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}
    one_line_error(acc_py(python, "app", "run", "demo", cwd=tmp_path, env=env), UsageError,
                   "promote")  # fmt: skip
    assert acc_py(python, "app", "promote", "demo", "1.0", env=env).returncode == 0
    assert os.readlink(apps / "demo" / "pro") == "1.0"
    ran = acc_py(python, "app", "run", "demo", "a", "--b", env=env)
    assert (ran.returncode, ran.stdout) == (3, "demo 1.0 a --b\n")
    ran = acc_py(python, "app", "run", "demo", "--version", "1.10", "--", "x", env=env)
    assert (ran.returncode, ran.stdout) == (4, "demo 1.10 x\n")
    one_line_error(acc_py(python, "app", "promote", "demo", "2.0", env=env), UsageError,
                   "1.0, 1.10")  # fmt: skip
    one_line_error(acc_py(python, "app", "run", "nope", env=env), UsageError, "demo")
    listed = acc_py(python, "app", "list", "--deploy-base", str(apps))
    assert listed.returncode == 0
    rows = [line.rstrip() for line in listed.stdout.splitlines()[1:]]
    assert rows == ["demo", "  1.0              2023.06   pro", "  1.10             2023.06"]
    # pro moves by a symlink renamed over the old one: nothing else is left in the app's dir
    assert acc_py(python, "app", "promote", "demo", "1.10", env=env).returncode == 0
    assert os.readlink(apps / "demo" / "pro") == "1.10"
    assert sorted(p.name for p in (apps / "demo").iterdir()) == ["1.0", "1.10", "pro"]


@pytest.mark.parametrize("name", ["../../evil", 'x"; rm -rf ~; "', ".hidden"])
def test_deploy_refuses_console_scripts_that_are_not_plain_names(
    name: str, python: str, tmp_path: Path
) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(
            "demo-1.0.dist-info/entry_points.txt", f"[console_scripts]\n{name} = demo:main\n"
        )
    probe = (
        "import sys; from acc_py import _deploy; from accpy_core.errors import UsageError\n"
        "try:\n    _deploy._console_scripts(sys.argv[1])\n"
        "except UsageError as exc:\n    print('refused:', exc)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": PYTHONPATH}
    out = subprocess.run(
        [python, "-c", probe, str(wheel)], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("refused:") and "not a plain file name" in out


# ----------------------------------------------------- the venv skeleton and bin/acc-py


SKELETON_PROBE = """
import sys
from acc_py import _skeleton, venv
from acc_py._base import current_base
base = current_base()
records = _skeleton.loads(_skeleton.dumps(base))
def read(rel):
    with open(base.dir + "/" + rel, "rb") as f:
        return f.read()
for env_dir, prompt in [("/w/v", None), ("/w/v", "p"), ("/a/b/@x%+=,.-_1", "A@%+=:,./-_z"),
                        ("/w/.v", "p")]:
    want = (venv.message(base, env_dir), venv.plan(base, env_dir, prompt, base_dir="/r/b"))
    got = _skeleton.instantiate(records, env_dir, "/r/b", prompt, read)
    assert got == want, (env_dir, prompt)
# not plain, a placeholder, ':' in the venv's path, a stale base file: left to Python
for env_dir, base_dir, prompt in [("/w/a b", "/r/b", None), ("/w/\u00e9", "/r/b", None),
                                  ("/w/v", "/r/b b", None), ("/w/v", "/r/b", "a b"),
                                  ("/w/v", "/r/b", ""), ("/w/__VENV_NAME__", "/r/b", None),
                                  ("/w/v", "/r/b", "__x"), ("/w/a:b", "/r/b", None)]:
    assert _skeleton.instantiate(records, env_dir, base_dir, prompt, read) is None, env_dir
assert _skeleton.instantiate(records, "/w/v", "/r/b", None, lambda rel: b"changed") is None
print("ok")
"""


def test_skeleton_instantiates_to_the_plan(python: str, tmp_path: Path) -> None:
    """On every Python: the skeleton, instantiated for plain values, is the plan made with them
    (pyvenv.cfg's keys and the templates differ from one Python to the next); anything else is
    left to Python."""
    proc = subprocess.run(
        [python, "-c", SKELETON_PROBE], env={"PYTHONPATH": PYTHONPATH}, cwd=tmp_path,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "ok\n"), proc.stderr


def test_skeleton_refuses_what_is_not_one(python: str, tmp_path: Path) -> None:
    probe = (
        "from acc_py import _skeleton\nfrom accpy_core.errors import AccPyError\n"
        "good = open('s', 'rb').read()\n"
        "for bad in (b'', b'x' + good, good[:-3], good + b'x', good.replace(b'end * - - 0', "
        "b'end * - - 9')):\n"
        "    try:\n        _skeleton.loads(bad)\n    except AccPyError:\n        continue\n"
        "    raise SystemExit('accepted')\n"
        "print(len(_skeleton.loads(good)))\n"
    )
    base = Path(python).parent.parent
    made = subprocess.run(
        [python, "-m", "acc_py._skeleton", str(base), str(tmp_path / "s")],
        env={"PYTHONPATH": PYTHONPATH}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    proc = subprocess.run(
        [python, "-c", probe], env={"PYTHONPATH": PYTHONPATH}, cwd=tmp_path,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0 and int(proc.stdout) > 20, proc.stderr


@pytest.fixture(scope="session")
def native_base(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``native_base("3.X")``: a fake base of the local CPython 3.X with what the build puts
    there for bin/acc-py: the static program (acc-py.c.in, compiled as the builder does) and
    the venv skeleton, made by that Python. It has no Python acc-py entry point: there, any
    fall-back to Python fails."""
    from accpy_builder import inject, native

    made: dict[str, Path] = {}

    def get(minor: str) -> Path:
        if minor not in made:
            base = make_base(tmp_path_factory.mktemp(f"native-{minor}"), minor)
            values = {"VERSION": "2023.06", "PYTHON_VERSION": minor}
            source = (PROJECT / "recipes" / "acc-py.c.in").read_text()
            header = (PROJECT / "recipes" / "launcher.h.in").read_text()
            native.compile_static(
                inject.render(source, values, "acc-py.c.in"), base / "bin" / "acc-py",
                name="acc-py", scratch=base.parent,
                headers={"launcher.h": inject.render(header, values, "launcher.h.in")},
            )  # fmt: skip
            (base / "bin" / "acc-py").chmod(0o755)
            (base / "share" / "acc-py").mkdir(parents=True)
            subprocess.run(
                [str(base / "bin" / f"python{minor}"), "-m", "acc_py._skeleton", str(base),
                 str(base / "share" / "acc-py" / "venv.skeleton")],
                env={"PYTHONPATH": PYTHONPATH}, check=True,
            )  # fmt: skip
            made[minor] = base
        return made[minor]

    return get


def snapshot(top: Path) -> dict[str, str]:
    """Every entry under ``top``: its type, permission bits and contents or target."""
    out = {}
    for p in sorted(top.rglob("*")):
        rel = str(p.relative_to(top))
        mode = oct(p.lstat().st_mode)
        if p.is_symlink():
            out[rel] = f"{mode} -> {os.readlink(p)}"
        elif p.is_file():
            out[rel] = f"{mode} {p.read_text()}"
        else:
            out[rel] = f"{mode} <dir>"
    return out


@pytest.mark.parametrize("minor", MINORS)
@pytest.mark.parametrize("prompt", [[], ["--prompt", "my-env"], ["--prompt=p.1"]])
def test_native_venv_is_the_python_one(
    minor: str, prompt: list[str], native_base: Callable[[str], Path], tmp_path: Path
) -> None:
    """bin/acc-py makes, without Python, byte for byte the venv (and the message) that
    ``python -m acc_py venv`` makes, on every Python; into an empty directory too."""
    base = native_base(minor)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    results = []
    for cmd in ([str(base / "bin" / "acc-py")],
                [str(base / "bin" / f"python{minor}"), "-m", "acc_py"]):  # fmt: skip
        for target in ("new", "empty"):
            if target == "empty":
                (tmp_path / "empty").mkdir()
            proc = subprocess.run(
                [*cmd, "venv", target, *prompt], cwd=tmp_path, capture_output=True, text=True,
                env={**env, "PYTHONPATH": PYTHONPATH}, check=False,
            )  # fmt: skip
            assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
            results.append((proc.stdout, snapshot(tmp_path / target)))
            shutil.rmtree(tmp_path / target)
    assert results[0] == results[2] and results[1] == results[3]
    assert results[0][0].startswith(f"Created {tmp_path / 'new'} on Acc-Py base 2023.06")
    assert "bin/activate" in results[0][1] and "pyvenv.cfg" in results[0][1]


# ------------------------------------------------------------------------------ in process


def test_metadata_is_read_through_the_core_reader(tmp_path: Path) -> None:
    """acc-py reads ACC-PY.json through the one reader, accpy_core.metadata (light enough for
    acc-py venv): no file is a BaseError (this Python is no base), a bad one a MetadataError."""
    assert _base.METADATA_NAME is METADATA_NAME
    with pytest.raises(BaseError, match="is not a built Acc-Py base"):
        _base.read_base(str(tmp_path))
    (tmp_path / METADATA_NAME).write_text(json.dumps(metadata("3.11.4")))
    base = _base.read_base(str(tmp_path))
    assert base.metadata == read_metadata(tmp_path) and base.version == "2023.06"
    (tmp_path / METADATA_NAME).write_text("[1, 2]")
    with pytest.raises(MetadataError, match="not a JSON object"):
        _base.read_base(str(tmp_path))
    (tmp_path / METADATA_NAME).write_text("{")
    with pytest.raises(MetadataError, match="not valid JSON"):
        _base.read_base(str(tmp_path))


def test_base_from_metadata(tmp_path: Path) -> None:
    base = Base(str(tmp_path), from_dict(metadata("3.11.4")))
    assert (base.version, base.patch, base.status, base.end_of_life) == ("2023.06", 2, "pro", None)
    assert base.platform == "manylinux_2_28_x86_64"
    assert base.install_root == "/acc/local/share/python/acc-py"
    assert [b.version for b in base.bases] == ["2020.11", "2023.06", "2024.12"]
    assert base.bases[0].end_of_life == "2024-12-31" and base.bases[0].python == "3.7.9"
    assert base.bindir == str(tmp_path / "bin")
    assert base.index_url() == INDEX  # no pip.conf: the index the base was built with
    (tmp_path / "pip.conf").write_text("[global]\nindex_url = https://mirror.example/simple/\n")
    assert base.index_url() == "https://mirror.example/simple/"
    release = {**metadata("3.11.4"), "schema": 2, "kind": "interactive"}
    with pytest.raises(BaseError, match="not of a base"):
        Base(str(tmp_path), from_dict(release))


def test_logical_base_dir(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "._2023.06.2").mkdir(parents=True)
    (base / "2023.06").symlink_to("._2023.06.2")
    (base / "pro").symlink_to("2023.06")
    (base / "other").mkdir()
    assert logical_base_dir(str(base / "pro"), "2023.06") == str(base / "2023.06")
    assert logical_base_dir(str(base / "._2023.06.2"), "2023.06") == str(base / "2023.06")
    assert logical_base_dir(str(base / "other"), "2023.06") == str(base / "other")
    assert logical_base_dir(str(base / "2023.06"), "2023.06") == str(base / "2023.06")


def test_render_script_quotes_like_new_venv() -> None:
    """Templates after gh-124651 have bare placeholders and venv shell-quotes the values."""
    values = [("__VENV_DIR__", "/tmp/it's here"), ("__VENV_PROMPT__", "p")]
    new = render_script("VIRTUAL_ENV=__VENV_DIR__\nPS1=(__VENV_PROMPT__)", "activate", values,
                        True)  # fmt: skip
    assert new == "VIRTUAL_ENV='/tmp/it'\"'\"'s here'\nPS1=(p)"
    ps1 = render_script("$VenvDir = __VENV_DIR__", "Activate.ps1", values, True)
    assert ps1 == "$VenvDir = '/tmp/it''s here'"
    bat = render_script("set VENV=__VENV_DIR__", "activate.bat", values, True)
    assert bat == "set VENV=/tmp/it's here"
    old = render_script('VIRTUAL_ENV="__VENV_DIR__"', "activate", values, False)
    assert old == 'VIRTUAL_ENV="/tmp/it\'s here"'


def test_read_lock(tmp_path: Path) -> None:
    base = Base(str(tmp_path / "base" / "2023.06"), from_dict(metadata("3.11.4")))
    lock = tmp_path / "requirements.txt"
    lock.write_text("### base_python: 2023.06\n# c\nfoo==1.0 \\\n    --hash=sha256:ab\n")
    assert app.read_lock(str(lock), base) == ["foo==1.0 --hash=sha256:ab"]
    lock.write_text("### base_python: 2023.06\nfoo>=1.0\n")
    with pytest.raises(ConfigError, match="not pinned"):
        app.read_lock(str(lock), base)
    for first in ("foo==1.0 --hash=sha256:ab", "### base_python: 2023.6"):
        lock.write_text(first + "\n")
        with pytest.raises(ConfigError, match="first line"):
            app.read_lock(str(lock), base)
    lock.write_text("### base_python: 2099.01\n")
    with pytest.raises(BaseError, match=r"2099\.01 is not installed"):
        app.read_lock(str(lock), base)
    with pytest.raises(UsageError, match="acc-py app lock"):
        app.read_lock(str(tmp_path / "none.txt"), base)


def test_lock_rendering_is_sorted_and_stable(tmp_path: Path) -> None:
    base = Base(str(tmp_path), from_dict(metadata("3.11.4")))
    pins = [("Zeta_Pkg", "2.0", "b" * 64), ("alpha", "1.0", "a" * 64)]
    text = app.render_lock(base, "demo", sorted(pins, key=lambda p: p[0].lower()))
    assert text.startswith("### base_python: 2023.06\n")
    assert text.index("alpha==1.0") < text.index("zeta-pkg==2.0")
    assert app.render_lock(base, "demo", pins[::-1][::-1]) == app.render_lock(base, "demo", pins)
    assert json.loads(app.render_config(base, "demo"))["base_python"] == "2023.06"


def test_requirement_lines() -> None:
    assert _recreate.requirement("a", "1", None) == "a==1"
    editable = {"url": "file:///src/my%20proj", "dir_info": {"editable": True}}
    assert _recreate.requirement("p", "0.1", editable) == "-e /src/my proj"
    vcs = {"url": "https://git.example/x.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}
    assert _recreate.requirement("x", "1", vcs) == "x @ git+https://git.example/x.git@abc"


def test_amend_keeps_the_command_output_below() -> None:
    """A note goes on the first line of a CommandError; the output tail stays under it."""
    failed = CommandError("pip failed with exit code 1:\nERROR: no\nERROR: really")
    assert _recreate.amend(failed, "restored") == (
        "pip failed with exit code 1; restored:\nERROR: no\nERROR: really"
    )
    assert _recreate.amend(RefusedError("no"), "restored") == "no; restored"


def test_exit_codes_are_the_cores() -> None:
    """acc-py has no error classes of its own: every error it raises is of the core's kinds."""
    for module in (_base, app, ci, _recreate, _apps, _deploy, _deployed):
        own = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type)
            and issubclass(value, Exception)
            and value.__module__.startswith("acc_py")
        ]
        assert own == [], module.__name__

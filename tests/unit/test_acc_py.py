"""The acc-py command (recipes/@purelib@/acc_py) on its own, on every local CPython 3.7-3.13.

The package is rendered once (``_site.py`` from ``_site.py.in``, as inject does) into a temp dir.
CLI tests spawn ``python -m acc_py`` with that directory on PYTHONPATH, for this interpreter and
the machine's 3.7 and 3.13: the "base" is then that interpreter's own prefix. In-process tests
import the rendered package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from conftest import PROJECT, local_pythons

from accpy_builder.inject import render

RECIPE = PROJECT / "recipes" / "@purelib@" / "acc_py"
BASES = [
    {"version": "2020.11", "patch": 1, "python": "3.7.9", "status": "deprecated",
     "end_of_life": "2024-12-31", "platform": "manylinux_2_17_x86_64"},
    {"version": "2023.06", "patch": 2, "python": "3.11.4", "status": "pro",
     "end_of_life": None, "platform": "manylinux_2_28_x86_64"},
    {"version": "2024.12", "patch": 1, "python": "3.13.0", "status": "supported",
     "end_of_life": None, "platform": "manylinux_2_28_x86_64"},
]  # fmt: skip
VALUES = {
    "VERSION": "2023.06", "PATCH": "2", "PYTHON_FULL_VERSION": "3.11.4",
    "PYTHON_VERSION": "3.11", "STATUS": "pro", "END_OF_LIFE": "",
    "PLATFORM": "manylinux_2_28_x86_64", "INDEX_URL": "http://127.0.0.1:9/simple/",
    "INSTALL_ROOT": "/acc/local/share/python/acc-py", "BASES_JSON": json.dumps(BASES),
}  # fmt: skip


def render_package(dest: Path, values: dict[str, str] = VALUES) -> Path:
    """The acc_py package as inject places it: ``.in`` files rendered, the rest copied."""
    pkg = dest / "acc_py"
    pkg.mkdir(parents=True)
    for src in RECIPE.iterdir():
        if src.suffix == ".in":
            text = render(src.read_text(), values, src)
            (pkg / src.name[: -len(".in")]).write_text(text)
        elif src.suffix == ".py":
            shutil.copyfile(src, pkg / src.name)
    return dest


@pytest.fixture(scope="session")
def pkg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_package(tmp_path_factory.mktemp("acc-py-pkg"))


def interpreters() -> list[str]:
    found = {"{}.{}".format(*sys.version_info[:2]): "self"}
    for minor in ("3.7", "3.13"):
        if minor in local_pythons():
            found[minor] = minor
    return sorted(found.values())


def python_for(which: str) -> str:
    if which == "self":  # the interpreter of the test venv, as python3.X (venv names links so)
        return str(Path(sys.base_prefix) / "bin" / "python{}.{}".format(*sys.version_info[:2]))
    prefix = local_pythons()[which]
    return str(prefix / "bin" / f"python{which}")


@pytest.fixture(params=interpreters())
def python(request: pytest.FixtureRequest) -> str:
    return python_for(request.param)


def acc_py(
    python: str, pkg: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {"PATH": "/usr/bin:/bin", "HOME": str(cwd or "/"), "PYTHONPATH": str(pkg)}
    full.update(env or {})
    return subprocess.run(
        [python, "-m", "acc_py", *args], cwd=cwd, env=full, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("acc-py: error: "), lines[0]
    for w in words:
        assert w in lines[0]
    return lines[0]


@pytest.fixture(scope="session")
def mod(pkg_dir: Path) -> Iterator[ModuleType]:
    sys.path.insert(0, str(pkg_dir))
    try:
        import acc_py

        yield acc_py
    finally:
        sys.path.remove(str(pkg_dir))


# ------------------------------------------------------------------- on every interpreter


def test_all_modules_compile(python: str, tmp_path: Path) -> None:
    """Syntax that the oldest base Python (3.7) cannot read fails here."""
    files = [str(p) for p in RECIPE.glob("*.py")]
    proc = subprocess.run(
        [python, "-c", "import sys, py_compile\nfor f in sys.argv[1:]: py_compile.compile("
         "f, cfile=f + 'c.tmp', doraise=True)", *files],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    for f in files:
        Path(f + "c.tmp").unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr


def test_version_and_help(python: str, pkg_dir: Path, tmp_path: Path) -> None:
    proc = acc_py(python, pkg_dir, "--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ver = subprocess.run(
        [python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert "Acc-Py base 2023.06, patch 2" in proc.stdout
    assert f"Python {ver}" in proc.stdout
    helped = acc_py(python, pkg_dir, "--help", cwd=tmp_path)
    assert helped.returncode == 0
    for verb in ("venv", "init", "init-ci", "app"):
        assert verb in helped.stdout
    assert acc_py(python, pkg_dir, cwd=tmp_path).returncode == 2
    assert acc_py(python, pkg_dir, "app", "run", "--help", cwd=tmp_path).returncode == 0


def test_venv_matches_python_m_venv(python: str, pkg_dir: Path, tmp_path: Path) -> None:
    """Byte for byte what `python -m venv --system-site-packages --without-pip` writes, but
    for the recorded command and acc-py's additions (pip.conf, pip launchers)."""
    mine, theirs = tmp_path / "a" / "env", tmp_path / "b" / "env"
    for parent in (mine.parent, theirs.parent):
        parent.mkdir()
    proc = acc_py(python, pkg_dir, "venv", str(tmp_path / "env"), "--prompt", "my env",
                  cwd=tmp_path)  # fmt: skip
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
    assert "index-url = http://127.0.0.1:9/simple/" in a["pip.conf"]
    env = mine / "bin" / "python"
    out = subprocess.run(
        [str(env), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "True"


def test_venv_refuses_and_clears(python: str, pkg_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    one_line_error(acc_py(python, pkg_dir, "venv", "full", cwd=tmp_path), 3, "not empty")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    assert acc_py(python, pkg_dir, "venv", "env", cwd=tmp_path).returncode == 0
    junk = tmp_path / "env" / "lib" / "junk.txt"
    junk.write_text("x")
    proc = acc_py(python, pkg_dir, "venv", "env", "--clear", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not junk.exists()
    assert (tmp_path / "env" / "pyvenv.cfg").is_file()
    one_line_error(acc_py(python, pkg_dir, "venv", "--recreate", "nope", cwd=tmp_path), 3, "venv")


def test_init_project(python: str, pkg_dir: Path, tmp_path: Path) -> None:
    err = one_line_error(acc_py(python, pkg_dir, "init", "my-app", cwd=tmp_path), 2, "my_app")
    assert "acc-py init my_app" in err
    one_line_error(acc_py(python, pkg_dir, "init", "json", cwd=tmp_path), 2, "json_project")
    one_line_error(acc_py(python, pkg_dir, "init", "2fast", cwd=tmp_path), 2, "p2fast")
    proc = acc_py(python, pkg_dir, "init", "my_app", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proj = tmp_path / "my_app"
    found = sorted(str(p.relative_to(proj)) for p in proj.rglob("*") if p.is_file())
    assert found == [
        ".gitignore", "README.md", "my_app/__init__.py", "my_app/__main__.py", "pyproject.toml",
        "tests/test_my_app.py",
    ]  # fmt: skip
    meta = tomllib.loads((proj / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "my_app"
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
        [python, "-m", "my_app"], cwd=proj, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0 and "Hello from my_app 0.1.0" in ran.stdout
    again = acc_py(python, pkg_dir, "init", "my_app", cwd=tmp_path)
    one_line_error(again, 3, "never overwrites")


def test_init_ci(python: str, pkg_dir: Path, tmp_path: Path) -> None:
    proc = acc_py(python, pkg_dir, "init-ci", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ci = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    tests = {k: v for k, v in ci.items() if k.startswith("test:")}
    assert sorted(tests) == ["test:2023.06", "test:2024.12"]  # 2020.11 is deprecated
    assert tests["test:2024.12"]["image"] == "registry.cern.ch/acc/acc-py_el9_base:2024.12"
    assert tests["test:2023.06"]["variables"]["ACC_PY_BASE_VERSION"] == "2023.06"
    assert {"lint", "build", "docs", "publish"} <= set(ci)
    assert ci["publish"]["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert ci["stages"] == ["lint", "build", "test", "docs", "publish"]
    one_line_error(acc_py(python, pkg_dir, "init-ci", cwd=tmp_path), 3, "--force")
    forced = acc_py(python, pkg_dir, "init-ci", "--force", "--variant", "gui", cwd=tmp_path)
    assert forced.returncode == 0
    assert "acc-py_el9_gui:2023.06" in (tmp_path / ".gitlab-ci.yml").read_text()


def fake_deployment(root: Path, app: str, version: str, code: str) -> None:
    """A deployed version as acc-py app deploy leaves it (without the venv's contents)."""
    vdir = root / app / version
    (vdir / "exec").mkdir(parents=True)
    (vdir / "venv").mkdir()
    (vdir / "app.json").write_text(json.dumps({"app": app, "version": version}))
    script = vdir / "exec" / app
    script.write_text(f'#!/bin/sh\necho "{app} {version} $*"\nexit {code}\n')
    script.chmod(0o755)


def test_app_promote_run_list(python: str, pkg_dir: Path, tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    fake_deployment(apps, "demo", "1.0", "3")
    fake_deployment(apps, "demo", "1.10", "4")
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}
    one_line_error(acc_py(python, pkg_dir, "app", "run", "demo", cwd=tmp_path, env=env), 2,
                   "promote")  # fmt: skip
    assert acc_py(python, pkg_dir, "app", "promote", "demo", "1.0", env=env).returncode == 0
    assert os.readlink(apps / "demo" / "pro") == "1.0"
    ran = acc_py(python, pkg_dir, "app", "run", "demo", "a", "--b", env=env)
    assert (ran.returncode, ran.stdout) == (3, "demo 1.0 a --b\n")
    ran = acc_py(python, pkg_dir, "app", "run", "demo", "--version", "1.10", "--", "x", env=env)
    assert (ran.returncode, ran.stdout) == (4, "demo 1.10 x\n")
    one_line_error(acc_py(python, pkg_dir, "app", "promote", "demo", "2.0", env=env), 2,
                   "1.0, 1.10")  # fmt: skip
    one_line_error(acc_py(python, pkg_dir, "app", "run", "nope", env=env), 2, "demo")
    listed = acc_py(python, pkg_dir, "app", "list", "--deploy-base", str(apps))
    assert listed.returncode == 0
    rows = [line.rstrip() for line in listed.stdout.splitlines()[1:]]
    assert rows == ["demo", "  1.0              pro", "  1.10"]


# ------------------------------------------------------------------------------ in process


def test_logical_base_dir(mod: ModuleType, tmp_path: Path) -> None:
    from acc_py._base import logical_base_dir

    base = tmp_path / "base"
    (base / "._2023.06.2").mkdir(parents=True)
    (base / "2023.06").symlink_to("._2023.06.2")
    (base / "pro").symlink_to("2023.06")
    (base / "other").mkdir()
    assert logical_base_dir(str(base / "pro"), "2023.06") == str(base / "2023.06")
    assert logical_base_dir(str(base / "._2023.06.2"), "2023.06") == str(base / "2023.06")
    assert logical_base_dir(str(base / "other"), "2023.06") == str(base / "other")
    assert logical_base_dir(str(base / "2023.06"), "2023.06") == str(base / "2023.06")


def test_render_script_quotes_like_new_venv(mod: ModuleType) -> None:
    """Templates after gh-124651 have bare placeholders and venv shell-quotes the values."""
    from acc_py.venv import render_script

    values = [("__VENV_DIR__", "/tmp/it's here"), ("__VENV_PROMPT__", "p")]
    new = render_script("VIRTUAL_ENV=__VENV_DIR__\nPS1=(__VENV_PROMPT__)", "activate", values,
                        True)  # fmt: skip
    assert new == "VIRTUAL_ENV='/tmp/it'\"'\"'s here'\nPS1=(p)"
    ps1 = render_script("$VenvDir = __VENV_DIR__", "Activate.ps1", values, True)
    assert ps1 == "$VenvDir = '/tmp/it''s here'"
    old = render_script('VIRTUAL_ENV="__VENV_DIR__"', "activate", values, False)
    assert old == 'VIRTUAL_ENV="/tmp/it\'s here"'


def test_read_lock(mod: ModuleType, tmp_path: Path) -> None:
    from acc_py import _base
    from acc_py._site import VERSION
    from acc_py.app import LockError, read_lock

    class FakeBase:
        version = VERSION
        dir = str(tmp_path / "base" / VERSION)

    lock = tmp_path / "requirements.txt"
    lock.write_text(f"### base_python: {VERSION}\n# c\nfoo==1.0 \\\n    --hash=sha256:ab\n")
    assert read_lock(str(lock), FakeBase) == ["foo==1.0      --hash=sha256:ab"]
    lock.write_text(f"### base_python: {VERSION}\nfoo>=1.0\n")
    with pytest.raises(LockError, match="not pinned"):
        read_lock(str(lock), FakeBase)
    lock.write_text("foo==1.0 --hash=sha256:ab\n")
    with pytest.raises(LockError, match="first line"):
        read_lock(str(lock), FakeBase)
    lock.write_text("### base_python: 2099.01\n")
    with pytest.raises(_base.BaseError, match=r"2099\.01 is not installed"):
        read_lock(str(lock), FakeBase)


def test_lock_rendering_is_sorted_and_stable(mod: ModuleType) -> None:
    from acc_py.app import render_config, render_lock

    class FakeBase:
        version = "2023.06"
        python_version = "3.11"

    pins = [("Zeta_Pkg", "2.0", "b" * 64), ("alpha", "1.0", "a" * 64)]
    text = render_lock(FakeBase, "demo", sorted(pins, key=lambda p: p[0].lower()))
    assert text.startswith("### base_python: 2023.06\n")
    assert text.index("alpha==1.0") < text.index("zeta-pkg==2.0")
    assert render_lock(FakeBase, "demo", pins[::-1][::-1]) == render_lock(FakeBase, "demo", pins)
    assert json.loads(render_config(FakeBase, "demo"))["base_python"] == "2023.06"


def test_requirement_lines(mod: ModuleType) -> None:
    from acc_py._recreate import requirement

    assert requirement("a", "1", None) == "a==1"
    editable = {"url": "file:///src/my%20proj", "dir_info": {"editable": True}}
    assert requirement("p", "0.1", editable) == "-e /src/my proj"
    vcs = {"url": "https://git.example/x.git", "vcs_info": {"vcs": "git", "commit_id": "abc"}}
    assert requirement("x", "1", vcs) == "x @ git+https://git.example/x.git@abc"


@pytest.mark.parametrize("name", ["../../evil", 'x"; rm -rf ~; "', ".hidden"])
def test_deploy_refuses_console_scripts_that_are_not_plain_names(
    name: str, python: str, pkg_dir: Path, tmp_path: Path
) -> None:
    import zipfile

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(
            "demo-1.0.dist-info/entry_points.txt", f"[console_scripts]\n{name} = demo:main\n"
        )
    probe = (
        "import sys; from acc_py import _deploy\n"
        "try:\n    _deploy._console_scripts(sys.argv[1])\n"
        "except _deploy.UsageError as exc:\n    print('refused:', exc)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pkg_dir)}
    out = subprocess.run(
        [python, "-c", probe, str(wheel)], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("refused:") and "not a plain file name" in out

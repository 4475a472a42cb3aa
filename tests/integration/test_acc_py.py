"""acc-py end to end inside a real 2023.06 base (``base_dist``), against the loopback site index.

The base is unpacked once as ``<root>/base/._2023.06.1`` behind ``2023.06`` and ``pro``. Every
command runs with a user's minimal environment (a fresh HOME, no PIP_*/PYTHON* variables, no
XDG_CONFIG_DIRS): pip finds the loopback index through the base's injected configuration alone.
The index serves wheels built here by hand plus setuptools/wheel/pytest from PyPI (downloaded
once into ``.cache/test-wheels/index``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, build_cache, in_base, untar
from servers import Index

from accpy_core.errors import (
    AccPyError,
    BaseError,
    CommandError,
    ConfigError,
    RefusedError,
    UsageError,
)

VERSION = "2023.06"
PYPI_WHEELS = ["setuptools", "wheel", "pytest"]


def make_wheel(
    out: Path, name: str, version: str, files: dict[str, str], requires: tuple[str, ...] = ()
) -> Path:
    """A pure-Python wheel written by hand (no build backend needed)."""
    dist = f"{name}-{version}.dist-info"
    entries = dict(files)
    deps = "".join(f"Requires-Dist: {r}\n" for r in requires)
    entries[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{deps}"
    entries[f"{dist}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in entries.items():
        digest = hashlib.sha256(text.encode()).digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={b64},{len(text.encode())}")
    entries[f"{dist}/RECORD"] = "\n".join([*record, f"{dist}/RECORD,,"]) + "\n"
    wheel = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in entries.items():
            zf.writestr(path, text)
    return wheel


def pypi_wheels() -> list[Path]:
    """setuptools, wheel and pytest (with its dependencies) for this Python, cached."""
    cache = build_cache() / "index"
    cache.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("-")[0].lower() for p in cache.glob("*.whl")}
    if not set(PYPI_WHEELS) <= have:
        import sys

        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
             "--dest", str(cache), *PYPI_WHEELS],
            check=True, timeout=300,
        )  # fmt: skip
    return sorted(cache.glob("*.whl"))


@pytest.fixture(scope="module")
def root(base_dist: Path, site_index: Index, tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("acc-py-root")
    (tarball,) = base_dist.glob("*.tar.gz")
    tree = untar(tarball, top / "unpack")
    base = top / "base"
    base.mkdir()
    tree.rename(base / "._2023.06.1")
    (base / VERSION).symlink_to("._2023.06.1")
    (base / "pro").symlink_to(VERSION)
    for wheel in pypi_wheels():
        shutil.copy(wheel, site_index.root)
    for v in ("1.0", "2.0"):
        make_wheel(
            site_index.root, "accpy_tinydep", v, {"accpy_tinydep/__init__.py": f"V = '{v}'\n"}
        )
    return top


def user_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


def acc(root: Path, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``<root>/base/pro/bin/acc-py ARGS`` without sourcing anything."""
    full = user_env(cwd.parent / "home")
    full.update(env)
    return subprocess.run(
        [str(root / "base" / "pro" / "bin" / "acc-py"), *args],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr[-3000:])
    return proc.stdout


def one_line_error(
    proc: subprocess.CompletedProcess[str], kind: type[AccPyError], *words: str
) -> str:
    """The one ``acc-py: error:`` line of a failure of ``kind``; a failed command's output may
    follow it (returned with it)."""
    assert proc.returncode == kind.exit_code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("acc-py: error: ")]
    assert len(errors) == 1, proc.stderr
    first = lines[errors[0]]
    for w in words:
        assert w in first, first
    if kind is not CommandError:
        assert errors[0] == len(lines) - 1, proc.stderr
    return "\n".join(lines[errors[0] :])


def py(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``venv/bin/python ARGS`` as an operational app runs it: nothing sourced."""
    return subprocess.run(
        [str(venv / "bin" / "python"), *args], cwd=cwd, env=user_env(venv.parent / "home"),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


def file_list(top: Path) -> list[tuple[str, str]]:
    out = []
    for p in sorted(top.rglob("*")):
        if p.is_symlink():
            out.append((str(p.relative_to(top)), "-> " + os.readlink(p)))
        elif p.is_file():
            out.append((str(p.relative_to(top)), hashlib.sha256(p.read_bytes()).hexdigest()))
        else:
            out.append((str(p.relative_to(top)), "dir"))
    return out


def test_version_through_pro_and_sourced(root: Path, cwd: Path) -> None:
    out = ok(acc(root, cwd, "--version"))
    assert f"Acc-Py base {VERSION}" in out
    assert f"base: {root / 'base' / VERSION}\n" in out
    sourced = in_base(root / "base" / "pro", "acc-py --version", cwd.parent / "home")
    assert sourced.returncode == 0, sourced.stderr
    assert f"base: {root / 'base' / VERSION}\n" in sourced.stdout


def test_venv_pip_and_patch_release(root: Path, cwd: Path, site_index: Index) -> None:
    ok(acc(root, cwd, "venv", "venv"))
    venv = cwd / "venv"
    cfg = (venv / "pyvenv.cfg").read_text()
    assert f"home = {root / 'base' / VERSION / 'bin'}\n" in cfg
    assert "include-system-site-packages = true\n" in cfg
    assert os.readlink(venv / "bin" / "python3.11") == str(
        root / "base" / VERSION / "bin" / "python3.11"
    )
    # pip of the base, its index from the venv's own pip.conf: no flags, nothing sourced
    before = len(site_index.requests)
    ok(py(venv, "-m", "pip", "install", "--quiet", "accpy_tinydep==1.0"))
    assert any("accpy-tinydep" in r for r in site_index.requests[before:])
    shown = ok(py(venv, "-c", "import accpy_tinydep, numpy, scipy, sys; "
                  "print(accpy_tinydep.__file__); print(sys.base_prefix)"))  # fmt: skip
    assert shown.splitlines() == [
        str(venv / "lib" / "python3.11" / "site-packages" / "accpy_tinydep" / "__init__.py"),
        str((root / "base" / VERSION).resolve()),  # the tree base/2023.06 names, physical
    ]
    activated = subprocess.run(
        ["bash", "-c", f". {venv}/bin/activate && command -v python && pip --version"],
        env=user_env(cwd.parent / "home"), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert activated.stdout.splitlines()[0] == str(venv / "bin" / "python")
    assert "pip 23.1.2" in activated.stdout
    # a patch release: the tree is replaced behind 2023.06, the old one is gone
    base = root / "base"
    (base / "._2023.06.1").rename(base / "._2023.06.2")
    (base / "2023.06.new").symlink_to("._2023.06.2")
    (base / "2023.06.new").replace(base / VERSION)
    try:
        shown = ok(py(venv, "-c", "import accpy_tinydep, sys; print(accpy_tinydep.V, "
                      "sys.base_prefix)"))  # fmt: skip
        assert shown == f"1.0 {base / '._2023.06.2'}\n"  # the venv follows the patch release
    finally:
        (base / "._2023.06.2").rename(base / "._2023.06.1")
        (base / "2023.06.new").symlink_to("._2023.06.1")
        (base / "2023.06.new").replace(base / VERSION)


def write_project(path: Path, name: str, version: str, deps: list[str]) -> None:
    (path / name).mkdir(parents=True, exist_ok=True)
    (path / name / "__init__.py").write_text(f"__version__ = '{version}'\n")
    (path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64", "wheel"]\n'
        'build-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = {json.dumps(deps)}\n'
        f'[tool.setuptools]\npackages = ["{name}"]\n'  # not deployment/
    )


def test_recreate_reinstalls_and_reports(root: Path, cwd: Path) -> None:
    write_project(cwd / "proj", "accpy_edit", "0.1.0", ["accpy_tinydep"])
    ok(acc(root, cwd, "venv", "venv", "--prompt", "mine"))
    venv = cwd / "venv"
    ok(py(venv, "-m", "pip", "install", "--quiet", "accpy_tinydep==1.0", "-e", str(cwd / "proj")))
    write_project(cwd / "proj", "accpy_edit", "0.2.0", ["accpy_tinydep"])
    out = ok(acc(root, cwd, "venv", "--recreate", "venv"))
    assert "1 editable" in out
    assert "accpy_edit 0.1.0 -> 0.2.0" in out
    assert "accpy_tinydep" not in out  # pinned: still 1.0
    assert ok(py(venv, "-c", "import accpy_tinydep, accpy_edit; "
                 "print(accpy_tinydep.V, accpy_edit.__version__)")) == "1.0 0.2.0\n"  # fmt: skip
    assert "prompt = 'mine'" in (venv / "pyvenv.cfg").read_text()
    assert [p.name for p in cwd.iterdir() if p.name.startswith(".")] == []


def test_recreate_rolls_back(root: Path, cwd: Path, site_index: Index) -> None:
    ok(acc(root, cwd, "venv", "venv"))
    venv = cwd / "venv"
    gone = make_wheel(site_index.root, "accpy_gone", "1.0", {"accpy_gone.py": "X = 1\n"})
    try:
        ok(py(venv, "-m", "pip", "install", "--quiet", "accpy_gone"))
    finally:
        gone.unlink()
    before = file_list(venv)
    err = one_line_error(acc(root, cwd, "venv", "--recreate", "venv"), CommandError, "restored")
    assert err.startswith("acc-py: error: reinstalling")
    assert "accpy_gone" in err.split("\n", 1)[1]  # pip's output, below the error
    assert file_list(venv) == before
    assert sorted(p.name for p in cwd.iterdir() if p.name != "home") == ["venv"]
    assert ok(py(venv, "-c", "import accpy_gone; print(accpy_gone.X)")) == "1\n"


def test_init_project_installs_and_tests_green(root: Path, cwd: Path) -> None:
    ok(acc(root, cwd, "init", "demo_proj"))
    proj = cwd / "demo_proj"
    ok(acc(root, proj, "venv", "venv"))
    ok(py(proj / "venv", "-m", "pip", "install", "--quiet", "-e", ".[test]", cwd=proj))
    tested = py(proj / "venv", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=proj)
    assert tested.returncode == 0, tested.stdout
    assert "2 passed" in tested.stdout
    assert (
        ok(py(proj / "venv", "-m", "demo_proj", cwd=cwd.parent)) == "Hello from demo_proj 0.1.0\n"
    )


def test_init_ci_names_the_base(root: Path, cwd: Path) -> None:
    """init-ci from an installed base: its version and its Python, as the templates read them."""
    ok(acc(root, cwd, "init-ci"))
    ci = yaml.safe_load((cwd / ".gitlab-ci.yml").read_text())
    assert ci["variables"] == {"PY_VERSION": "3.11", "ACC_PY_BASE_IMAGE_TAG": "2023.06"}
    (include,) = ci["include"]
    assert (PROJECT / "ci-templates" / include["file"]).is_file()  # the file this project makes
    one_line_error(acc(root, cwd, "init-ci"), RefusedError, "--force")


def test_app_lock_deploy_promote_run(root: Path, cwd: Path, site_index: Index) -> None:
    proj = cwd / "demo_app"
    write_project(proj, "demo_app", "1.0", ["accpy_tinydep==1.0", "numpy"])
    (proj / "demo_app" / "cli.py").write_text(
        "import sys\nimport accpy_tinydep\n"
        "def main():\n    print('demo', accpy_tinydep.V, sys.argv[1:])\n"
        "    return int(sys.argv[1]) if sys.argv[1:] else 0\n"
    )
    with (proj / "pyproject.toml").open("a") as f:
        f.write('[project.scripts]\ndemo-app = "demo_app.cli:main"\n')
    apps = cwd / "apps"
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}

    ok(acc(root, proj, "app", "lock"))
    lock = proj / "deployment" / "app" / "requirements.txt"
    text = lock.read_text()
    digest = hashlib.sha256((site_index.root / "accpy_tinydep-1.0-py3-none-any.whl").read_bytes())
    assert text.startswith(f"### base_python: {VERSION}\n")
    assert f"accpy-tinydep==1.0 \\\n    --hash=sha256:{digest.hexdigest()}\n" in text
    assert "numpy" not in text and "demo" not in text.split("\n", 3)[3]
    config = json.loads((proj / "deployment" / "app" / "config.json").read_text())
    assert config["base_python"] == VERSION
    snapshot = file_list(proj / "deployment")
    mtime = lock.stat().st_mtime_ns
    ok(acc(root, proj, "app", "lock"))
    assert file_list(proj / "deployment") == snapshot and lock.stat().st_mtime_ns == mtime

    out = ok(acc(root, cwd, "app", "deploy", str(proj), **env))
    vdir = apps / "demo_app" / "1.0"
    assert "Deployed demo_app 1.0" in out
    assert os.readlink(apps / "demo_app" / "latest") == "1.0"
    assert os.readlink(vdir) == f".1.0@{VERSION}"  # the tree of 1.0 on this base
    launcher = vdir / "exec" / "demo-app"
    ran = subprocess.run([str(launcher), "4"], capture_output=True, text=True, check=False)
    assert (ran.returncode, ran.stdout) == (4, "demo 1.0 ['4']\n")
    cfg = (vdir / "venv" / "pyvenv.cfg").read_text()
    assert f"home = {root / 'base' / VERSION / 'bin'}\n" in cfg
    tree = apps / "demo_app" / f".1.0@{VERSION}"
    assert f"exec {tree}/venv/bin/demo-app " in launcher.read_text()  # never through 1.0
    script = (tree / "venv" / "bin" / "demo-app").read_text()
    # a shebang, or pip's /bin/sh form where the path is too long for one (over 127 bytes)
    forms = (f"#!{tree}/venv/bin/", f"#!/bin/sh\n'''exec' {tree}/venv/bin/")
    assert script.startswith(forms), script[:300]
    deployed = file_list(apps)

    # the same lock and project again: nothing changes; refusals and failures change nothing
    again = ok(acc(root, cwd, "app", "deploy", str(proj), **env))
    assert "nothing changed" in again
    assert file_list(apps) == deployed
    write_project(proj, "demo_app", "1.1", ["accpy_tinydep==1.0", "numpy"])
    with (proj / "pyproject.toml").open("a") as f:
        f.write('[project.scripts]\ndemo-app = "demo_app.cli:main"\n')
    good = lock.read_text()
    hexd = digest.hexdigest()
    lock.write_text(good.replace(hexd, hexd[:-1] + ("1" if hexd[-1] == "0" else "0")))
    err = one_line_error(acc(root, cwd, "app", "deploy", str(proj), **env), CommandError,
                         "installing the lock")  # fmt: skip
    assert "HASHES" in err.split("\n", 1)[1]  # pip's output, below the error
    lock.write_text(good.replace(VERSION, "2001.01", 1))
    one_line_error(acc(root, cwd, "app", "deploy", str(proj), **env), BaseError, "2001.01")
    lock.write_text(good + "requests>=2\n")
    one_line_error(acc(root, cwd, "app", "deploy", str(proj), **env), ConfigError, "not pinned")
    assert file_list(apps) == deployed
    lock.write_text(good)

    one_line_error(acc(root, cwd, "app", "run", "demo_app", **env), UsageError, "promote")
    ok(acc(root, cwd, "app", "promote", "demo_app", "1.0", **env))
    ran = acc(root, cwd, "app", "run", "demo_app", "3", "--x", **env)
    assert (ran.returncode, ran.stdout) == (3, "demo 1.0 ['3', '--x']\n")
    ok(acc(root, cwd, "app", "deploy", str(proj), **env))
    assert os.readlink(apps / "demo_app" / "latest") == "1.1"
    assert os.readlink(apps / "demo_app" / "pro") == "1.0"
    listed = ok(acc(root, cwd, "app", "list", **env)).splitlines()
    assert [line.split() for line in listed[1:]] == [
        ["demo_app"],
        ["1.0", VERSION, "pro"],
        ["1.1", VERSION, "latest"],
    ]
    ran = acc(root, cwd, "app", "run", "demo_app", "--version", "1.1", "0", **env)
    assert (ran.returncode, ran.stdout) == (0, "demo 1.0 ['0']\n")
    assert sorted(p.name for p in (apps / "demo_app").iterdir()) == [
        f".1.0@{VERSION}", f".1.1@{VERSION}", "1.0", "1.1", "latest", "pro",
    ]  # fmt: skip


OTHER = "2024.12"
SHOW = "import sys, accpy_tinydep; print('%d.%d' % sys.version_info[:2], accpy_tinydep.V)"


@pytest.fixture(scope="module")
def root_2412(root: Path, base_dist_2412: Path) -> Path:
    """``root`` with 2024.12 (CPython 3.13) installed beside 2023.06 by acc-py-install, and a
    2020.11 past its end of life (its ACC-PY.json: nothing of it runs before the refusal)."""
    import sys

    (tarball,) = base_dist_2412.glob("*.tar.gz")
    proc = subprocess.run(
        [sys.executable, "-m", "acc_py_install", "install", str(tarball), "--root", str(root)],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "PYTHONPATH": f"{PROJECT / 'src'}:{PROJECT / 'installer'}"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    old = root / "base" / "2020.11"
    if not old.exists():
        old.mkdir()
        meta = json.loads((root / "base" / VERSION / "ACC-PY.json").read_text())
        meta.update(version="2020.11", status="deprecated", end_of_life="2024-01-01")
        (old / "ACC-PY.json").write_text(json.dumps(meta))
    return root


def test_app_upgrade_to_another_base(root_2412: Path, cwd: Path) -> None:
    """The documented upgrade of a deployed application: deployed on 2023.06, then locked and
    deployed on 2024.12 with --base-python (from its setup.sh, and from 2023.06), then run; the
    old deployment still runs on 2023.06. Refusals leave the deployed versions as they were."""
    root = root_2412
    proj = cwd / "demo_up"

    def project(version: str) -> None:
        write_project(proj, "demo_up", version, ["accpy_tinydep==1.0", "numpy"])
        (proj / "demo_up" / "cli.py").write_text(f"def main():\n    {SHOW}\n")
        with (proj / "pyproject.toml").open("a") as f:
            f.write('[project.scripts]\ndemo-up = "demo_up.cli:main"\n')

    apps = cwd / "apps"
    env = {"ACC_PY_DEPLOY_BASE": str(apps)}
    project("1.0")
    ok(acc(root, proj, "app", "lock", "--base-python", VERSION))  # the active base: as without
    ok(acc(root, proj, "app", "deploy", ".", **env))
    ok(acc(root, cwd, "app", "promote", "demo_up", "1.0", **env))
    deployed = file_list(apps)

    # refusals: a lock made for another base, a base not installed, one past its end of life
    project("1.1")
    for args, kind, words in (
        (["--base-python=2024.12"], BaseError, ["made on the Acc-Py base 2023.06", "lock again"]),
        (["--base-python=2019.01"], BaseError, ["not installed", "2023.06, 2024.12"]),
        (["--base-python=2020.11"], RefusedError, ["end of life on 2024-01-01"]),
        (["--base-python=latest"], UsageError, ["not a base version"]),
    ):
        err = one_line_error(acc(root, proj, "app", "deploy", ".", *args, **env), kind, *words)
        assert "Traceback" not in err
        assert file_list(apps) == deployed
    one_line_error(acc(root, proj, "app", "lock", "--base-python=2020.11"), RefusedError, "2020.11")
    assert (
        (proj / "deployment" / "app" / "requirements.txt")
        .read_text()
        .startswith(f"### base_python: {VERSION}\n")
    )

    # the upgrade, as the documentation gives it
    body = (
        f"export ACC_PY_DEPLOY_BASE={apps}\ncd {proj}\n"
        f"acc-py app lock . --base-python={OTHER} && acc-py app deploy . --base-python={OTHER}"
    )
    upgraded = in_base(root / "base" / OTHER, body, cwd.parent / "home")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    lock = proj / "deployment" / "app" / "requirements.txt"
    assert lock.read_text().startswith(f"### base_python: {OTHER}\n")
    # the same lock from the 2023.06 base, through 2024.12's acc-py: byte for byte, unchanged
    again = ok(acc(root, proj, "app", "lock", ".", f"--base-python={OTHER}"))
    assert "Unchanged:" in again and f"on base {OTHER}" in again
    new = apps / "demo_up" / "1.1"
    assert f"home = {root / 'base' / OTHER / 'bin'}\n" in (new / "venv" / "pyvenv.cfg").read_text()

    def ran(launcher: Path) -> str:
        proc = subprocess.run([str(launcher)], capture_output=True, text=True, check=False,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(cwd)})  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert ran(new / "exec" / "demo-up") == "3.13 1.0\n"
    assert ran(apps / "demo_up" / "1.0" / "exec" / "demo-up") == "3.11 1.0\n"  # the old one
    ok(acc(root, cwd, "app", "promote", "demo_up", "1.1", **env))
    assert ok(acc(root, cwd, "app", "run", "demo_up", **env)) == "3.13 1.0\n"
    assert ok(acc(root, cwd, "app", "run", "--version", "1.0", "demo_up", **env)) == "3.11 1.0\n"

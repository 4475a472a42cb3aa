"""The CI jobs' helper (ci-templates/src/acc_py_ci.py), as the templates carry it: what it
decides about a project's wheel, requirements, tests and publishing, on every local Python."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from conftest import PROJECT, every_python, python_exe

from accpy_builder import ci_templates, inject
from accpy_manifest import load_manifest

TEMPLATES = PROJECT / "ci-templates"


def rendered(where: Path) -> Path:
    values = ci_templates.values(load_manifest(PROJECT / "versions.yaml"))
    source = (TEMPLATES / ci_templates.HELPER).read_text()
    path = where / "acc_py_ci.py"
    path.write_text(inject.render(source, values, ci_templates.HELPER))
    return path


@pytest.fixture
def ci(tmp_path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("acc_py_ci", rendered(tmp_path))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wheel(
    where: Path, name: str, tag: str = "py3-none-any", files: dict[str, str] | None = None
) -> Path:
    path = where / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, text in (files or {f"{name}/__init__.py": ""}).items():
            zf.writestr(rel, text)
        zf.writestr(f"{name}-1.0.dist-info/METADATA", f"Name: {name}\nVersion: 1.0\n")
    return path


def test_the_wheel_of_this_python_is_picked_and_logged(
    ci: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pure = wheel(tmp_path, "demo")
    other = wheel(tmp_path, "demo", "cp27-cp27mu-manylinux1_x86_64")
    assert ci.pick_wheel(str(tmp_path)) == str(pure)
    assert f"{pure} sha256 {ci.sha256(str(pure))}" in capsys.readouterr().err
    pure.unlink()
    with pytest.raises(ci.Refused, match=r"no wheel in .* installs on Python"):
        ci.pick_wheel(str(tmp_path))
    other.unlink()
    wheel(tmp_path, "demo")
    (tmp_path / "demo-2.0-py3-none-any.whl").write_bytes(
        (tmp_path / "demo-1.0-py3-none-any.whl").read_bytes()
    )
    with pytest.raises(ci.Refused, match="several projects or versions"):
        ci.pick_wheel(str(tmp_path))


def report(where: Path, extras: list[str], requires: list[str]) -> Path:
    path = where / "report.json"
    item = {
        "is_direct": True, "requested": True,
        "metadata": {
            "name": "demo", "version": "1.0", "provides_extra": extras, "requires_dist": requires,
        },
    }  # fmt: skip
    path.write_text(json.dumps({"install": [item]}))
    return path


def test_requirements_of_extras_and_groups(
    ci: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[dependency-groups]\ntest = ["pytest>=8", {include-group = "coverage"}]\n'
        'coverage = ["coverage"]\ndocs = ["sphinx"]\n'
    )
    requires = ['hypothesis; extra == "tests"', "numpy", 'furo; extra == "doc"']
    out = tmp_path / "reqs.txt"
    ci.requirements(
        "test", str(tmp_path), str(report(tmp_path, ["tests", "doc"], requires)), str(out)
    )
    assert out.read_text().splitlines() == ["hypothesis", "pytest>=8", "coverage"]
    ci.requirements("docs", str(tmp_path), str(tmp_path / "report.json"), str(out))
    assert out.read_text().splitlines() == ["furo", "sphinx"]
    monkeypatch.setenv("ACC_PY_TEST_GROUPS", "none")
    monkeypatch.setenv("ACC_PY_TEST_EXTRAS", "doc")
    ci.requirements("test", str(tmp_path), str(tmp_path / "report.json"), str(out))
    assert out.read_text().splitlines() == ["furo"]
    monkeypatch.setenv("ACC_PY_TEST_EXTRAS", "testing")
    with pytest.raises(
        ci.Refused,
        match=r"ACC_PY_TEST_EXTRAS=testing: the project declares no extras testing "
        r"\(it has: tests, doc\)",
    ):
        ci.requirements("test", str(tmp_path), str(tmp_path / "report.json"), str(out))


def test_auto_takes_dev_when_no_test_group(ci: ModuleType) -> None:
    assert ci.choose("test", "groups", ["lint", "dev"], "X_UNSET") == ["dev"]
    assert ci.choose("test", "extras", ["dev"], "X_UNSET") == []
    assert ci.choose("docs", "groups", ["Documentation"], "X_UNSET") == ["Documentation"]


def test_a_group_that_includes_itself_is_refused(ci: ModuleType) -> None:
    with pytest.raises(ci.Refused, match="includes itself"):
        ci.resolve_group({"a": [{"include-group": "b"}], "b": [{"include-group": "a"}]}, "a")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"pytest.ini": "[pytest]\ntestpaths = testing\n"}, ["testing"]),
        ({"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["test"]\n'}, ["test"]),
        ({"setup.cfg": "[tool:pytest]\ntestpaths =\n  src/demo/tests\n"}, ["src/demo/tests"]),
        ({"tox.ini": "[pytest]\naddopts = -ra\n"}, []),
        (
            {
                "pyproject.toml": "[project]\nname = 'x'\n",
                "setup.cfg": "[tool:pytest]\ntestpaths = t\n",
            },
            ["t"],
        ),
    ],
)
def test_pytest_configuration_is_read_as_pytest_does(
    ci: ModuleType, tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    config, paths = ci.pytest_config(str(tmp_path))
    assert config is not None and paths == expected


def test_the_tests_run_from_a_copy_without_the_sources(ci: ModuleType, tmp_path: Path) -> None:
    """src layout, tests inside the package: the copy has no package, the path is the
    installed one; the configuration comes along."""
    project = tmp_path / "project"
    (project / "src" / "demo" / "tests").mkdir(parents=True)
    (project / "src" / "demo" / "__init__.py").write_text("")
    (project / "src" / "demo" / "tests" / "test_x.py").write_text("")
    (project / "docs").mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["src/demo/tests"]\n'
    )
    built = wheel(tmp_path, "demo", files={"demo/__init__.py": "", "demo/tests/test_x.py": ""})
    site, copy = tmp_path / "site", tmp_path / "copy"
    args = ci.tests(str(project), str(built), str(site), str(copy))
    assert args == [
        "--rootdir",
        str(copy),
        "-c",
        str(copy / "pyproject.toml"),
        str(site / "demo" / "tests"),
    ]
    assert not (copy / "src" / "demo").exists() and (copy / "docs").is_dir()
    # flat layout, tests/ at the top: copied, the package is not
    flat = tmp_path / "flat"
    (flat / "demo").mkdir(parents=True)
    (flat / "demo" / "__init__.py").write_text("")
    (flat / "tests").mkdir()
    (flat / "tests" / "test_y.py").write_text("")
    args = ci.tests(str(flat), str(built), str(site), str(copy))
    assert args == [
        "--rootdir",
        str(copy),
        "-c",
        str(copy / ".acc-py-ci-pytest.ini"),
        str(copy / "tests"),
    ]
    assert (copy / ".acc-py-ci-pytest.ini").read_text() == "[pytest]\n"  # defaults, as no config
    assert (copy / "tests" / "test_y.py").is_file() and not (copy / "demo").exists()


def test_a_run_path_out_of_the_wheel_is_named(ci: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "x.c").write_text("int x(void) { return 1; }\n")
    for name, rpath in (
        ("out", "/usr/local/lib"),
        ("in", "$ORIGIN/../demo.libs"),
        ("up", "$ORIGIN/../.."),
    ):
        subprocess.run(
            ["cc", "-shared", "-fPIC", f"-Wl,-rpath,{rpath}", str(tmp_path / "x.c"),
             "-o", str(tmp_path / f"{name}.so")],
            check=True,
        )  # fmt: skip
    built = tmp_path / "demo-1.0-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(built, "w") as zf:
        for name in ("out", "in", "up"):
            zf.write(tmp_path / f"{name}.so", f"demo/{name}.so")
    assert ci.run_paths(str(built)) == [
        "demo/out.so: RUNPATH /usr/local/lib", "demo/up.so: RUNPATH $ORIGIN/../..",
    ]  # fmt: skip


def test_publish_refusals(ci: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dist").mkdir()
    wheel(tmp_path / "dist", "demo")
    monkeypatch.setenv("CI_COMMIT_TAG", "v1.1")
    with pytest.raises(
        ci.Refused, match=r"the tag v1\.1 does not match the package's version 1\.0"
    ):
        ci.publish()
    monkeypatch.setenv("CI_COMMIT_TAG", "v1.0")
    with pytest.raises(ci.Refused, match="publish needs TWINE_USERNAME and TWINE_PASSWORD"):
        ci.publish()
    for v in ("TWINE_USERNAME", "TWINE_PASSWORD"):
        monkeypatch.setenv(v, "x")
    monkeypatch.setenv("PYPI_REPOSITORY", "acc-py-repo")
    assert ci.publish() == ci_templates.upload_url(
        load_manifest(PROJECT / "versions.yaml").site.index_url
    )
    monkeypatch.setenv("PYPI_REPOSITORY", "https://other.example/")
    assert ci.publish() == "https://other.example/"


@pytest.mark.parametrize("minor", every_python())
def test_it_runs_on_every_local_python(minor: str, tmp_path: Path) -> None:
    """The bases' Pythons run it: 3.7 and newer, with pip's vendored parsers."""
    helper = rendered(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "PYTHON_VERSIONS": "3.11,3.13"}
    ok = subprocess.run([str(python_exe(minor)), "-I", str(helper), "python-versions"], env=env,
                        capture_output=True, text=True, check=False)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([str(python_exe(minor)), "-I", str(helper), "python-versions"],
                         env={**env, "PYTHON_VERSIONS": "3.8"}, capture_output=True, text=True,
                         check=False)  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith(
        "ERROR: PYTHON_VERSIONS='3.8': 3.8 is not the Python of an Acc-Py base"
    )
    (tmp_path / "pyproject.toml").write_text('[dependency-groups]\ntest = ["pytest"]\n')
    out = tmp_path / "r.txt"
    made = subprocess.run(
        [str(python_exe(minor)), "-I", str(helper), "requirements", "test", str(tmp_path),
         str(report(tmp_path, [], [])), str(out)], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert out.read_text() == "pytest\n"


def test_the_helper_in_the_templates_is_the_rendered_source(tmp_path: Path) -> None:
    jobs = (TEMPLATES / "v2" / "jobs.gitlab-ci.yml").read_text()
    for line in rendered(tmp_path).read_text().splitlines():
        assert ("      " + line if line else "") in jobs
    assert sys.version_info >= (3, 11)

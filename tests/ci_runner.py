"""The CI templates run for real: projects' pipelines, by gitlab-ci-local, on the suite's bases.

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
- **The index**: the suite's site index (pypiserver behind https with the suite's private CA,
  uploads with a password), which the bases' pip.conf names and whose CA the bases trust; the
  templates are generated from a manifest naming it, so that ``PYPI_REPOSITORY: acc-py-repo``
  is it. What the jobs install from it (the tools of the templates' lock, the projects' build
  backends and test requirements) are real files from PyPI put on it.
- **2026.01**: this machine has no CPython 3.14, so the templates are generated from
  versions.yaml with 2026.01 deprecated: the matrix runs on 2023.06 and 2024.12.
- **Tags**: gitlab-ci-local does not derive ``CI_COMMIT_TAG`` from git; a tag pipeline is run
  with ``--variable CI_COMMIT_TAG=<tag>`` on a commit carrying that tag, as GitLab would set it.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import PROJECT, in_base
from packaging.markers import Marker
from servers import GitServer, Index, git_server
from wheels import cached, download

from accpy_builder import ci_templates
from accpy_core.names import CI_TEMPLATES_PROJECT, CI_TEMPLATES_REF

#: gitlab-ci-local, as `make test-deps` installs it (beside the venv's python)
GITLAB_CI_LOCAL = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
PYTHONS = {"2023.06": "3.11", "2024.12": "3.13"}
SHELL_RUNNER = ".gitlab-ci-shell-runner.yml"
#: the date the end-of-life warnings are computed for (ACC_PY_CI_TODAY)
TODAY = "2026-12-01"
#: 2024.12's end of life in the test manifest: within six months of TODAY
EOL_2412 = "2027-03-31"
#: what the jobs install when a project brings nothing of its own (ci_templates' defaults),
#: and what building the projects made by `acc-py init` takes
DEFAULTS = (ci_templates.PYTEST, ci_templates.SPHINX, "setuptools", "wheel")

#: the include of Acc-Py's documentation, word for word (the pipeline and the docs)
DOCUMENTED = """\
include:
  - project: 'acc-co/devops/python/acc-py-gitlab-ci-templates'
    ref: 'v2'
    file: 'python-package.yml'
  - project: 'acc-co/devops/python/acc-py-gitlab-ci-templates'
    ref: 'v2'
    file: 'build-docs.yml'
variables:
  PYTHON_VERSIONS: "3.11,3.13"
  PYPI_REPOSITORY: "acc-py-repo"
"""


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


def ci_manifest(where: Path, index: Index) -> Path:
    """versions.yaml with 2026.01 deprecated (no CPython 3.14 here), 2024.12 reaching its end
    of life within six months of TODAY, and the suite's index as the site's."""
    text = (PROJECT / "versions.yaml").read_text()
    for version, status in (("2026.01", "deprecated"), ("2024.12", "supported")):
        entry = f'  - version: "{version}"\n    status: supported\n'
        assert entry in text, f"{version} is no longer supported in versions.yaml"
        eol = "2027-06-30" if version == "2026.01" else EOL_2412
        text = text.replace(entry, f'  - version: "{version}"\n    status: {status}\n'
                                   f"    end_of_life: {eol}\n")  # fmt: skip
    site_index = next(line for line in text.splitlines() if line.startswith("  index_url: "))
    text = text.replace(site_index, f"  index_url: {index.url}")
    where.mkdir(parents=True, exist_ok=True)
    (where / "versions.yaml").write_text(text)
    return where / "versions.yaml"


def git(cwd: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=Acc-Py CI test", "-c", "user.email=acc-py@example.invalid"]
    return subprocess.run(
        ["git", *ident, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout


def tools_for(python: str, where: Path) -> Path:
    """The templates' tools lock, for one Python: the lines whose marker holds, hashes kept."""
    lock = (PROJECT / "ci-templates" / ci_templates.TOOLS_LOCK).read_text()
    entries = lock.replace("\\\n", " ").splitlines()
    kept = []
    for entry in entries:
        if entry.startswith("#") or not entry.strip():
            continue
        requirement, _, rest = entry.partition(" --hash")
        name, _, marker = requirement.partition(";")
        if not marker.strip() or Marker(marker).evaluate({"python_version": python}):
            kept.append(f"{name.strip()} --hash{rest}")
    path = where / f"tools-{python}.txt"
    path.write_text("\n".join(kept) + "\n")
    return path


def fill_index(
    index: Index,
    name: str,
    wanted: tuple[str, ...] | dict[str, tuple[str, ...]],
    *,
    tools: bool = True,
) -> None:
    """Put on ``index`` what the jobs install, for both bases' Pythons: the tools' locked
    files (hash-checked, unless ``tools`` is false) and ``wanted`` (pip download's arguments:
    requirements, with what they need; or those of each Python), downloaded once."""

    def fetch(dest: Path) -> None:
        for python in sorted(set(PYTHONS.values())):
            if tools:
                lock = tools_for(python, dest)
                download(dest, "--require-hashes", "--no-deps", "-r", str(lock), python=python)
            args = wanted.get(python, ()) if isinstance(wanted, dict) else wanted
            if args:
                download(dest, *args, python=python)

    lock = (PROJECT / "ci-templates" / ci_templates.TOOLS_LOCK).read_bytes()
    digest = hashlib.sha256(lock).hexdigest()
    got = cached(name, f"{wanted} {sorted(PYTHONS.values())} {digest}", fetch)
    for wheel in got.iterdir():
        if wheel.suffix in (".whl", ".gz", ".zip") and not (index.root / wheel.name).exists():
            shutil.copy2(wheel, index.root / wheel.name)


@contextlib.contextmanager
def runner_on(base_dists: tuple[Path, ...], index: Index, work: Path) -> Iterator[Runner]:
    """Both bases installed under a root (the first as pro), the templates generated for the
    test manifest in a repository tagged v2, served over git's smart HTTP."""
    assert GITLAB_CI_LOCAL.exists(), f"no {GITLAB_CI_LOCAL}: `make test-deps` installs it"
    root = work / "root"
    for i, dist in enumerate(base_dists):
        (tarball,) = dist.glob("acc-py-base-*.tar.gz")
        proc = subprocess.run(
            [sys.executable, "-m", "acc_py_install.cli", "-q", "install", str(tarball),
             "--root", str(root), *(["--pro"] if i == 0 else [])],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    templates = work / "templates"
    shutil.copytree(PROJECT / "ci-templates" / "src", templates / "src")
    made = subprocess.run(
        [sys.executable, "-m", "accpy_builder.cli", "ci-templates", "--manifest",
         str(ci_manifest(work, index)), "--templates", str(templates)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    shutil.rmtree(templates / "src")
    git(templates, "init", "-q", "-b", "main")
    git(templates, "add", "-A")
    git(templates, "commit", "-q", "-m", "the Acc-Py CI templates")
    git(templates, "tag", CI_TEMPLATES_REF)
    bare = work / "git" / f"{CI_TEMPLATES_PROJECT}.git"
    bare.parent.mkdir(parents=True)
    git(work, "clone", "-q", "--bare", str(templates), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")
    with git_server(work / "git") as server:
        yield Runner(root, server, index, work / "home")


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
        cwd=project, env=runner.env(), capture_output=True, text=True, timeout=1800,
        check=False,
    )  # fmt: skip


_RULES = """
import {{Utils}} from {utils};
const {{rules, variables}} = JSON.parse(process.argv[1]);
const opt = {{cwd: ".", rules, variables, argv: {{}}}};
console.log(Utils.getRulesResult(opt, {{branches: {{default: "main"}}}}).when);
"""


def workflow_when(rules: list[dict[str, object]], variables: dict[str, str]) -> str:
    """What ``workflow: rules:`` decide for a pipeline of ``variables`` (``never``: no pipeline),
    by gitlab-ci-local's own evaluator of rules: its 4.56 applies rules to jobs, not to the
    workflow, so the tests ask the evaluator directly."""
    import json

    utils = GITLAB_CI_LOCAL.resolve().parent / "utils.js"
    node = shutil.which("node")
    assert node, "node is not installed: `make test-deps` installs it"
    script = _RULES.format(utils=json.dumps(utils.as_uri()))
    proc = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps({"rules": rules,
                                                                 "variables": variables})],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return proc.stdout.strip()


def results(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """{job: PASS|FAIL} from gitlab-ci-local's summary."""
    out = {}
    for line in proc.stdout.splitlines():
        words = line.split(maxsplit=1)
        if len(words) == 2 and words[0] in ("PASS", "FAIL"):
            out[words[1].strip()] = words[0]
    return out


def init_ci(runner: Runner, project: Path, base: str = "pro") -> None:
    """`acc-py init-ci` in ``project``, on ``base``, as a user runs it."""
    made = in_base(runner.root / "base" / base, f"cd {project} && acc-py init-ci", runner.home)
    assert made.returncode == 0, made.stdout + made.stderr


def as_repository(runner: Runner, project: Path, tag: str | None = None) -> Path:
    """``project`` committed, with an origin on the loopback GitLab, ``tag`` on it, and the
    shell-runner file beside it (untracked)."""
    git(project, "init", "-q", "-b", "main")
    git(project, "remote", "add", "origin", f"{runner.git.url}/acc-co/{project.name}.git")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", f"{project.name}, with the .gitlab-ci.yml of the test")
    if tag:
        git(project, "tag", tag)
    (project / SHELL_RUNNER).write_text(
        "# the test's runner: a shell executor, which ignores image: as GitLab's do\n"
        "include:\n  - local: .gitlab-ci.yml\n.acc_py_run_on_acc_py:\n  image: null\n"
    )
    return project


def jobs_of(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The job names of ``gitlab-ci-local --list``."""
    jobs = [line.split("  ")[0].strip() for line in proc.stdout.splitlines()[1:]]
    return [j for j in jobs if j and not j.startswith("name")]


def from_the_index(
    runner: Runner, where: Path, requirement: str, command: str
) -> Iterator[subprocess.CompletedProcess[str]]:
    """On each base of the matrix: a fresh `acc-py venv` under ``where``, ``requirement``
    pip-installed into it from the site index, then its python runs ``command`` (arguments
    after ``python``) from /, so that nothing of ``where`` is imported."""
    for version in PYTHONS:
        venv = where / f"venv-{version}"
        body = (
            f"cd {where} && acc-py venv {venv} >/dev/null && "
            f"{venv}/bin/python -m pip install -q {requirement} && cd / && {venv}/bin/python "
            f"{command}"
        )
        yield in_base(runner.root / "base" / version, body, runner.home)

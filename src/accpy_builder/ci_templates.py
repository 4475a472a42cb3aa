"""The GitLab CI templates, generated from versions.yaml.

The templates project serves, at its ref ``v2``:

- ``python-package.yml`` and ``build-docs.yml``: what Acc-Py's documentation includes
  (``PYTHON_VERSIONS`` chooses the bases by their Python, ``PYPI_REPOSITORY`` names the site's
  repository);
- ``v2/python.gitlab-ci.yml``: what ``acc-py init-ci`` includes (``PY_VERSION`` and
  ``ACC_PY_BASE_IMAGE_TAG``; the matrix of the supported bases);
- ``v2/jobs.gitlab-ci.yml``: the hidden ``.acc_py_*`` jobs all three are made of.

What depends on the manifest comes from it: the default base (the pro one) and its Python, the
matrix of every base marked pro or supported, the Python of every base, the table of every
base's status and end of life (the jobs' deprecation warnings), the image registry, the install
root, the site's repository and its upload URL. The rest is the sources in ``ci-templates/src/``
(``@NAME@`` tokens, rendered by :func:`accpy_builder.inject.render`): the YAML, the jobs' helper
``acc_py_ci.py`` (a Python program, linted and tested as one, carried in the YAML) and the
lock of the jobs' tools, ``tools.lock``. The generated files are committed: the templates
project serves them as they are, and :func:`stale` tells when they lag behind the manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from accpy_core.errors import ManifestError
from accpy_core.fs import atomic_write
from accpy_core.images import repository
from accpy_core.names import CI_TEMPLATES_FILE, CI_TEMPLATES_PROJECT, CI_TEMPLATES_REF
from accpy_core.versions import PRO, SUPPORTED, version_key
from accpy_manifest.model import BaseSpec, Manifest

from . import inject, pins

#: the source of each generated file, relative to the templates directory
SOURCES = {
    "v2/jobs.gitlab-ci.yml": "src/jobs.gitlab-ci.yml.in",
    "v2/python.gitlab-ci.yml": "src/python.gitlab-ci.yml.in",
    "python-package.yml": "src/python-package.yml.in",
    "build-docs.yml": "src/build-docs.yml.in",
}
HELPER = "src/acc_py_ci.py"
TOOLS_LOCK = "src/tools.lock"
TOOLS_IN = "src/tools.in"
#: the name the site's index goes by in PYPI_REPOSITORY (as in Acc-Py's documentation)
REPOSITORY_NAME = "acc-py-repo"
#: what the jobs install when the project's requirements do not bring it
PYTEST = "pytest==8.4.2"
SPHINX = "sphinx==7.4.7"
MKDOCS = "mkdocs==1.6.1"
#: the heredocs of the helper and the lock sit at this indentation in the YAML
HEREDOC_INDENT = " " * 6
#: the oldest platform a native wheel may need: what every operational base runs
FLOOR = "manylinux2014_x86_64"
DEFAULT_REGISTRY = "registry.cern.ch/acc"  # as Acc-Py's documentation names the images
#: the images the jobs run in: <registry>/acc-py_<os>_ci (the registry is a CI variable)
CI_OS = "el9"
CI_VARIANT = "ci"


@dataclass(frozen=True)
class Generated:
    path: str  # relative to the templates directory: "v2/python.gitlab-ci.yml"
    text: str


def upload_url(index_url: str) -> str:
    """twine's repository URL of the site index: its /simple/ page's parent."""
    return index_url[: -len("simple/")] if index_url.endswith("/simple/") else index_url


def current(manifest: Manifest) -> list[BaseSpec]:
    """The bases marked pro or supported, oldest first."""
    bases = [b for b in manifest.bases if b.status in (PRO, SUPPORTED)]
    if not bases:
        raise ManifestError("versions.yaml marks no base pro or supported: the CI has none")
    return sorted(bases, key=lambda b: version_key(b.version))


def by_python(manifest: Manifest) -> list[BaseSpec]:
    """One base per Python, the newest of each (what PYTHON_VERSIONS chooses), oldest first."""
    chosen: dict[str, BaseSpec] = {}
    for b in sorted(manifest.bases, key=lambda b: version_key(b.version)):
        chosen[b.python_minor] = b
    return sorted(chosen.values(), key=lambda b: version_key(b.version))


def per_python_jobs(manifest: Manifest) -> str:
    """python-package.yml's jobs: each of build_wheel, dev_test and wheel_test once per base,
    run when PYTHON_VERSIONS names the base's Python."""
    out = []
    for b in by_python(manifest):
        regex = re.escape(b.python_minor).replace("/", "\\/")
        for job in ("build_wheel", "dev_test", "wheel_test"):
            out += [
                f"{job} {b.python_minor}:",
                f"  extends: .acc_py_{job}_job",
                "  variables:",
                f'    ACC_PY_BASE_IMAGE_TAG: "{b.version}"',
                f'    PY_VERSION: "{b.python_minor}"',
                "  rules:",
                f"    - if: $PYTHON_VERSIONS =~ /(^|,) *{regex} *(,|$)/",
                "",
            ]
    return "\n".join(out)


def _heredoc(text: str) -> str:
    """``text`` as the body of a heredoc in a YAML literal block (see :data:`HEREDOC_INDENT`)."""
    return "\n".join(
        HEREDOC_INDENT + line if line else "" for line in text.rstrip("\n").split("\n")
    )


def values(manifest: Manifest, templates: Path | None = None) -> dict[str, str]:
    """The tokens of every source but ``@HEADER@`` (see :func:`generate`); ``templates``: where
    the helper and the tools' lock are (their tokens are only given with it)."""
    bases = current(manifest)
    pro = next((b for b in bases if b.status == PRO), bases[-1])
    cases = []
    for b in sorted(manifest.bases, key=lambda b: version_key(b.version)):
        eol = b.end_of_life.isoformat() if b.end_of_life else ""
        cases.append(f'          "{b.version}") acc_py_status={b.status} acc_py_eol={eol} ;;')
    matrix = []
    for b in bases:
        matrix.append(f'      - ACC_PY_BASE_IMAGE_TAG: "{b.version}"')
        matrix.append(f'        PY_VERSION: "{b.python_minor}"')
    listed = ", ".join(f"{b.version} ({b.status})" for b in manifest.bases)
    images = manifest.site.images
    pythons = [b.python_minor for b in by_python(manifest)]
    common = {
        "TEMPLATES_PROJECT": CI_TEMPLATES_PROJECT,
        "TEMPLATES_REF": CI_TEMPLATES_REF,
        "TEMPLATES_FILE": CI_TEMPLATES_FILE,
        "PRO_VERSION": pro.version,
        "PRO_PYTHON": pro.python_minor,
        "REGISTRY": images.registry if images else DEFAULT_REGISTRY,
        "CI_IMAGE": repository("", CI_OS, CI_VARIANT),
        "INSTALL_ROOT": manifest.site.install_root,
        "UPLOAD_URL": upload_url(manifest.site.index_url),
        "FLOOR": FLOOR,
        "BASE_CASES": "\n".join(cases),
        "BASE_LIST": listed,
        "SUPPORTED_MATRIX": "\n".join(matrix),
        "SUPPORTED_PYTHONS": ",".join(b.python_minor for b in bases),
        "SUPPORTED_LIST": ", ".join(f"{b.version} ({b.python_minor})" for b in bases),
        "PYTHON_BASES": "\n".join(
            f"#   {b.python_minor}: Acc-Py base {b.version} ({b.status})"
            for b in by_python(manifest)
        ),
        "BASE_PYTHONS": ",".join(pythons),
        "PER_PYTHON_JOBS": per_python_jobs(manifest),
        "REPOSITORY_NAME": REPOSITORY_NAME,
        "PYTEST": PYTEST,
        "SPHINX": SPHINX,
        "MKDOCS": MKDOCS,
    }
    if templates is not None:
        helper = (templates / HELPER).read_text(encoding="utf-8")
        common["HELPER"] = _heredoc(inject.render(helper, common, HELPER))
        common["TOOLS_LOCK"] = _heredoc((templates / TOOLS_LOCK).read_text(encoding="utf-8"))
    return common


def generate(manifest: Manifest, templates: Path) -> list[Generated]:
    """Every template, rendered from its source under ``templates`` for ``manifest``."""
    common = values(manifest, templates)
    out = []
    for path, source in SOURCES.items():
        header = (
            f"# Acc-Py GitLab CI templates, {CI_TEMPLATES_REF}: {CI_TEMPLATES_PROJECT}.\n"
            f"# GENERATED from versions.yaml and ci-templates/{source} by `make ci-templates`: "
            "do not edit."
        )
        text = (templates / source).read_text(encoding="utf-8")
        out.append(Generated(path, inject.render(text, {**common, "HEADER": header}, source)))
    return out


def stale(manifest: Manifest, templates: Path) -> list[str]:
    """The generated files under ``templates`` that differ from what ``manifest`` gives."""
    wrong = []
    for g in generate(manifest, templates):
        target = templates / g.path
        if not target.is_file() or target.read_text(encoding="utf-8") != g.text:
            wrong.append(g.path)
    return wrong


def lock_tools(manifest: Manifest, templates: Path, *, index_url: str, cafile: Path | None) -> Path:
    """Resolve ``src/tools.in`` for the Python of every base (one base per Python) into
    ``src/tools.lock``: exact versions and the sha256 of every wheel the jobs may install."""
    bases = by_python(manifest)
    pythons = [b.python_minor for b in bases]
    platform = next((b.platform for b in bases if b.status == PRO), bases[-1].platform)
    source = templates / TOOLS_IN
    header = (
        "The tools of the Acc-Py CI jobs (.acc_py_tools), locked from ci-templates/src/tools.in",
        "by `make ci-templates-lock` for Python " + ", ".join(pythons) + f" on {platform}:",
        "exact versions, and the sha256 of every wheel; do not edit.",
    )
    text = pins.lock_requirements(
        source.read_text(encoding="utf-8"), pythons, platform, index_url=index_url,
        cafile=cafile, header=header,
    )  # fmt: skip
    target = templates / TOOLS_LOCK
    atomic_write(target, text)
    return target

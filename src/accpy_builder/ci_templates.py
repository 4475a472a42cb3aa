"""The GitLab CI templates (``ci-templates/v2/*.gitlab-ci.yml``), generated from versions.yaml.

What depends on the manifest comes from it: the default base (the pro one) and its Python, the
matrix of every base marked pro or supported, the table of every base's status and end of life
(the jobs' deprecation warnings), the image registry, the install root and the upload URL. The
rest is the sources in ``ci-templates/src/*.gitlab-ci.yml.in`` (``@NAME@`` tokens, rendered by
:func:`accpy_builder.inject.render`). The generated files are committed: the templates project
serves them as they are, and :func:`stale` tells when they lag behind the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accpy_core.errors import ManifestError
from accpy_core.images import repository
from accpy_core.names import CI_TEMPLATES_FILE, CI_TEMPLATES_PROJECT, CI_TEMPLATES_REF
from accpy_core.versions import PRO, SUPPORTED, version_key
from accpy_manifest.model import BaseSpec, Manifest

from . import inject

#: the source of each generated file, relative to the templates directory
SOURCES = {
    "v2/python.gitlab-ci.yml": "src/python.gitlab-ci.yml.in",
    "v2/docs.gitlab-ci.yml": "src/docs.gitlab-ci.yml.in",
}
#: the oldest platform a native wheel may need: what every operational base runs
FLOOR = "manylinux2014_x86_64"
DEFAULT_REGISTRY = "registry.cern.ch/acc-py"
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


def values(manifest: Manifest) -> dict[str, str]:
    """The tokens of every source but ``@HEADER@`` (see :func:`generate`)."""
    bases = current(manifest)
    pro = next((b for b in bases if b.status == PRO), bases[-1])
    cases = []
    for b in sorted(manifest.bases, key=lambda b: version_key(b.version)):
        eol = b.end_of_life.isoformat() if b.end_of_life else ""
        cases.append(f'        "{b.version}") acc_py_status={b.status} acc_py_eol={eol} ;;')
    matrix = []
    for b in bases:
        matrix.append(f'      - ACC_PY_BASE_IMAGE_TAG: "{b.version}"')
        matrix.append(f'        PY_VERSION: "{b.python_minor}"')
    listed = ", ".join(f"{b.version} ({b.status})" for b in manifest.bases)
    images = manifest.site.images
    return {
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
    }


def generate(manifest: Manifest, templates: Path) -> list[Generated]:
    """Every template, rendered from its source under ``templates`` for ``manifest``."""
    common = values(manifest)
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

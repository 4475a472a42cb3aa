"""``acc-py init-ci``: a ``.gitlab-ci.yml`` that includes the site's CI templates.

The pipeline is not written here: the file includes ``v2/python.gitlab-ci.yml`` of the GitLab
project ``acc-co/devops/python/acc-py-gitlab-ci-templates`` (``ci-templates/`` of the Acc-Py
builder) and sets the two variables the templates read, ``PY_VERSION`` and
``ACC_PY_BASE_IMAGE_TAG``, to the active base's. The templates build the sdist and the wheels
(repaired with auditwheel for every supported base), run pre-commit, the tests (editable, and
against the built wheel) and Sphinx, and publish on a git tag. A change to the pipeline is a
change to the templates, which every project then gets.
"""

from __future__ import annotations

import argparse
import os
import sys

from accpy_core.errors import RefusedError
from accpy_core.fs import atomic_write
from accpy_core.names import CI_TEMPLATES_FILE, CI_TEMPLATES_PROJECT, CI_TEMPLATES_REF
from accpy_core.versions import DEPRECATED

from ._base import Base

HELP = "write .gitlab-ci.yml: the Acc-Py CI templates (build, test, docs, publish on a tag)"
FILENAME = ".gitlab-ci.yml"


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        f"{HELP}. The file includes {CI_TEMPLATES_FILE} of the GitLab project "
        f"{CI_TEMPLATES_PROJECT} (ref {CI_TEMPLATES_REF}) and sets PY_VERSION and "
        "ACC_PY_BASE_IMAGE_TAG to the active base's. It never overwrites an existing file "
        "unless --force is given."
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing .gitlab-ci.yml")


def render(base: Base, project: str) -> str:
    return (
        f"# GitLab CI of {project}: the Acc-Py templates build the sdist and the wheels, test on\n"
        "# every supported Acc-Py base, build the docs (docs/conf.py) and, on a git tag equal to\n"
        "# the package's version, publish to the Acc-Py index (set TWINE_USERNAME and\n"
        "# TWINE_PASSWORD, masked, in Settings > CI/CD > Variables).\n"
        f"# Written by `acc-py init-ci` on Acc-Py base {base.version}; to move to another base,\n"
        "# change both variables.\n"
        "include:\n"
        f"  - project: {CI_TEMPLATES_PROJECT}\n"
        f"    ref: {CI_TEMPLATES_REF}\n"
        f"    file: {CI_TEMPLATES_FILE}\n"
        "\n"
        "variables:\n"
        f'  PY_VERSION: "{base.python_version}"\n'
        f'  ACC_PY_BASE_IMAGE_TAG: "{base.version}"\n'
    )


def execute(args: argparse.Namespace, base: Base) -> int:
    path = os.path.abspath(FILENAME)
    if os.path.lexists(path) and not args.force:
        raise RefusedError(f"{path} already exists; acc-py init-ci --force overwrites it")
    atomic_write(path, render(base, os.path.basename(os.getcwd())))
    sys.stdout.write(
        f"Wrote {path}: the Acc-Py CI templates ({CI_TEMPLATES_FILE}, ref {CI_TEMPLATES_REF}) "
        f"on base {base.version} (Python {base.python_version})\n"
    )
    if base.status == DEPRECATED:
        eol = f", end of life {base.end_of_life}" if base.end_of_life else ""
        sys.stderr.write(
            f"acc-py: warning: base {base.version} is deprecated{eol}; the pipeline will warn "
            "until ACC_PY_BASE_IMAGE_TAG names a supported base\n"
        )
    return 0

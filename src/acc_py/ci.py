"""``acc-py init-ci``: a ``.gitlab-ci.yml`` for the project in the current directory.

Jobs: lint (ruff), build (sdist + wheel, a binary wheel repaired to the base's manylinux tag
with auditwheel), one test job per supported base of the manifest (every base that is not
deprecated), docs (Sphinx, when docs/conf.py exists) and publish (twine to the site's index, on
a git tag only).

Images: ``<registry>/acc-py_<os>[_<variant>]:<base version>`` (:mod:`accpy_core.images`), the
Acc-Py images with that base active: registry ``registry.cern.ch/acc`` (``--registry``), os
``cc7`` for a base built for glibc 2.17, ``el9`` otherwise, variant ``base`` (``--variant
gui_ci`` for Qt/X11 test jobs).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Union

from accpy_core.errors import BaseError, ConfigError, RefusedError
from accpy_core.fs import atomic_write
from accpy_core.images import VARIANT_NAMES, repository
from accpy_core.layout import DEFAULT_ROOT
from accpy_core.platforms import parse_platform
from accpy_core.versions import DEPRECATED, PRO, version_key

from ._base import Base, BaseInfo

HELP = "write .gitlab-ci.yml: tests on every supported base, lint, build, docs, publish on tag"
REGISTRY = "registry.cern.ch/acc"
FILENAME = ".gitlab-ci.yml"
#: the platform a build job repairs binary wheels to when the pro base names none
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"

#: a YAML node: a string, a list of nodes, or a mapping (kept in insertion order)
Node = Union[str, List["Node"], Dict[str, "Node"]]
Mapping_ = Dict[str, Node]


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = f"{HELP}. Images are <registry>/acc-py_<os>[_<variant>]:<base version>."
    p.add_argument("--force", action="store_true", help="overwrite an existing .gitlab-ci.yml")
    p.add_argument(
        "--registry",
        default=REGISTRY,
        help="container registry of the Acc-Py images (default: %(default)s)",
    )
    p.add_argument(
        "--variant",
        default="base",
        choices=VARIANT_NAMES,
        help="image variant: base, or gui_ci for tests that need X11/Qt (default: %(default)s)",
    )


def image_os(platform: str) -> str:
    """cc7 for manylinux2014 (glibc 2.17) bases, el9 for the newer ones."""
    if not platform:
        return "el9"
    try:
        plat = parse_platform(platform)
    except ConfigError:
        raise BaseError(
            f"the base's {platform!r} is not a platform tag: its ACC-PY.json is damaged; "
            "reinstall the base"
        ) from None
    old = plat.family == "manylinux" and plat.libc is not None and plat.libc <= (2, 17)
    return "cc7" if old else "el9"


def supported_bases(base: Base) -> list[BaseInfo]:
    """The manifest's bases that are not deprecated, oldest first (the current one if alone)."""
    rows = [b for b in base.bases if b.status != DEPRECATED] or [base.info()]
    return sorted(rows, key=lambda b: version_key(b.version))


def image(registry: str, b: BaseInfo, variant: str) -> str:
    return f"{repository(registry, image_os(b.platform), variant)}:{b.version}"


def pipeline(base: Base, registry: str = REGISTRY, variant: str = "base") -> Mapping_:
    """The pipeline as nested dicts, lists and strings (in the order of the file)."""
    bases = supported_bases(base)
    pro = ([b for b in bases if b.status == PRO] or [bases[-1]])[0]
    root = base.install_root or DEFAULT_ROOT
    index = base.index_url()
    publish_url = index[: -len("simple/")] if index.endswith("/simple/") else index
    setup: list[Node] = [
        # the images set ACC_PY_ROOT (/opt/acc-py); a runner with the shared area mounted uses it
        f'source "${{ACC_PY_ROOT:-{root}}}/base/${{ACC_PY_BASE_VERSION}}/setup.sh"',
        'acc-py venv "${CI_PROJECT_DIR}/venv"',
        'source "${CI_PROJECT_DIR}/venv/bin/activate"',
    ]

    def job(
        stage: str,
        b: BaseInfo,
        script: list[Node],
        extra_vars: Mapping_ | None = None,
        **extra: Node,
    ) -> Mapping_:
        variables: Mapping_ = {"ACC_PY_BASE_VERSION": b.version, **(extra_vars or {})}
        j: Mapping_ = {
            "stage": stage,
            "image": image(registry, b, variant),
            "variables": variables,
            "before_script": setup,
            "script": script,
        }
        j.update(sorted(extra.items()))
        return j

    plat = pro.platform or DEFAULT_PLATFORM
    jobs: Mapping_ = {
        "stages": ["lint", "build", "test", "docs", "publish"],
        "variables": {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "ACC_PY_PUBLISH_URL": publish_url},
        "lint": job(
            "lint", pro, ["python -m pip install ruff", "ruff check .", "ruff format --check ."]
        ),
        "build": job(
            "build",
            pro,
            [
                "python -m pip install build auditwheel",
                "python -m build --outdir dist .",
                # a compiled wheel is tagged linux_x86_64: repair it to the base's manylinux tag
                'for w in dist/*-linux_x86_64.whl; do if [ -f "$w" ]; then '
                f'auditwheel repair --plat {plat} -w dist "$w" && rm "$w"; fi; done',
            ],
            artifacts={"paths": ["dist/"], "expire_in": "1 week"},
        ),
    }
    for b in bases:
        jobs[f"test:{b.version}"] = job(
            "test", b, ['python -m pip install ".[test]"', "python -m pytest"], needs=[]
        )
    jobs["docs"] = job(
        "docs",
        pro,
        ['python -m pip install ".[doc]"', "python -m sphinx -b html docs public"],
        rules=[{"exists": ["docs/conf.py"]}],
        artifacts={"paths": ["public/"]},
    )
    jobs["publish"] = job(
        "publish",
        pro,
        [
            "python -m pip install twine",
            'python -m twine upload --non-interactive --repository-url "${ACC_PY_PUBLISH_URL}" '
            "dist/*",
        ],
        # credentials: the project's masked CI/CD variables
        extra_vars={
            "TWINE_USERNAME": "${ACC_PY_PUBLISH_USER}",
            "TWINE_PASSWORD": "${ACC_PY_PUBLISH_PASSWORD}",
        },
        rules=[{"if": "$CI_COMMIT_TAG"}],
        needs=["build"],
    )
    return jobs


def _scalar(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _key(k: str) -> str:
    plain = k and all(c.isalnum() or c in "_-." for c in k)
    return k if plain else _scalar(k)


def to_yaml(node: Mapping_, indent: int = 0) -> list[str]:
    """Block YAML of a mapping of mappings, lists and strings."""
    pad = "  " * indent
    lines = []
    for key, value in node.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{_key(key)}:")
            lines.extend(to_yaml(value, indent + 1))
        elif isinstance(value, list):
            if not value:
                lines.append(f"{pad}{_key(key)}: []")
                continue
            lines.append(f"{pad}{_key(key)}:")
            for item in value:
                if isinstance(item, dict):  # a mapping inside a list
                    sub = to_yaml(item, indent + 2)
                    lines.append(f"{pad}  - {sub[0].lstrip()}")
                    lines.extend(sub[1:])
                elif isinstance(item, str):
                    lines.append(f"{pad}  - {_scalar(item)}")
                else:
                    raise TypeError(f"a list inside a list cannot be written: {item!r}")
        else:
            lines.append(f"{pad}{_key(key)}: {_scalar(value)}")
    return lines


def render(base: Base, project: str, registry: str = REGISTRY, variant: str = "base") -> str:
    bases = ", ".join(b.version for b in supported_bases(base))
    head = [
        f"# GitLab CI of {project}, written by `acc-py init-ci` (Acc-Py base {base.version}).",
        f"# Tests run on every supported Acc-Py base ({bases}), each in its image",
        f"#   {registry}/acc-py_<os>_{variant}:<base version>",
        "# Publishing to the site's index runs on a git tag: set ACC_PY_PUBLISH_USER and",
        "# ACC_PY_PUBLISH_PASSWORD (masked) in Settings > CI/CD > Variables.",
        "# Rerun `acc-py init-ci --force` when bases are added or retired.",
        "",
    ]
    body = []
    for key, value in pipeline(base, registry, variant).items():
        body.extend(to_yaml({key: value}))
        body.append("")
    return "\n".join(head + body).rstrip("\n") + "\n"


def execute(args: argparse.Namespace, base: Base) -> int:
    path = os.path.abspath(FILENAME)
    if os.path.lexists(path) and not args.force:
        raise RefusedError(f"{path} already exists; acc-py init-ci --force overwrites it")
    text = render(base, os.path.basename(os.getcwd()), args.registry, args.variant)
    atomic_write(path, text)
    tested = ", ".join(b.version for b in supported_bases(base))
    sys.stdout.write(f"Wrote {path}: tests on {tested}\n")
    return 0

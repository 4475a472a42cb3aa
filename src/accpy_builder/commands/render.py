"""``acc-py-build render RECIPE``: a recipe as it goes into a base, rendered for one version.

For review (what will 2023.06's setup.sh say?) and for the linters, which check the usage hook
(``sitecustomize.py.in``) in the form every base runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accpy_core.errors import InjectError
from accpy_core.fs import atomic_write
from accpy_manifest import get_base, load_manifest

from .. import inject, resources

HELP = "print a recipe (setup.sh.in, sitecustomize.py.in, ...) rendered for one base version"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", metavar="RECIPE", help=", ".join(resources.recipe_names()))
    parser.add_argument("--version", required=True, help="the base version, e.g. 2023.06")
    parser.add_argument("--manifest", type=Path, default=Path("versions.yaml"))
    parser.add_argument("-o", "--output", type=Path, help="write it there instead of stdout")


def execute(args: argparse.Namespace) -> int:
    if args.recipe not in resources.recipe_names():
        raise InjectError(
            f"no recipe {args.recipe!r}; the recipes are {', '.join(resources.recipe_names())}"
        )
    manifest = load_manifest(args.manifest)
    base = get_base(manifest, args.version)
    text = resources.recipe(args.recipe).read_text(encoding="utf-8")
    if args.recipe.endswith(".in"):
        text = inject.render(text, inject.template_values(base, manifest.site), args.recipe)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return 0

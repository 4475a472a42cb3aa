"""``acc-py-images containerfile``: print the Containerfile of one variant."""

from __future__ import annotations

import argparse

from ..containerfile import render
from . import add_selection, selected

HELP = "print the generated Containerfile of a variant"


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_selection(p)
    p.add_argument("--variant", default="base", help="which one (default: base)")


def execute(args: argparse.Namespace) -> int:
    args.variants = [args.variant]
    plan = selected(args)
    print(render(plan, plan.variant(args.variant)), end="")
    return 0

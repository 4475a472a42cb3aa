"""``acc-py-images build``: the variants of one base, into local storage and dist/images/."""

from __future__ import annotations

import argparse

from ..build import build_all
from . import add_selection, selected

HELP = "build the images of a base (all six variants by default) and their OCI archives"


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_selection(p)
    p.add_argument("--no-archive", action="store_true", help="do not write dist/images/*.oci.tar")


def execute(args: argparse.Namespace) -> int:
    plan = selected(args)
    for b in build_all(plan, archive=not args.no_archive):
        tags = ", ".join(b.plan.tags)
        print(f"{b.plan.repository} ({tags})  {b.digest}  {b.size / 2**20:.0f} MB")
    return 0

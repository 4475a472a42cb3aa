"""``acc-py-build diff A [B]``: what changed between two releases or bases (B: the newer)."""

from __future__ import annotations

import argparse
from pathlib import Path

from accpy_manifest import load_manifest

from ..interactive.diff import FORMATS, compare, predecessor, render, snapshot

HELP = "compare two interactive releases or bases, or a release and its predecessor"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{HELP}: packages added, removed, upgraded and downgraded, and a change of base or "
        "Python. A and B are versions (a release, else a base), or base:V / interactive:V."
    )
    parser.add_argument(
        "old", metavar="A", help="the older one; alone: compared to its predecessor"
    )
    parser.add_argument("new", metavar="B", nargs="?", help="the newer one")
    parser.add_argument("--format", choices=FORMATS, default="text")
    parser.add_argument("--manifest", type=Path, default=Path("versions.yaml"))


def execute(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest.resolve())
    old, new = (
        (predecessor(manifest, args.old), args.old) if args.new is None else (args.old, args.new)
    )
    print(render(compare(snapshot(manifest, old), snapshot(manifest, new)), args.format), end="")
    return 0

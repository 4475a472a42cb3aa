"""verify [VERSION[.PATCH]]: hash every file of installed trees against their ACC-PY.RECORD."""

from __future__ import annotations

import argparse
import logging

from accpy_core.errors import RecordError, UsageError
from accpy_core.layout import RECORD_NAME, Layout, Tree
from accpy_core.record import compare_record, read_record
from accpy_core.versions import parse_release

from .common import add_root, installed_version, layout_of

log = logging.getLogger(__name__)

HELP = "check installed trees file by file against their ACC-PY.RECORD"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "version",
        nargs="?",
        metavar="VERSION[.PATCH]",
        help="2023.06 (its current patch release) or 2023.06.2; default: every tree",
    )
    add_root(parser)


def _selected(layout: Layout, text: str | None) -> list[Tree]:
    if text is None:
        trees = layout.trees()
        if not trees:
            raise UsageError(f"no base is installed under {layout.area}")
        return trees
    version, patch = parse_release(text)
    if patch is None:
        return [installed_version(layout, version)]
    tree = layout.tree(version, patch)
    if not tree.path.is_dir():
        raise UsageError(f"{text} is not installed under {layout.area}")
    return [tree]


def execute(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    bad: list[str] = []
    for tree in _selected(layout, args.version):
        diff = compare_record(tree.path, read_record(tree.path / RECORD_NAME))
        if not diff:
            print(f"{tree.release}: ok")
            continue
        bad.append(tree.release)
        print(f"{tree.release}: DIFFERS from {RECORD_NAME} ({tree.path})")
        for what, paths in (
            ("modified", diff.modified),
            ("missing", diff.missing),
            ("extra", diff.extra),
        ):
            for path in paths:
                print(f"  {what}: {path}")
    if bad:
        raise RecordError(
            f"{', '.join(bad)} differ(s) from the record (listed above); reinstall from the "
            "tarball (remove --force, then install) or find who changed the tree"
        )
    return 0

"""set-pro VERSION: point ``pro`` at an installed version, atomically."""

from __future__ import annotations

import argparse
import logging

from accpy_core.errors import UsageError
from accpy_core.fs import crash_point
from accpy_core.layout import BASE_KIND
from accpy_core.metadata import read_metadata
from accpy_core.versions import pro_refusal

from ..collector import place_of_root, refresh_quietly
from ..install import clean_leftovers, set_pro_link
from .common import add_lock_options, add_root, installed_version, layout_of, lock_of

log = logging.getLogger(__name__)

HELP = "make an installed version pro (refuses a deprecated or end-of-life one without --force)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", metavar="VERSION", help="an installed version, e.g. 2023.06")
    add_root(parser)
    parser.add_argument(
        "--force", action="store_true", help="also a deprecated or end-of-life version"
    )
    add_lock_options(parser)


def execute(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    with lock_of(layout, args):
        crash_point("lock taken")
        clean_leftovers(layout)
        tree = installed_version(layout, args.version)
        meta = read_metadata(tree.path)
        why = pro_refusal(meta.status, meta.end_of_life)
        if why and not args.force:
            raise UsageError(
                f"{tree.version} must not become pro: {why}; choose a supported version, or "
                "add --force"
            )
        if why:
            log.warning("making %s pro although %s (--force)", tree.version, why)
        if layout.pro() == tree.version:
            log.info("pro is already %s; nothing to do", tree.version)
        else:
            set_pro_link(layout, tree.version)
    if layout.kind == BASE_KIND:  # and resolve the collector's host name again
        refresh_quietly(place_of_root(layout.root), lock_timeout=args.timeout,
                        stale_hours=args.stale_after)  # fmt: skip
    return 0

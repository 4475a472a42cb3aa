"""rollback VERSION: point the version back to its previous patch tree."""

from __future__ import annotations

import argparse
import logging

from accpy_core.errors import UsageError
from accpy_core.fs import crash_point

from ..install import clean_leftovers
from .common import add_lock_options, add_root, installed_version, layout_of, lock_of

log = logging.getLogger(__name__)

HELP = "point a version back to its previous patch release (kept by install)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", metavar="VERSION", help="an installed version, e.g. 2023.06")
    add_root(parser)
    add_lock_options(parser)


def execute(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    with lock_of(layout, args):
        crash_point("lock taken")
        clean_leftovers(layout)
        current = installed_version(layout, args.version)
        older = [t for t in layout.trees(current.version) if t.patch < current.patch]
        if not older:
            raise UsageError(
                f"{current.version} has no patch release older than {current.release} "
                "installed; there is nothing to roll back to"
            )
        previous = older[-1]
        layout.switch(current.version, previous.path.name)
        crash_point("version symlink switched")
        log.info(
            "rolled back %s: %s -> %s (%s is kept)",
            current.version, current.release, previous.release, current.release,
        )  # fmt: skip
    return 0

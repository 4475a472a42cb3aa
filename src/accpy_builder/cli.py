"""``acc-py-build``: the base builder's command line (also ``build_base.py``, ``make base``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from accpy_core.cli import command_parser, dispatch, setup_logging

from . import __version__
from .commands import base as cmd_base
from .commands import ci_templates as cmd_ci_templates
from .commands import diff as cmd_diff
from .commands import interactive as cmd_interactive
from .commands import interactive_lock as cmd_interactive_lock
from .commands import manifest as cmd_manifest
from .commands import render as cmd_render

log = logging.getLogger("accpy_builder")

COMMANDS = {
    "base": cmd_base,
    "ci-templates": cmd_ci_templates,
    "diff": cmd_diff,
    "interactive": cmd_interactive,
    "interactive-lock": cmd_interactive_lock,
    "manifest": cmd_manifest,
    "render": cmd_render,
}


def build_parser() -> argparse.ArgumentParser:
    description = (
        "Build the Acc-Py base distribution: a relocatable CPython with the pinned numpy, "
        "scipy and the site's configuration, packed as reproducible tarballs."
    )
    parser = command_parser("acc-py-build", description, COMMANDS)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.getLogger(), args.verbosity)  # every stage module logs below the root
    # an OSError no stage anticipated (a full disk, an unwritable cache) is still one line
    return dispatch(args, COMMANDS, log)


if __name__ == "__main__":
    sys.exit(main())

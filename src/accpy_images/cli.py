"""``acc-py-images``: the Acc-Py container images (``make images``, ``make push``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from accpy_core.cli import command_parser, dispatch, setup_logging
from accpy_core.images import VARIANT_NAMES

from .commands import build, containerfile, push, run

log = logging.getLogger("accpy_images")
COMMANDS = {"build": build, "push": push, "containerfile": containerfile, "run": run}


def build_parser() -> argparse.ArgumentParser:
    description = (
        "Build, push and run the Acc-Py container images: the layered variants of a base "
        f"({', '.join(VARIANT_NAMES)}), from the base's own tarball."
    )
    return command_parser("acc-py-images", description, COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.getLogger(), args.verbosity)
    return dispatch(args, COMMANDS, log)


if __name__ == "__main__":
    sys.exit(main())

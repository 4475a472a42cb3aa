"""``acc-py-install``: put Acc-Py bases onto the shared area and manage them there.

Errors are one line, ``error: <what>; <how to fix>``, with an exit code per kind of error
(see ``errors.py``); ``-v`` adds the traceback and debug messages, ``-q`` keeps warnings only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import __version__
from .clitools import add_commands, add_verbosity, dispatch, setup_logging
from .commands import COMMANDS
from .errors import InstallError
from .layout import DEFAULT_ROOT, ROOT_ENV

log = logging.getLogger("acc_py_install")

EPILOG = f"""\
layout under the root (--root, ${ROOT_ENV}, default {DEFAULT_ROOT}):
  base/._2023.06.2/          one real tree per patch release
  base/2023.06 -> ._2023.06.2
  base/pro     -> 2023.06

examples:
  acc-py-install install acc-py-base-2023.06-manylinux_2_28_x86_64.tar.gz --pro
  acc-py-install list
  acc-py-install rollback 2023.06
  acc-py-install verify 2023.06
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acc-py-install",
        description="Install Acc-Py base tarballs side by side on the shared area, atomically "
        "(safe while consoles read it over NFS), and manage them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_verbosity(parser)
    add_commands(parser, COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(log, args.verbosity)
    # an OSError no step anticipated is still one line: its fix is the user's (space, rights)
    return dispatch(
        args, COMMANDS, (InstallError, OSError), log,
        interrupted="interrupted; a re-run completes or cleans up",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

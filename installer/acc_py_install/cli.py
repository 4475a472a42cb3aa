"""``acc-py-install``: put Acc-Py bases onto the shared area and manage them there.

Errors are one line, ``error: <what>; <how to fix>``, with the exit code of the error's kind
(:mod:`accpy_core.errors`); ``-v`` adds the traceback and debug messages, ``-q`` keeps
warnings only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from accpy_core.cli import add_commands, add_verbosity, dispatch, exit_codes, setup_logging
from accpy_core.layout import DEFAULT_ROOT, ROOT_ENV

from . import __version__
from .commands import COMMANDS

log = logging.getLogger("acc_py_install")

EPILOG = f"""\
layout under the root (--root, ${ROOT_ENV}, default {DEFAULT_ROOT}):
  base/._2023.06.2/          one real tree per patch release
  base/2023.06 -> ._2023.06.2
  base/pro     -> 2023.06
  ._2025.03.1/               the interactive environment's releases (--interactive), each
  2025.03 -> ._2025.03.1     on a base of the same root
  pro     -> 2025.03         (source <root>/pro/setup.sh)

examples:
  acc-py-install install acc-py-base-2023.06-manylinux_2_28_x86_64.tar.gz --pro
  acc-py-install install acc-py-interactive-2025.03-manylinux_2_28_x86_64.tar.gz --pro
  acc-py-install list [--interactive]
  acc-py-install rollback 2023.06
  acc-py-install set-pro --interactive 2025.03
  acc-py-install verify 2023.06

"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acc-py-install",
        description="Install Acc-Py base tarballs (and the interactive environment's releases) "
        "side by side on the shared area, atomically (safe while consoles read it over NFS), "
        "and manage them.",
        epilog=EPILOG + exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # the self-extracting installer hands over with --prog acc-py-installer: messages then read
    # as its own (information on stdout, "PROG: warning/error: ..." on stderr)
    parser.add_argument("--prog", help=argparse.SUPPRESS)
    add_verbosity(parser)
    add_commands(parser, COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("acc_py_install", "accpy_core"):
        setup_logging(logging.getLogger(name), args.verbosity, prog=args.prog)
    return dispatch(
        args, COMMANDS, log, prefix=f"{args.prog}: error" if args.prog else "error",
        interrupted="interrupted; a re-run completes or cleans up",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

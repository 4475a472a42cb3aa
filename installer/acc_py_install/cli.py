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


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acc-py-install",
        description="Install Acc-Py base tarballs side by side on the shared area, atomically "
        "(safe while consoles read it over NFS), and manage them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_const", const=1, default=0, dest="verbosity",
        help="debug messages and tracebacks",
    )  # fmt: skip
    parser.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity",
        help="only warnings and errors",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        module.configure_parser(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def _setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbosity)
    try:
        return int(COMMANDS[args.command].execute(args))
    except InstallError as exc:
        if args.verbosity > 0:
            log.debug("traceback of the error below:", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # what no step anticipated: still one line, the fix is the user's
        if args.verbosity > 0:
            log.debug("traceback of the error below:", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; a re-run completes or cleans up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

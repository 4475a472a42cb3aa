"""What every Acc-Py command line shares (acc-py-install, acc-py-build, acc-py-usage).

One-line errors (``error: <what>; <how to fix>``) with an exit code per error class, ``-v`` for
debug messages and tracebacks, ``-q`` for warnings only, one sub-command module per verb with
``HELP``, ``configure_parser()`` and ``execute()``. Standard library only, Python >= 3.9.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from types import ModuleType


class LineFormatter(logging.Formatter):
    """Plain lines; ``warning: ``/``error: `` before those levels; the traceback when attached."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


def add_verbosity(parser: argparse.ArgumentParser, *, quiet: bool = True) -> None:
    """``-v`` (and ``-q``) into ``args.verbosity``: 1, 0 or -1."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_const", const=1, default=0, dest="verbosity",
        help="debug messages, every command run and full tracebacks",
    )  # fmt: skip
    if quiet:
        group.add_argument(
            "-q", "--quiet", action="store_const", const=-1, dest="verbosity",
            help="only warnings and errors",
        )  # fmt: skip


def add_commands(parser: argparse.ArgumentParser, commands: Mapping[str, ModuleType]) -> None:
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in commands.items():
        module.configure_parser(sub.add_parser(name, help=module.HELP, description=module.HELP))


def setup_logging(logger: logging.Logger, verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def dispatch(
    args: argparse.Namespace,
    commands: Mapping[str, ModuleType],
    errors: tuple[type[Exception], ...],
    logger: logging.Logger,
    *,
    prefix: str = "error",
    interrupted: str = "interrupted",
) -> int:
    """Run the chosen command; an error of ``errors`` becomes one line and its exit code
    (``exit_code`` attribute, else 1)."""
    try:
        return int(commands[args.command].execute(args))
    except errors as exc:
        logger.debug("traceback of the error below:", exc_info=True)
        print(f"{prefix}: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        print(f"{prefix}: {interrupted}", file=sys.stderr)
        return 130

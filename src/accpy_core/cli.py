"""What every Acc-Py command line shares (acc-py-build, acc-py-install, acc-py-usage, acc-py).

One-line errors (``<prog>: error: <what>; <how to fix>``) with the exit code of the error's
kind (:mod:`accpy_core.errors`), ``-v`` for debug messages and tracebacks, ``-q`` for warnings
only, one sub-command module per verb with ``HELP``, ``configure_parser()`` and ``execute()``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType

from .errors import INTERRUPTED, KINDS, AccPyError


class LineFormatter(logging.Formatter):
    """Plain lines; ``warning: ``/``error: `` before those levels; the traceback when attached;
    ``prog``: every line starts with ``<prog>: ``."""

    def __init__(self, prog: str | None = None) -> None:
        super().__init__()
        self.prog = f"{prog}: " if prog else ""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.levelno >= logging.WARNING:
            return f"{self.prog}{record.levelname.lower()}: {text}"
        return f"{self.prog}{text}"


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


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
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module in commands.items():
        module.configure_parser(sub.add_parser(name, help=module.HELP, description=module.HELP))


def command_parser(
    prog: str, description: str, commands: Mapping[str, ModuleType]
) -> argparse.ArgumentParser:
    """A parser with ``-v``/``-q``, one subcommand per module of ``commands`` and the exit-code
    table in its epilog."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=f"Run `{prog} COMMAND --help` for the options of each command.\n\n" + exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verbosity(parser)
    add_commands(parser, commands)
    return parser


def exit_codes(kinds: Sequence[type[AccPyError]] = KINDS) -> str:
    """The exit-code table of ``kinds``, for an ``--help`` epilog."""
    rows = [f"  {k.exit_code:>3}  {k.__name__}: {(k.__doc__ or '').strip()}" for k in kinds]
    return "exit codes:\n    0  success\n" + "\n".join(rows) + f"\n  {INTERRUPTED}  interrupted\n"


def setup_logging(
    logger: logging.Logger,
    verbosity: int,
    *,
    fmt: str | None = None,
    prog: str | None = None,
) -> None:
    """Messages of ``logger`` on stderr (``fmt``: a logging format instead of plain lines).

    ``prog``: as the messages of the program ``prog``, information on stdout and warnings and
    errors on stderr (how the self-extracting installer talks)."""
    formatter = logging.Formatter(fmt) if fmt else LineFormatter(prog)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handlers: list[logging.Handler] = [handler]
    if prog:
        handler.setLevel(logging.WARNING)
        out = logging.StreamHandler(sys.stdout)
        out.setFormatter(formatter)
        out.addFilter(_Below(logging.WARNING))
        handlers.append(out)
    logger.handlers[:] = handlers
    logger.propagate = False
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))


def dispatch(
    args: argparse.Namespace,
    commands: Mapping[str, ModuleType],
    logger: logging.Logger,
    *,
    prefix: str = "error",
    interrupted: str = "interrupted",
    also: tuple[type[BaseException], ...] = (OSError,),
) -> int:
    """Run the chosen command. An :class:`AccPyError` becomes one line and its exit code; so
    does an error of ``also`` (default: an OSError no step anticipated, e.g. a full disk or a
    permission), with exit code 1. The traceback is logged at debug level (``-v``)."""
    errors: tuple[type[BaseException], ...] = (AccPyError, *also)
    try:
        return int(commands[args.command].execute(args))
    except errors as exc:
        logger.debug("traceback of the error below:", exc_info=True)
        print(f"{prefix}: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1)) if isinstance(exc, AccPyError) else 1
    except KeyboardInterrupt:
        print(f"{prefix}: {interrupted}", file=sys.stderr)
        return INTERRUPTED

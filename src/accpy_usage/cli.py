"""``acc-py-usage``: the usage collector (``serve``) and its report (``report``)."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Sequence

from accpy_core.cli import add_commands, dispatch, exit_codes
from accpy_core.errors import ConfigError, StoreError, UsageError

from . import __version__
from .commands import prune as cmd_prune
from .commands import report as cmd_report
from .commands import serve as cmd_serve

log = logging.getLogger("accpy_usage")

COMMANDS = {"serve": cmd_serve, "report": cmd_report, "prune": cmd_prune}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="acc-py-usage",
        description="Collect the usage records every Acc-Py base sends, and report on them.",
        epilog="Run `acc-py-usage COMMAND --help` for the options of each command.\n\n"
        + exit_codes((UsageError, ConfigError, StoreError)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and full tracebacks"
    )
    add_commands(parser, COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s acc-py-usage %(levelname)s %(message)s",
    )
    # OSError (an unwritable --plot file) and sqlite3.Error (a --db that is not ours): one line
    also = (OSError, sqlite3.Error)
    return dispatch(args, COMMANDS, log, prefix="acc-py-usage: error", also=also)


if __name__ == "__main__":
    sys.exit(main())

"""resolve-collector: resolve the usage collector's host name into the file the bases read."""

from __future__ import annotations

import argparse
from pathlib import Path

from accpy_core.collector import FILE_NAME, parse_address
from accpy_core.errors import ConfigError, UsageError

from .. import collector
from .common import add_lock_options, add_root, root_of

HELP = (
    f"resolve the usage collector's host name of the installed bases into {FILE_NAME}, which "
    "their start-up hook reads (it never resolves names itself); run it daily from cron"
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="*",
        metavar="HOST:PORT",
        help="also these collectors (e.g. one that ACC_PY_USAGE_COLLECTOR names at run time); "
        "once in the file, a name is resolved again at every run",
    )
    add_root(parser, kinds=False)
    parser.add_argument(
        "--prefix",
        type=Path,
        metavar="DIR",
        help=f"for the base in this plain directory (the file goes beside it: DIR/../{FILE_NAME})",
    )
    parser.add_argument(
        "--forget",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="remove this collector from the file (no base uses it any more)",
    )
    parser.add_argument(
        "--valid-days",
        type=float,
        default=collector.DEFAULT_VALID_DAYS,
        metavar="DAYS",
        help="after this many days without a new resolution the addresses are stale and the "
        f"bases send nothing (default {collector.DEFAULT_VALID_DAYS:g}; 0: never stale)",
    )
    parser.add_argument(
        "--dns-timeout",
        type=float,
        default=collector.DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds one name may take to resolve (default {collector.DEFAULT_TIMEOUT:g})",
    )
    add_lock_options(parser)


def execute(args: argparse.Namespace) -> int:
    if args.prefix is not None and args.root:
        raise UsageError("give --root or --prefix, not both")
    for value in [*args.names, *args.forget]:
        try:
            named = parse_address(value).named
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        if not named:
            raise UsageError(f"{value} is an address already: only host names are resolved")
    if args.prefix is not None:
        place = collector.place_of_prefix(args.prefix)
    else:
        place = collector.place_of_root(root_of(args))
    outcome = collector.refresh(
        place, args.names, forget=args.forget, valid_days=args.valid_days,
        timeout=args.dns_timeout, lock_timeout=args.timeout, stale_hours=args.stale_after,
    )  # fmt: skip
    if not outcome.resolved and not outcome.failed and not args.forget:
        print(f"no installed base under {place.directory} names its usage collector by host "
              "name: nothing to resolve")  # fmt: skip
    collector.report(outcome, strict=True)
    return 0

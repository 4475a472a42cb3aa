"""``acc-py-usage prune``: the retention: drop the records older than a number of days."""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from accpy_core.errors import UsageError

from ..store import open_store

log = logging.getLogger(__name__)

HELP = "drop the records older than --keep-days (the store's retention; run it daily)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL", required=True, help="the collector's database")
    parser.add_argument(
        "--keep-days",
        type=int,
        required=True,
        metavar="N",
        help="keep the records of the last N UTC days (today included), drop the older ones",
    )


def execute(args: argparse.Namespace) -> int:
    if args.keep_days < 1:
        raise UsageError(f"--keep-days {args.keep_days}: keep at least 1 day (today)")
    today = dt.datetime.now(dt.UTC).date()
    first = (today - dt.timedelta(days=args.keep_days - 1)).isoformat()
    store = open_store(args.db, create=False)
    try:
        dropped = store.delete_before(first)
    finally:
        store.close()
    log.info("dropped %d records of the days before %s from %s", dropped, first, args.db)
    return 0

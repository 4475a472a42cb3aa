"""``acc-py-usage report``: what the records say, as text, CSV or JSON, and a plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import report
from ..store import open_store

HELP = "invocations and distinct users/hosts per base version, Python, day and venv"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL", required=True, help="the collector's database")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="from this UTC day on (inclusive)")
    parser.add_argument("--until", metavar="YYYY-MM-DD", help="up to this UTC day (inclusive)")
    parser.add_argument("--version", metavar="V", help="only this base version, e.g. 2023.06")
    parser.add_argument(
        "--format", choices=("text", "csv", "json"), default="text", help="default %(default)s"
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", type=Path, help="also draw invocations per base over time"
    )
    parser.add_argument(
        "--manifest",
        metavar="versions.yaml",
        type=Path,
        help="take each base's status (deprecated or not) from this manifest instead of the "
        "status the records carry",
    )


def execute(args: argparse.Namespace) -> int:
    filters = report.Filters(
        since=report.parse_day(args.since, "--since") if args.since else None,
        until=report.parse_day(args.until, "--until") if args.until else None,
        version=args.version,
    )
    statuses = report.manifest_statuses(args.manifest) if args.manifest else None
    store = open_store(args.db, create=False)
    try:
        data = report.build(store, filters, statuses)
    finally:
        store.close()
    render = {"text": report.as_text, "csv": report.as_csv, "json": report.as_json}[args.format]
    sys.stdout.write(render(data))
    if args.plot:
        report.plot(data, args.plot)
    return 0

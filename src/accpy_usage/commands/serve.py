"""``acc-py-usage serve``: receive usage datagrams and store them."""

from __future__ import annotations

import argparse
import logging
import signal
from pathlib import Path
from types import FrameType

from ..server import Collector, bind
from ..store import open_store

log = logging.getLogger(__name__)

HELP = "receive usage records over UDP and store them (SQLite or PostgreSQL)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="0.0.0.0:8514",
        help="UDP address to listen on, e.g. 0.0.0.0:8514 or [::]:8514 (default %(default)s)",
    )
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        required=True,
        help="an SQLite file (created if missing; WAL mode) or a postgresql://... URL",
    )
    parser.add_argument(
        "--batch", type=int, default=5000, help="records per commit at most (default %(default)s)"
    )
    parser.add_argument(
        "--stats-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="log the counters this often (default %(default)s)",
    )
    parser.add_argument(
        "--status-file",
        type=Path,
        metavar="FILE.json",
        help="keep the counters (received, stored, rejected, dropped, lost) in this JSON file, "
        "rewritten after every commit: for monitoring, or to wait until N records are stored",
    )


def execute(args: argparse.Namespace) -> int:
    store = open_store(args.db)
    try:
        sock = bind(args.listen)
        collector = Collector(
            sock, store, batch=args.batch, stats_every=args.stats_every,
            status_file=args.status_file,
        )  # fmt: skip

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("%s: storing what was received, then stopping", signal.Signals(signum).name)
            collector.stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        stats = collector.serve()
    finally:
        store.close()
    return 1 if stats.lost else 0

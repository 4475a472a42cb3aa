"""What several verbs share: the --root and --timeout options, the layout, the lock."""

from __future__ import annotations

import argparse
from pathlib import Path

from accpy_core.errors import UsageError
from accpy_core.layout import ROOT_ENV, Layout, Tree, default_root
from accpy_core.lock import DEFAULT_STALE_HOURS, RootLock
from accpy_core.versions import parse_release


def add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help=f"the install root, holding base/ (default: ${ROOT_ENV} or {default_root()})",
    )


def add_lock_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds to wait for another installer's lock on the root (default 600)",
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=DEFAULT_STALE_HOURS,
        metavar="HOURS",
        help="a lock older than this is stale even if its owner cannot be checked (another "
        f"host); default {DEFAULT_STALE_HOURS:g}",
    )


def layout_of(args: argparse.Namespace) -> Layout:
    return Layout(Path(args.root or default_root()))


def lock_of(layout: Layout, args: argparse.Namespace) -> RootLock:
    layout.ensure()
    return RootLock(layout.base, timeout=args.timeout, stale_hours=args.stale_after)


def installed_version(layout: Layout, version: str) -> Tree:
    """The current tree of ``version``, or a UsageError saying what is installed."""
    name, patch = parse_release(version)
    if patch is not None:
        raise UsageError(f"give a version without patch number ({name}), not {version}")
    tree = layout.current(name)
    if tree is None:
        have = ", ".join(layout.versions()) or "none"
        raise UsageError(
            f"{name} is not installed under {layout.base} (installed: {have}); "
            f"`acc-py-install install acc-py-base-{name}-<platform>.tar.gz` first"
        )
    return tree

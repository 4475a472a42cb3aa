"""What several verbs share: the --root and --timeout options, the layout, the lock."""

from __future__ import annotations

import argparse
from pathlib import Path

from accpy_core.errors import UsageError
from accpy_core.layout import BASE_KIND, INTERACTIVE_KIND, ROOT_ENV, Layout, Tree, default_root
from accpy_core.lock import DEFAULT_STALE_HOURS, RootLock
from accpy_core.names import tarball_stem
from accpy_core.versions import parse_release


def add_root(parser: argparse.ArgumentParser, *, kinds: bool = True) -> None:
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help=f"the install root, holding base/ (default: ${ROOT_ENV} or {default_root()})",
    )
    if kinds:
        parser.add_argument(
            "-i",
            "--interactive",
            action="store_true",
            help="the interactive environment's releases (<root>/<release>, <root>/pro) "
            "instead of the bases",
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


def root_of(args: argparse.Namespace) -> Path:
    return Path(args.root or default_root())


def layout_of(args: argparse.Namespace, kind: str | None = None) -> Layout:
    """The layout the command works on: ``kind``, else the one --interactive selects."""
    if kind is None:
        kind = INTERACTIVE_KIND if getattr(args, "interactive", False) else BASE_KIND
    return Layout(root_of(args), kind)


def lock_of(layout: Layout, args: argparse.Namespace) -> RootLock:
    layout.ensure()
    return RootLock(layout.area, timeout=args.timeout, stale_hours=args.stale_after)


def installed_version(layout: Layout, version: str) -> Tree:
    """The current tree of ``version``, or a UsageError saying what is installed."""
    name, patch = parse_release(version)
    if patch is not None:
        raise UsageError(f"give a version without patch number ({name}), not {version}")
    tree = layout.current(name)
    if tree is None:
        have = ", ".join(layout.versions()) or "none"
        raise UsageError(
            f"{layout.what} {name} is not installed under {layout.area} (installed: {have}); "
            f"`acc-py-install install {tarball_stem(name, '<platform>', layout.kind)}.tar.gz` "
            "first"
        )
    return tree

"""install TARBALL|URL: check, unpack beside the others, rename into place, switch symlinks."""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from accpy_core.errors import UsageError
from accpy_core.layout import BASE_KIND, parse_tarball_name

from .. import collector
from .. import install as engine
from ..tarball import is_url
from .common import add_lock_options, add_root, layout_of

HELP = (
    "install a base tarball (or URL) onto the root, or into a plain --prefix, or an interactive "
    "release's beside its base, atomically"
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "tarball",
        nargs="?",
        metavar="TARBALL|URL",
        help="acc-py-base-<version>-<platform>.tar.gz (or .tar.zst), or an interactive "
        "release's acc-py-interactive-<release>-<platform>.tar.gz, with its .sha256 next to it; "
        "an http(s):// or file:// URL is downloaded with URL.sha256",
    )
    add_root(parser, kinds=False)
    parser.add_argument(
        "--prefix",
        type=Path,
        metavar="DIR",
        help="install into this plain directory instead of the shared layout (DIR/setup.sh, "
        "DIR/bin/python); it must be absent or empty, or hold this release already",
    )
    parser.add_argument(
        "-u", "--update", action="store_true", help="with --prefix: replace the base it holds"
    )
    parser.add_argument("--pro", action="store_true", help="also make this version pro")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="remove every write bit of the new tree (chmod -R a-w) before it appears",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="install an older patch than the current one, make a deprecated or end-of-life "
        "base pro, or install on a host that the base's platform tag does not fit",
    )
    parser.add_argument(
        "--staged",
        type=Path,
        metavar="TREE",
        help="install this tree, already unpacked beside its target (the self-extracting "
        "installer hands over this way) instead of a tarball",
    )
    add_lock_options(parser)


def execute(args: argparse.Namespace) -> int:
    if (args.tarball is None) == (args.staged is None):
        raise UsageError("give a TARBALL (or URL), or --staged TREE; see --help")
    if args.prefix is not None and (args.root or args.pro):
        raise UsageError("--prefix installs a plain directory: it goes without --root and --pro")
    if args.update and args.prefix is None:
        raise UsageError("--update goes with --prefix; in the shared layout a new patch goes "
                         "beside the old one")  # fmt: skip
    opts = engine.Options(
        pro=args.pro,
        read_only=args.read_only,
        force=args.force,
        update=args.update,
        timeout=args.timeout,
        stale_hours=args.stale_after,
    )
    if args.prefix is not None:
        engine.install_prefix(args.tarball, args.prefix, opts, staged=args.staged)
        place = collector.place_of_prefix(args.prefix)
    else:
        kind = BASE_KIND
        if args.tarball is not None:  # the kind is in the name: checked again against metadata
            name = urlsplit(args.tarball).path if is_url(args.tarball) else args.tarball
            kind = parse_tarball_name(PurePosixPath(name).name).kind
        layout = layout_of(args, kind)
        engine.install(args.tarball, layout, opts, staged=args.staged)
        if kind != BASE_KIND:
            return 0  # a release runs on its base's hook
        place = collector.place_of_root(layout.root)
    # the collector's host name, resolved now: the base's hook never resolves it
    collector.refresh_quietly(place, lock_timeout=args.timeout, stale_hours=args.stale_after)
    return 0

"""install TARBALL|URL: check, unpack beside the others, rename into place, switch symlinks."""

from __future__ import annotations

import argparse

from .. import install as install_mod
from .common import add_lock_options, add_root, layout_of

HELP = "install a base tarball (or URL) onto the root, atomically"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "tarball",
        metavar="TARBALL|URL",
        help="acc-py-base-<version>-<platform>.tar.gz (or .tar.zst), with its .sha256 next to "
        "it; an http(s):// or file:// URL is downloaded with URL.sha256",
    )
    add_root(parser)
    parser.add_argument("--pro", action="store_true", help="also make this version pro")
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="remove every write bit of the new tree (chmod -R a-w) before it appears",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="install an older patch than the current one, or make an end-of-life base pro",
    )
    add_lock_options(parser)


def execute(args: argparse.Namespace) -> int:
    install_mod.install(
        args.tarball,
        layout_of(args),
        pro=args.pro,
        read_only=args.read_only,
        force=args.force,
        timeout=args.timeout,
        stale_hours=args.stale_after,
    )
    return 0

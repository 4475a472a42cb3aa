"""``acc-py-build interactive-lock RELEASE``: resolve an interactive release into its lock."""

from __future__ import annotations

import argparse
from pathlib import Path

from accpy_manifest import get_base, load_manifest

from .. import trust
from ..interactive.lock import check_lock, lock_path, resolve
from ..plan import BuildOptions, default_cache_dir, index_url, overridden_site, release_of
from .base import add_site_ca_option

HELP = "resolve an interactive release against the site index into interactive/<release>.lock"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("release", metavar="RELEASE", help="the release, e.g. 2025.03")
    parser.add_argument("--manifest", type=Path, default=Path("versions.yaml"))
    parser.add_argument("--index-url", help="resolve against this index (default: the site's)")
    parser.add_argument("--cache-dir", type=Path, help="uv's cache (default: the builder's)")
    parser.add_argument("-o", "--output", type=Path, help="default: interactive/<release>.lock")
    add_site_ca_option(parser)


def execute(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest.resolve())
    spec = release_of(manifest, args.release)
    base = get_base(manifest, spec.base)
    index = index_url(args.index_url) if args.index_url else manifest.site.index_url
    cache = (args.cache_dir or default_cache_dir()) / "uv"
    path = args.output or lock_path(manifest, spec.release)
    cafile = trust.ca_bundle(
        overridden_site(manifest.site, BuildOptions.from_args(args)).ca_pem, cache
    )
    lock = resolve(spec, base, index, cache, path, cafile=cafile)
    check_lock(lock, spec, base)
    print(f"{path}: {len(lock.packages)} packages for {spec.release} on base {base.version}")
    return 0

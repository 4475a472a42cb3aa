"""``acc-py-build interactive RELEASE``: build one interactive release into dist/.

The lock (interactive/<release>.lock) is checked against versions.yaml first; the base's tarball
comes from the dist directory, and is built first (with the same options) when it is missing.
"""

from __future__ import annotations

import argparse
import logging
import sys

from accpy_core.dist import find_built_base
from accpy_core.errors import UsageError
from accpy_manifest import InteractiveSpec, Manifest, get_base, load_manifest

from .. import trust
from ..build import build
from ..interactive.build import ReleasePlan, build_release
from ..interactive.lock import check_lock, lock_path, read_lock
from .base import (
    add_build_options,
    default_cache_dir,
    index_url,
    make_plan,
    overridden_site,
    source_date_epoch,
)

log = logging.getLogger(__name__)

HELP = "build one interactive release (its committed lock, on its base) into dist/"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("release", metavar="RELEASE", help="the release to build, e.g. 2025.03")
    add_build_options(parser)
    parser.epilog = (
        "The interpreter, platform, index and collector options apply to the base, which is "
        "built first when its tarball is not in the dist directory. Missing wheels come from "
        "--index-url, else from the index the lock was made against."
    )


def release_of(manifest: Manifest, release: str) -> InteractiveSpec:
    spec = next((r for r in manifest.interactive if r.release == release), None)
    if spec is None:
        known = ", ".join(r.release for r in manifest.interactive) or "none"
        raise UsageError(f"{manifest.path} has no interactive release {release}; known: {known}")
    return spec


def execute(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest.resolve())
    spec = release_of(manifest, args.release)
    base = get_base(manifest, spec.base)
    lock = read_lock(lock_path(manifest, spec.release))
    check_lock(lock, spec, base)
    dist_dir = args.dist_dir.absolute()
    platform = args.platform if args.platform not in (None, "auto") else None
    built = find_built_base(dist_dir, base.version, platform)
    tarball = built.tarball if built else None
    if tarball is None:
        log.info("no tarball of base %s in %s: building it first", base.version, dist_dir)
        base_args = argparse.Namespace(**{**vars(args), "version": base.version})
        tarball = build(make_plan(base_args), progress=sys.stderr.isatty()).artifacts.tar_gz
    plan = ReleasePlan(
        spec=spec,
        base=base,
        lock=lock,
        manifest=manifest,
        base_tarball=tarball,
        index_url=index_url(args.index_url) if args.index_url else lock.index_url,
        cache_dir=(args.cache_dir or default_cache_dir()).absolute(),
        work_dir=args.work_dir.absolute(),
        cafile=trust.ca_bundle(
            overridden_site(args, manifest.site).ca_pem, args.work_dir.absolute()
        ),
        dist_dir=dist_dir,
        source_date_epoch=source_date_epoch(spec.release),
    )
    result = build_release(plan)
    for path in (result.artifacts.tar_gz, result.artifacts.tar_zst):
        print(path)
    return 0

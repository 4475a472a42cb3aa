"""``acc-py-build base VERSION``: build one base into dist/."""

from __future__ import annotations

import argparse
import calendar
import dataclasses
import datetime as dt
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from accpy_core.collector import parse_address
from accpy_core.errors import ConfigError, ManifestError
from accpy_core.platforms import manylinux_x86_64
from accpy_manifest import Site, get_base, load_manifest, read_ca_certificate

from ..build import build
from ..plan import AdoptSource, BuildPlan, PbsSource
from ..policy import policy_for

HELP = "build one base version from versions.yaml into dist/"


def default_cache_dir() -> Path:
    if os.environ.get("ACC_PY_BUILD_CACHE"):
        return Path(os.environ["ACC_PY_BUILD_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "acc-py-build"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", metavar="VERSION", help="base version to build, e.g. 2023.06")
    add_build_options(parser)


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """What ``base`` and ``interactive`` share: the manifest, the interpreter source, the
    platform, the index, the collector, the cache and the directories."""
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path("versions.yaml"),
        help="the manifest (default: ./versions.yaml)",
    )
    source = parser.add_argument_group("interpreter source (default: the pinned PBS asset)")
    source.add_argument(
        "--interpreter",
        metavar="auto|PREFIX",
        help="adopt a CPython install prefix from this machine instead of downloading one; "
        "'auto' finds one of the right minor version",
    )
    source.add_argument(
        "--pbs-mirror",
        metavar="URL",
        help="python-build-standalone mirror laid out as <mirror>/<tag>/<asset> "
        "(https://, http:// or file://; default: the manifest's, i.e. GitHub)",
    )
    parser.add_argument(
        "--platform",
        metavar="TAG|auto",
        help="target platform tag (default: the manifest's); 'auto' computes the honest tag",
    )
    parser.add_argument("--index-url", help="override the site package index for this build")
    parser.add_argument(
        "--usage-collector", metavar="HOST:PORT", help="override the usage collector address"
    )
    add_site_ca_option(parser)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="download and wheel cache (default: $ACC_PY_BUILD_CACHE or ~/.cache/acc-py-build)",
    )
    parser.add_argument("--work-dir", type=Path, default=Path("build"), help="default: ./build")
    parser.add_argument("--dist-dir", type=Path, default=Path("dist"), help="default: ./dist")


def add_site_ca_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site-ca",
        metavar="PEM",
        action="append",
        type=Path,
        help="the site's CA certificates (repeatable), instead of the manifest's "
        "site.ca_certificates: the builder's downloads and every base and image trust them",
    )


def source_date_epoch(version: str) -> int:
    """$SOURCE_DATE_EPOCH, else midnight UTC on the first day of the version's month."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        try:
            return int(os.environ["SOURCE_DATE_EPOCH"])
        except ValueError:
            raise ManifestError(
                f"SOURCE_DATE_EPOCH={os.environ['SOURCE_DATE_EPOCH']!r} is not an integer"
            ) from None
    year, month = (int(p) for p in version.split(".")[:2])
    return calendar.timegm(dt.date(year, month, 1).timetuple())


def index_url(value: str) -> str:
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (parts.scheme != "https" and not loopback) or not parts.hostname:
        raise ManifestError(
            f"INDEX_URL={value!r} is not an https:// URL with a host (plain http:// only for "
            "127.0.0.1/localhost)"
        )
    return value


def _collector(value: str) -> str:
    try:
        parse_address(value, "USAGE_COLLECTOR")
    except ConfigError as exc:
        raise ManifestError(f"USAGE_COLLECTOR={value}: {exc}") from None
    return value


def overridden_site(args: argparse.Namespace, site: Site) -> Site:
    """The manifest's site settings with the command line's --index-url, --usage-collector
    and --site-ca applied (each option that a command has)."""
    if getattr(args, "index_url", None):
        site = dataclasses.replace(site, index_url=index_url(args.index_url))
    if getattr(args, "usage_collector", None):
        site = dataclasses.replace(site, usage_collector=_collector(args.usage_collector))
    if getattr(args, "site_ca", None):
        cas = tuple(read_ca_certificate(path.absolute()) for path in args.site_ca)
        site = dataclasses.replace(site, ca_certificates=cas)
    return site


def make_plan(args: argparse.Namespace) -> BuildPlan:
    manifest_path = args.manifest.resolve()
    manifest = load_manifest(manifest_path)
    base = get_base(manifest, args.version)
    site = overridden_site(args, manifest.site)
    platform = args.platform or base.platform
    if platform != "auto":
        if manylinux_x86_64(platform) is None:
            raise ManifestError(
                f"PLATFORM={platform!r} is not a tag like manylinux_2_28_x86_64; or use auto"
            )
        policy_for(platform)  # a tag that auditwheel knows, or a ManifestError
    source: AdoptSource | PbsSource
    if args.interpreter:
        prefix = None if args.interpreter == "auto" else Path(args.interpreter)
        source = AdoptSource(prefix)
    else:
        source = PbsSource(args.pbs_mirror or os.environ.get("PBS_MIRROR") or site.pbs_mirror)
    return BuildPlan(
        base=base,
        site=site,
        source=source,
        platform=platform,
        manifest_path=manifest_path,
        cache_dir=(args.cache_dir or default_cache_dir()).absolute(),
        work_dir=args.work_dir.absolute(),
        dist_dir=args.dist_dir.absolute(),
        source_date_epoch=source_date_epoch(base.version),
        all_bases=manifest.bases,
    )


def execute(args: argparse.Namespace) -> int:
    plan = make_plan(args)
    result = build(plan, progress=sys.stderr.isatty() and args.verbosity >= 0)
    for path in (result.artifacts.tar_gz, result.artifacts.tar_zst, result.installer):
        print(path)
    return 0

"""``acc-py-build base VERSION``: build one base into dist/ (the plan: :mod:`..plan`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..build import build
from ..plan import BuildOptions, make_plan

HELP = "build one base version from versions.yaml into dist/"


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


def execute(args: argparse.Namespace) -> int:
    plan = make_plan(args.version, BuildOptions.from_args(args))
    result = build(plan, progress=sys.stderr.isatty() and args.verbosity >= 0)
    for path in (result.artifacts.tar_gz, result.artifacts.tar_zst, result.installer):
        print(path)
    return 0

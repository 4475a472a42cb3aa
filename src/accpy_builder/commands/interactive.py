"""``acc-py-build interactive RELEASE``: build one interactive release into dist/.

The lock (interactive/<release>.lock) is checked against versions.yaml first; the base's tarball
comes from the dist directory, and is built first (with the same options) when it is missing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..build import build
from ..interactive.build import build_release
from ..plan import BuildOptions, BuildPlan, make_release_plan
from .base import add_build_options

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


def execute(args: argparse.Namespace) -> int:
    def build_base(plan: BuildPlan) -> Path:
        log.info("no tarball of base %s in %s: building it first", plan.base.version, plan.dist_dir)
        return build(plan, progress=sys.stderr.isatty()).artifacts.tar_gz

    plan = make_release_plan(args.release, BuildOptions.from_args(args), build_base)
    result = build_release(plan)
    for path in (result.artifacts.tar_gz, result.artifacts.tar_zst):
        print(path)
    return 0

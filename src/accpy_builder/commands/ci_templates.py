"""``acc-py-build ci-templates``: generate ci-templates/v2/ from versions.yaml (or --check it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accpy_core.errors import CheckError
from accpy_core.fs import atomic_write
from accpy_manifest import load_manifest

from .. import ci_templates, pins, trust
from ..plan import BuildOptions, default_cache_dir, overridden_site
from .base import add_site_ca_option

HELP = "generate the GitLab CI templates (ci-templates/) from versions.yaml"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        f"{HELP}: the default base, the matrix of supported bases and the deprecation table "
        "come from the manifest, the rest from ci-templates/src/. Commit what it writes."
    )
    parser.add_argument("--manifest", type=Path, default=Path("versions.yaml"))
    parser.add_argument(
        "--templates", type=Path, default=Path("ci-templates"),
        help="the templates directory: src/ in, the templates out (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--lock-tools", action="store_true",
        help="first resolve src/tools.in into src/tools.lock (needs the index: --index-url)",
    )  # fmt: skip
    parser.add_argument("--index-url", default=pins.PYPI, help="for --lock-tools (default: PyPI)")
    add_site_ca_option(parser)
    parser.add_argument(
        "--check", action="store_true",
        help="write nothing; fail when a committed template differs from what it would write",
    )  # fmt: skip


def execute(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    if args.check:
        wrong = ci_templates.stale(manifest, args.templates)
        if wrong:
            names = ", ".join(str(args.templates / w) for w in wrong)
            raise CheckError(
                f"{names} differ from what {args.manifest} gives; run `make ci-templates` "
                "and commit the result"
            )
        sys.stdout.write(f"{args.templates} is up to date with {args.manifest}\n")
        return 0
    if args.lock_tools:
        cafile = trust.ca_bundle(
            overridden_site(manifest.site, BuildOptions.from_args(args)).ca_pem, default_cache_dir()
        )
        lock = ci_templates.lock_tools(
            manifest, args.templates, index_url=args.index_url, cafile=cafile
        )
        sys.stdout.write(f"wrote {lock}\n")
    for g in ci_templates.generate(manifest, args.templates):
        target = args.templates / g.path
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, g.text)
        sys.stdout.write(f"wrote {target}\n")
    return 0

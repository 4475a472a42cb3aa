"""The subcommands of ``acc-py-images``; the options that select a base's images are here."""

from __future__ import annotations

import argparse
from pathlib import Path

from accpy_core.dist import missing_base
from accpy_core.images import VARIANT_NAMES
from accpy_manifest import load_manifest

from ..plan import ImagePlan, find_base, make_plan


def variant_list(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    return list(VARIANT_NAMES) if names in ([], ["all"]) else names


def add_selection(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", metavar="VERSION", help="the base version, e.g. 2023.06")
    p.add_argument(
        "--variants", type=variant_list, default=list(VARIANT_NAMES), metavar="V,V,...",
        help=f"variants to build ({', '.join(VARIANT_NAMES)}; default all); the variants they "
        "are built on come too",
    )  # fmt: skip
    p.add_argument("--java", metavar="JDK", help="add a JDK, e.g. openjdk17 (packages.yaml)")
    p.add_argument(
        "--os", dest="os_name", metavar="NAME", help="site.images.os entry (default: the first)"
    )
    p.add_argument("--from", dest="from_ref", metavar="REF",
                   help="OS image instead of versions.yaml's: any reference buildah takes, "
                   "e.g. oci-archive:PATH or localhost/debian12:latest")  # fmt: skip
    p.add_argument("--registry", help="registry the images are named for (default: versions.yaml)")
    p.add_argument("--manifest", type=Path, default=Path("versions.yaml"))
    p.add_argument("--dist-dir", type=Path, default=Path("dist"), help="where the base is (dist/)")
    p.add_argument("--work-dir", type=Path, default=Path("build"), help="build contexts go here")


def selected(args: argparse.Namespace) -> ImagePlan:
    base = find_base(args.dist_dir, args.version)
    if base is None:
        raise missing_base(args.dist_dir, args.version)
    return make_plan(
        load_manifest(args.manifest),
        base,
        os_name=args.os_name,
        variants=args.variants,
        java=args.java,
        from_ref=args.from_ref,
        registry=args.registry,
        work_dir=args.work_dir,
        out_dir=args.dist_dir / "images",
    )

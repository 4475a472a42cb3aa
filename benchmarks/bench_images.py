#!/usr/bin/env python3
"""All six image variants of one base, layered, against each variant built on its own from the
OS image; and the size of each image and of all six on disk, against the largest.

    python benchmarks/bench_images.py [--dist dist] [--from REF] [--runs 1]

Warm cache: the base is built (dist/), the OS packages are in buildah's build cache (a first,
untimed build of all six fills it), so neither side downloads anything. Layered:
``acc-py-images build`` of the six (each variant one layer on its parent, SBOM sealed in; no OCI
archives). Separate: the same tool and steps for each variant (build, SBOM, tags), from the OS
image, with one Containerfile doing every step of its chain (the generated ones, concatenated).
Sizes are uncompressed, from containers-storage: an image is the sum of its layers; "all six
on disk" counts every layer once. Without --from, a Debian 12 minbase OS image is made with
mmdebstrap (cached in .cache/). Goals: layered <= 0.5x separate; six on disk <= 1.5x the largest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(PROJECT / "src"), str(PROJECT / "installer")]

from _results import Results, add_results_argument, clock, ratio, verdict  # noqa: E402

from accpy_core.images import VARIANT_NAMES  # noqa: E402
from accpy_images import engine  # noqa: E402
from accpy_images.build import build_variant, prepare  # noqa: E402
from accpy_images.containerfile import render  # noqa: E402
from accpy_images.plan import ImagePlan, VariantPlan, find_base, make_plan  # noqa: E402
from accpy_manifest import load_manifest  # noqa: E402

VERSION = "2023.06"
OS = "debian12"
GOAL_TIME = 0.5  # layered / separate
GOAL_DISK = 1.5  # all six on disk / the largest


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def os_image() -> str:
    tar = PROJECT / ".cache" / "test-wheels" / "images" / "debian12-minbase-plain.tar"
    if not tar.exists():
        tar.parent.mkdir(parents=True, exist_ok=True)
        sh("mmdebstrap", "--variant=minbase", "--format=tar", "bookworm", str(tar))
    ref = "localhost/acc-py-bench/debian12:minbase"
    engine.import_tarball(tar, ref)
    return ref


def layered(args: argparse.Namespace, from_ref: str) -> float:
    return clock(
        subprocess.run,
        [
            sys.executable, "-m", "accpy_images.cli", "-q", "build", VERSION, "--os", OS,
            "--from", from_ref, "--dist-dir", str(args.dist), "--work-dir", str(args.work),
            "--no-archive",
        ],
        check=True, cwd=PROJECT, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def flattened(plan: ImagePlan, variant: str) -> str:
    """The chain of ``variant`` from the OS image as one Containerfile (one FROM)."""
    chain: list[VariantPlan] = []
    v: str | None = variant
    while v is not None:
        chain.insert(0, plan.variant(v))
        v = plan.variant(v).parent
    parts = []
    for i, step in enumerate(chain):
        lines = render(plan, step).splitlines()
        parts += [line for line in lines if i == 0 or not line.startswith("FROM ")]
    return "\n".join(parts) + "\n"


def separate(plan: ImagePlan) -> float:
    """Each variant by the same tool and steps (build, SBOM seal, tags), but from the OS image
    in one Containerfile of its whole chain: what six unlayered images cost."""
    alone = replace(
        plan,
        context=plan.context.with_name(plan.context.name + "-alone"),
        variants=tuple(
            replace(v, parent=None, repository=f"localhost/acc-py-bench/alone-{v.variant}")
            for v in plan.variants
        ),
    )
    prepare(alone)
    for v in plan.variants:
        (alone.context / f"Containerfile.{v.variant}").write_text(flattened(plan, v.variant))

    def build_all() -> None:
        for v in alone.variants:
            build_variant(alone, v, archive=False)

    return clock(build_all)


def layer_sizes() -> dict[str, int]:
    store = engine.store()
    path = Path(store.root) / f"{store.driver}-layers" / "layers.json"
    return {
        layer["diff-digest"]: int(layer.get("diff-size", 0))
        for layer in json.loads(path.read_text())
        if "diff-digest" in layer
    }


def sizes(plan: ImagePlan) -> tuple[dict[str, int], int]:
    known = layer_sizes()
    per: dict[str, int] = {}
    every: set[str] = set()
    for v in plan.variants:
        data = json.loads(sh("buildah", "inspect", "--type", "image", v.ref))
        diff_ids = data["OCIv1"]["rootfs"]["diff_ids"]
        per[v.variant] = sum(known[d] for d in diff_ids)
        every.update(diff_ids)
    return per, sum(known[d] for d in every)


def report(
    ours: list[float], alone: list[float], per: dict[str, int], total: int
) -> tuple[Results, bool]:
    """The figures: the times of both sides, each image's size and all six on disk; whether
    both goals are met."""
    largest = max(per.values())
    results = Results("bench_images", "The six image variants: layered against separate", __doc__)
    time_ratio = results.compare(
        f"all six variants of {VERSION} on {OS}, warm cache, median of {len(ours)}",
        ("layered (acc-py-images build)", ours),
        ("each on its own from the OS", alone),
        digits=1,
        goal=GOAL_TIME,
    )
    disk = ratio(total, largest)
    copies = ratio(sum(per.values()), largest)
    results.table(
        "image sizes (uncompressed, containers-storage)",
        ["image", "size", "/ the largest"],
        [
            *([variant, f"{size / 2**20:.0f} MB", f"{ratio(size, largest):.2f}x"]
              for variant, size in per.items()),
            ["all six on disk", f"{total / 2**20:.0f} MB", f"{disk:.2f}x"],
            ["six separate copies", f"{sum(per.values()) / 2**20:.0f} MB", f"{copies:.2f}x"],
        ],
    )  # fmt: skip
    results.figures["sizes_bytes"] = {**per, "all six on disk": total}
    met = time_ratio <= GOAL_TIME and disk <= GOAL_DISK
    results.summary(
        f"layered takes {time_ratio:.2f}x separate (goal <= {GOAL_TIME:g}x); all six on disk "
        f"are {disk:.2f}x the largest (goal <= {GOAL_DISK:g}x): {verdict(met)}"
    )
    return results, met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=PROJECT / "dist")
    parser.add_argument("--work", type=Path, default=PROJECT / "build")
    parser.add_argument("--from", dest="from_ref")
    parser.add_argument("--runs", type=int, default=1)
    add_results_argument(parser)
    args = parser.parse_args()
    args.dist = args.dist.resolve()
    base = find_base(args.dist, VERSION)
    if base is None:
        subprocess.run(
            ["make", "-C", str(PROJECT), "base", f"VERSION={VERSION}", "INTERPRETER=auto",
             "PLATFORM=auto", f"DIST_DIR={args.dist}"],
            check=True,
        )  # fmt: skip
        base = find_base(args.dist, VERSION)
        assert base is not None
    from_ref = args.from_ref or os_image()
    plan = make_plan(
        load_manifest(PROJECT / "versions.yaml"), base, os_name=OS, variants=list(VARIANT_NAMES),
        java=None, from_ref=from_ref, registry=None, work_dir=args.work,
        out_dir=args.dist / "images",
    )  # fmt: skip
    print("warming the build cache (untimed): all six once", flush=True)
    layered(args, from_ref)
    ours: list[float] = []
    alone: list[float] = []
    for i in range(args.runs):
        ours.append(layered(args, from_ref))
        alone.append(separate(plan))
        print(f"run {i + 1}: layered {ours[-1]:.1f} s, separate {alone[-1]:.1f} s", flush=True)
    results, met = report(ours, alone, *sizes(plan))
    results.write(args.results)
    for variant in VARIANT_NAMES:
        for tag in plan.variant(variant).tags:
            subprocess.run(["buildah", "rmi", f"localhost/acc-py-bench/alone-{variant}:{tag}"],
                           capture_output=True, check=False)  # fmt: skip
    return 0 if met else 1


if __name__ == "__main__":
    os.environ.setdefault("BUILDAH_ISOLATION", "chroot")
    sys.exit(main())

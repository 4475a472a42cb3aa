"""Build the variants of an :class:`ImagePlan`, parents first, and write their OCI archives.

Per variant: ``buildah build`` of its Containerfile on the parent image (one new layer), then
the seal: the image's SBOM (the base's packages from its ACC-PY.json, the OS packages from the
package manager) is copied to /opt/acc-py/sbom.cdx.json, labelled, and committed with the same
timestamp, so that the same inputs give the same digest.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from accpy_core.fs import atomic_write
from accpy_core.images import IMAGE_ROOT, INSTALLED
from accpy_core.metadata import parse_metadata
from accpy_core.names import METADATA_NAME, sbom_file_name
from accpy_sbom import OsPackage, add_os_packages, base_bom, dumps

from . import engine
from .containerfile import SBOM_PATH, render
from .plan import ImagePlan, VariantPlan

log = logging.getLogger(__name__)
FILES = ("profile.sh", "entrypoint.py", "run_headless")


@dataclass(frozen=True)
class Built:
    plan: VariantPlan
    image_id: str
    digest: str  # the manifest digest in local storage
    size: int  # bytes, uncompressed, of all its layers
    archive: Path | None
    seconds: float


def prepare(plan: ImagePlan) -> Path:
    """The build context: the Containerfiles, the base's installer and the image files."""
    ctx = plan.context
    if ctx.exists():
        shutil.rmtree(ctx)
    ctx.mkdir(parents=True)
    for src in (plan.base.installer, plan.base.checksum):
        dest = ctx / src.name
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
    files = resources.files("accpy_images").joinpath("files")
    for name in FILES:
        (ctx / name).write_bytes(files.joinpath(name).read_bytes())
    for v in plan.variants:
        (ctx / f"Containerfile.{v.variant}").write_text(render(plan, v), encoding="utf-8")
    return ctx


def os_packages(plan: ImagePlan, listing: str) -> list[OsPackage]:
    fam = plan.family
    found = []
    for line in listing.splitlines():
        cols = line.split("\t")
        if len(cols) >= 3 and cols[0]:
            sha = cols[3] if len(cols) > 3 and cols[3] not in ("", "(none)") else ""
            found.append(
                OsPackage(cols[0], cols[1], cols[2], fam.purl_type, fam.purl_namespace, sha)
            )
    return found


def image_sbom(plan: ImagePlan, v: VariantPlan, ctr: str) -> str:
    meta_path = f"{IMAGE_ROOT}/base/{INSTALLED}/{METADATA_NAME}"
    text = engine.run_in(ctr, ["cat", meta_path]).stdout
    metadata = parse_metadata(text, f"{v.name}: {meta_path}")
    listing = engine.run_in(ctr, ["sh", "-c", plan.family.query]).stdout
    bom = base_bom(metadata, name=v.name, extra=f"-{plan.os.name}")
    add_os_packages(bom, os_packages(plan, listing))
    return dumps(bom)


def _labels(plan: ImagePlan, v: VariantPlan) -> dict[str, str]:
    b = plan.base
    return {
        "org.opencontainers.image.title": v.name,
        "org.opencontainers.image.version": f"{b.version}.{b.patch}",
        "org.opencontainers.image.base.name": plan.from_ref,
        "acc-py.base.version": b.version,
        "acc-py.base.patch": str(b.patch),
        "acc-py.python": b.python,
        "acc-py.variant": v.variant,
        "acc-py.os": plan.os.name,
        **({"acc-py.java": plan.java.name} if plan.java else {}),
        "acc-py.sbom": SBOM_PATH,
    }


def build_variant(plan: ImagePlan, v: VariantPlan, *, archive: bool) -> Built:
    start = time.perf_counter()
    ctx = plan.context
    epoch = plan.base.source_date_epoch
    unsealed = f"localhost/acc-py-unsealed/{v.name}:{v.tags[1]}"
    engine.build(
        ctx / f"Containerfile.{v.variant}",
        ctx,
        unsealed,
        timestamp=epoch,
        from_ref=plan.from_ref if v.parent is None else None,
        log_to=ctx / f"build.{v.variant}.log",
    )
    with engine.container(unsealed) as ctr:
        text = image_sbom(plan, v, ctr)
        sbom_file = ctx / sbom_file_name(v.name)
        sbom_file.write_text(text, encoding="utf-8")
        os.utime(sbom_file, (epoch, epoch))
        engine.buildah("copy", "--chown", "0:0", "--chmod", "0644", ctr, str(sbom_file), SBOM_PATH)
        labels = [a for k, val in _labels(plan, v).items() for a in ("--label", f"{k}={val}")]
        engine.buildah("config", *labels, ctr)
        engine.buildah("commit", "--quiet", "--timestamp", str(epoch), ctr, v.ref)
    engine.buildah("rmi", unsealed)
    for tag in v.tags:
        engine.buildah("tag", v.ref, f"{v.repository}:{tag}")
    info = engine.inspect(v.ref)
    path = None
    if archive:
        path = write_archive(plan, v)
    return Built(
        plan=v,
        image_id=str(info["FromImageID"]),
        digest=str(info["FromImageDigest"]),
        size=engine.size(v.ref),
        archive=path,
        seconds=time.perf_counter() - start,
    )


def write_archive(plan: ImagePlan, v: VariantPlan) -> Path:
    """dist/images/<name>_<version>.oci.tar: the image with its layers, no registry needed."""
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    path = plan.out_dir / f"{v.name}_{v.tags[0]}.oci.tar"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    engine.skopeo_copy(engine.local(v.ref), f"oci-archive:{tmp}:{v.name}:{v.tags[0]}")
    tmp.replace(path)
    return path


def build_all(plan: ImagePlan, *, archive: bool = True) -> list[Built]:
    prepare(plan)
    done = []
    n = len(plan.variants)
    for i, v in enumerate(plan.variants, 1):
        log.info("[%d/%d] %s:%s (on %s)", i, n, v.name, v.tags[0], v.parent or plan.from_ref)
        built = build_variant(plan, v, archive=archive)
        log.info(
            "      %s in %.0f s, %d MB%s", built.digest[:19], built.seconds, built.size // 2**20,
            f", {built.archive}" if built.archive else "",
        )  # fmt: skip
        done.append(built)
    summary = plan.out_dir / f"images-{plan.base.version}-{plan.os.name}.json"
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(summary, json.dumps([_row(b) for b in done], indent=2) + "\n")
    return done


def _row(b: Built) -> dict[str, object]:
    return {
        "image": b.plan.repository,
        "tags": list(b.plan.tags),
        "variant": b.plan.variant,
        "id": b.image_id,
        "digest": b.digest,
        "size": b.size,
        "archive": str(b.archive) if b.archive else None,
    }

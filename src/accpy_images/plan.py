"""What ``make images`` builds: an :class:`ImagePlan`, from versions.yaml and a base's dist/."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from acc_py_install.tarball import peek

from accpy_core import images
from accpy_core.dist import find_built_base
from accpy_core.errors import SourceError, UsageError
from accpy_core.versions import PRO
from accpy_manifest import Manifest, OsImage, get_base

from .oslists import Family, Java, load_families


@dataclass(frozen=True)
class BaseArtifacts:
    """The files of one built base in dist/ that an image needs."""

    installer: Path  # acc-py-base-<version>-<platform>-installer.sh
    checksum: Path  # its .sha256
    sbom: Path  # acc-py-base-<version>-<platform>.cdx.json
    # what the base's ACC-PY.json says (read from its .tar.gz beside the installer)
    version: str
    patch: int
    status: str
    python: str
    platform: str
    source_date_epoch: int


@dataclass(frozen=True)
class VariantPlan:
    variant: str
    parent: str | None  # the variant it is built on; None: the OS image
    repository: str  # registry/acc-py_el9_ci
    tags: tuple[str, ...]

    @property
    def name(self) -> str:
        """``acc-py_el9_ci``: the repository without the registry."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def ref(self) -> str:
        """The reference of the image in local storage, by its most precise tag."""
        return f"{self.repository}:{self.tags[1]}"


@dataclass(frozen=True)
class ImagePlan:
    base: BaseArtifacts
    os: OsImage
    family: Family
    java: Java | None
    from_ref: str  # the OS image: versions.yaml's, or FROM=
    registry: str
    variants: tuple[VariantPlan, ...]  # in build order, parents first
    context: Path  # build context: the Containerfiles and what they copy
    out_dir: Path  # dist/images: the OCI archives

    def variant(self, name: str) -> VariantPlan:
        return next(v for v in self.variants if v.variant == name)


def find_base(dist_dir: Path, version: str) -> BaseArtifacts | None:
    """The base ``version`` built into ``dist_dir`` (:func:`accpy_core.dist.find_built_base`),
    or None when there is none; what it is comes from the ``ACC-PY.json`` of its tarball, read
    through :mod:`accpy_core.metadata`."""
    built = find_built_base(dist_dir, version)
    if built is None:
        return None
    installer, sbom, tarball = built.installer, built.sbom, built.tarball
    checksum = built.checksum(installer)
    built.require(installer, checksum, sbom)
    meta = peek(tarball, version).metadata
    if not meta.is_base or meta.version != version:
        raise SourceError(
            f"{tarball} holds the {meta.kind} {meta.version}, not base {version}; rebuild "
            "with make base"
        )
    return BaseArtifacts(
        installer=installer,
        checksum=checksum,
        sbom=sbom,
        version=meta.version,
        patch=meta.patch,
        status=meta.status,
        python=meta.python,
        platform=meta.platform,
        source_date_epoch=int(os.environ.get("SOURCE_DATE_EPOCH") or meta.source_date_epoch or 0),
    )


def closure(wanted: list[str]) -> list[str]:
    """``wanted`` with every variant they are built on, in build order."""
    need: set[str] = set()
    for v in wanted:
        step: str | None = images.check_variant(v)
        while step is not None:
            need.add(step)
            step = images.parent(step)
    return [v for v in images.VARIANT_NAMES if v in need]


def make_plan(
    manifest: Manifest,
    base: BaseArtifacts,
    *,
    os_name: str | None,
    variants: list[str],
    java: str | None,
    from_ref: str | None,
    registry: str | None,
    work_dir: Path,
    out_dir: Path,
) -> ImagePlan:
    site = manifest.site.images
    if site is None:
        raise UsageError(f"{manifest.path} has no site.images; add registry and os (see the file)")
    get_base(manifest, base.version)  # a version of the manifest
    osimage = site.os_image(os_name)
    if osimage is None:
        known = ", ".join(o.name for o in site.os)
        raise UsageError(f"OS={os_name} is not in {manifest.path} site.images.os; choose {known}")
    family = load_families()[osimage.family]
    jdk = family.java_named(java) if java else None
    reg = (registry or site.registry).rstrip("/")
    pro = base.status == PRO
    plans = tuple(
        VariantPlan(
            variant=v,
            parent=images.parent(v),
            repository=images.repository(reg, osimage.name, v, java),
            tags=images.tags(base.version, base.patch, pro),
        )
        for v in closure(variants)
    )
    suffix = f"-{java}" if java else ""
    return ImagePlan(
        base=base,
        os=osimage,
        family=family,
        java=jdk,
        from_ref=from_ref or osimage.ref,
        registry=reg,
        variants=plans,
        context=work_dir.resolve() / "images" / f"{base.version}-{osimage.name}{suffix}",
        out_dir=out_dir.resolve(),
    )

"""The metadata file inside every base and interactive release: ``ACC-PY.json``.

Its one definition, reader and writer are :mod:`accpy_core.metadata`; this module gathers what
the build knows into it (:func:`base_metadata`, :func:`interactive_metadata`) and writes it.
Deterministic (sorted keys, no wall-clock time), so that it does not spoil reproducibility.
The installer and ``acc-py`` read it (``acc-py`` takes what differs per base from it: version,
index, the other bases); ``ACC-PY.RECORD`` (pack stage) lists every file's hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accpy_core.metadata import Metadata, new_metadata, write_metadata
from accpy_core.names import BASE_KIND, INTERACTIVE_KIND

from . import __version__
from .plan import BuildPlan

#: what wrote the file (its ``builder``)
BUILDER = {"name": "acc-py-base-builder", "version": __version__}


@dataclass(frozen=True)
class PackageRecord:
    name: str
    version: str
    wheel: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "wheel": self.wheel,
                "sha256": self.sha256}  # fmt: skip


def base_metadata(
    *,
    plan: BuildPlan,
    python_version: str,
    platform: str,
    interpreter: Mapping[str, Any],
    packages: Sequence[PackageRecord],
    bundled: Sequence[str],
) -> Metadata:
    base = plan.base
    return new_metadata(
        BASE_KIND,
        version=base.version,
        patch=base.patch,
        release=f"{base.version}.{base.patch}",
        python=python_version,
        platform=platform,
        declared_platform=base.platform,
        status=base.status,
        end_of_life=base.end_of_life.isoformat() if base.end_of_life else None,
        source_date_epoch=plan.source_date_epoch,
        interpreter=dict(interpreter),
        packages=[p.to_dict() for p in sorted(packages, key=lambda p: p.name)],
        bundled_libraries=sorted(bundled),
        site={
            "index_url": plan.site.index_url,
            "usage_collector": plan.site.usage_collector,
            "install_root": plan.site.install_root,
        },
        # every base of the manifest, as the builder knew them (acc-py init and init-ci)
        bases=[
            {
                "version": b.version,
                "patch": b.patch,
                "python": b.python,
                "status": b.status,
                "end_of_life": b.end_of_life.isoformat() if b.end_of_life else None,
                "platform": b.platform,
            }
            for b in plan.all_bases or (base,)
        ],
        builder=BUILDER,
    )


def interactive_metadata(
    *,
    release: str,
    patch: int,
    base: Metadata,
    status: str,
    end_of_life: str | None,
    source_date_epoch: int,
    requested: Sequence[str],
    index_url: str | None,
    packages: Sequence[Mapping[str, str]],
) -> Metadata:
    """The ``ACC-PY.json`` of an interactive release on ``base`` (the base's own)."""
    return new_metadata(
        INTERACTIVE_KIND,
        version=release,
        patch=patch,
        release=f"{release}.{patch}",
        base=base.version,
        base_release=base.release,  # the patch release it was built on
        python=base.python,
        platform=base.platform,
        status=status,
        end_of_life=end_of_life,
        source_date_epoch=source_date_epoch,
        requested=list(requested),
        index_url=index_url,
        packages=[dict(p) for p in packages],
        builder=BUILDER,
    )


def write(tree: Path, metadata: Metadata) -> Path:
    """Write ``metadata`` as the tree's ``ACC-PY.json``."""
    return Path(write_metadata(tree, metadata))

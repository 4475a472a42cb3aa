"""The metadata file inside every base: ``ACC-PY.json``.

Deterministic (sorted keys, no wall-clock time), so that it does not spoil reproducibility.
The installer and ``acc-py`` read it (``acc-py`` takes what differs per base from it: version,
index, the other bases); ``ACC-PY.RECORD`` (pack stage) lists every file's hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accpy_core.layout import METADATA_NAME

from . import __version__
from .plan import BuildPlan

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class PackageRecord:
    name: str
    version: str
    wheel: str
    sha256: str


def write_metadata(
    tree: Path,
    *,
    plan: BuildPlan,
    python_version: str,
    platform: str,
    interpreter: Mapping[str, Any],
    packages: Sequence[PackageRecord],
    bundled: Sequence[str],
) -> Path:
    base = plan.base
    data: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "name": "acc-py-base",
        "version": base.version,
        "patch": base.patch,
        "release": f"{base.version}.{base.patch}",
        "python": python_version,
        "platform": platform,
        "declared_platform": base.platform,
        "status": base.status,
        "end_of_life": base.end_of_life.isoformat() if base.end_of_life else None,
        "source_date_epoch": plan.source_date_epoch,
        "interpreter": dict(interpreter),
        "packages": [
            {"name": p.name, "version": p.version, "wheel": p.wheel, "sha256": p.sha256}
            for p in sorted(packages, key=lambda p: p.name)
        ],
        "bundled_libraries": sorted(bundled),
        "site": {
            "index_url": plan.site.index_url,
            "usage_collector": plan.site.usage_collector,
            "install_root": plan.site.install_root,
        },
        # every base of the manifest, as the builder knew them (acc-py init and init-ci)
        "bases": [
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
        "builder": {"name": "acc-py-base-builder", "version": __version__},
    }
    path = tree / METADATA_NAME
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path

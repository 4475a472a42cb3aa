"""What one build will do: a :class:`BuildPlan`, frozen.

:func:`accpy_manifest.load_manifest` turns versions.yaml into a :class:`~accpy_manifest.Manifest`;
``commands/base.py`` combines one :class:`~accpy_manifest.BaseSpec` with the command-line
overrides into a :class:`BuildPlan`. Nothing downstream reads YAML or dicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accpy_manifest import BaseSpec, Site


@dataclass(frozen=True)
class AdoptSource:
    """Adopt a CPython install prefix from this machine; ``prefix=None`` means find one."""

    prefix: Path | None


@dataclass(frozen=True)
class PbsSource:
    """Fetch the pinned python-build-standalone asset through ``mirror``."""

    mirror: str


@dataclass(frozen=True)
class BuildPlan:
    """Everything one ``make base`` run needs, resolved and validated."""

    base: BaseSpec
    site: Site  # with INDEX_URL= / USAGE_COLLECTOR= overrides applied
    source: AdoptSource | PbsSource
    platform: str  # a manylinux tag, or "auto" to compute the honest one
    manifest_path: Path
    cache_dir: Path
    work_dir: Path
    dist_dir: Path
    source_date_epoch: int
    #: every base of the manifest (ACC-PY.json lists them: acc-py init and init-ci read it)
    all_bases: tuple[BaseSpec, ...] = ()

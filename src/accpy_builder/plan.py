"""Typed, frozen objects for what the manifest declares and what one build will do.

``manifest.load_manifest`` turns versions.yaml into a :class:`Manifest`; ``cli`` combines one
:class:`BaseSpec` with the command-line overrides into a :class:`BuildPlan`. Nothing downstream
reads YAML or dicts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PBS_GITHUB = "https://github.com/astral-sh/python-build-standalone/releases/download"
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"

Status = Literal["pro", "supported", "deprecated"]
PbsFlavor = Literal["install_only", "full"]


@dataclass(frozen=True)
class Site:
    """Site-wide settings, shared by every base."""

    index_url: str
    usage_collector: str  # "host:port", a literal address (no DNS at Python start-up)
    install_root: str
    pbs_mirror: str = PBS_GITHUB


@dataclass(frozen=True)
class PbsAsset:
    """One python-build-standalone release asset, pinned by sha256."""

    tag: str
    asset: str
    sha256: str

    @property
    def flavor(self) -> PbsFlavor:
        """``install_only`` (.tar.gz, ``python/``) or ``full`` (.tar.zst, ``python/install``)."""
        return "full" if self.asset.endswith(".tar.zst") else "install_only"

    def url(self, mirror: str) -> str:
        """``<mirror>/<tag>/<asset>``: GitHub releases and UV_PYTHON_INSTALL_MIRROR alike."""
        return f"{mirror.rstrip('/')}/{self.tag}/{self.asset}"


@dataclass(frozen=True)
class PackagePin:
    """A requirement pinned to one version, with every acceptable wheel hash."""

    name: str
    version: str
    hashes: tuple[str, ...]  # "sha256:<hex>"

    def requirement(self) -> str:
        """The line for a ``--require-hashes`` requirements file."""
        hashes = " ".join(f"--hash={h}" for h in self.hashes)
        return f"{self.name}=={self.version} {hashes}"


@dataclass(frozen=True)
class BaseSpec:
    """One base version as declared in versions.yaml."""

    version: str  # "2023.06"
    patch: int  # patch release, 1-based: the tree is installed as ._2023.06.<patch>
    python: str  # full CPython version, "3.11.4"
    interpreter: PbsAsset
    packages: tuple[PackagePin, ...]
    platform: str = DEFAULT_PLATFORM
    status: Status = "supported"
    end_of_life: dt.date | None = None
    line: int = 0  # where the entry starts in the manifest, for messages

    @property
    def python_minor(self) -> str:
        """ "3.11" """
        return ".".join(self.python.split(".")[:2])

    @property
    def deprecated(self) -> bool:
        return self.status == "deprecated"


@dataclass(frozen=True)
class Manifest:
    path: Path
    site: Site
    bases: tuple[BaseSpec, ...]

    def versions(self) -> list[str]:
        return [b.version for b in self.bases]


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
    project_dir: Path  # holds recipes/ and setup.sh.in
    cache_dir: Path
    work_dir: Path
    dist_dir: Path
    source_date_epoch: int
    #: every base of the manifest (what runs inside a base learns of its siblings from this)
    all_bases: tuple[BaseSpec, ...] = ()

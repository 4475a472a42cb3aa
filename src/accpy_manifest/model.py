"""Typed, frozen objects for what versions.yaml declares (:func:`accpy_manifest.load_manifest`).

Nothing downstream reads YAML or dicts: the builder, the usage report and the tools to come
take these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from accpy_core.versions import DEPRECATED

PBS_GITHUB = "https://github.com/astral-sh/python-build-standalone/releases/download"
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"

PbsFlavor = Literal["install_only", "full"]


@dataclass(frozen=True)
class OsImage:
    """An OS base image the container images are built on (``site.images.os.<name>``)."""

    name: str  # "el9": the {os} of acc-py_{os}_{variant}
    ref: str  # any reference buildah pulls: registry/name:tag, oci-archive:PATH, ...
    family: str  # the package lists' family: "el" (dnf) or "debian" (apt)
    line: int = 0


@dataclass(frozen=True)
class ImageSite:
    """``site.images``: where images are pushed and which OS images they start from."""

    registry: str  # "registry.cern.ch/acc": images are <registry>/acc-py_{os}...
    os: tuple[OsImage, ...]  # the first is the default

    def os_image(self, name: str | None) -> OsImage | None:
        if name is None:
            return self.os[0]
        return next((o for o in self.os if o.name == name), None)


@dataclass(frozen=True)
class CaCertificate:
    """A certificate authority the site's services use (``site.ca_certificates``): its file, as
    declared, and its PEM text (one or more certificates)."""

    path: Path
    pem: str
    line: int = 0


@dataclass(frozen=True)
class Site:
    """Site-wide settings, shared by every base."""

    index_url: str
    usage_collector: str  # "host:port": an address, or a host name the installer resolves
    install_root: str
    pbs_mirror: str = PBS_GITHUB
    images: ImageSite | None = None
    #: the site's own certificate authorities: trusted by every base and image, beside the
    #: host's store
    ca_certificates: tuple[CaCertificate, ...] = ()

    @property
    def ca_pem(self) -> str:
        """Every site CA certificate, one PEM text ("" when the site declares none)."""
        return "".join(
            c.pem if c.pem.endswith("\n") else c.pem + "\n" for c in self.ca_certificates
        )


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
    status: str = "supported"  # one of accpy_core.versions.STATUSES
    end_of_life: dt.date | None = None
    line: int = 0  # where the entry starts in the manifest, for messages

    @property
    def python_minor(self) -> str:
        """ "3.11" """
        return ".".join(self.python.split(".")[:2])

    @property
    def deprecated(self) -> bool:
        return self.status == DEPRECATED


@dataclass(frozen=True)
class Wanted:
    """A package of an interactive release: a name, and a constraint the lock must meet."""

    name: str  # canonical
    specifier: str  # PEP 440 specifier set, "" for any version

    def requirement(self) -> str:
        return f"{self.name}{self.specifier}"


@dataclass(frozen=True)
class InteractiveSpec:
    """One release of the interactive environment (``interactive:`` in versions.yaml)."""

    release: str  # "2025.03", named like the bases
    base: str  # the base version it sits on
    status: str  # one of accpy_core.versions.STATUSES
    packages: tuple[Wanted, ...]
    end_of_life: dt.date | None = None
    line: int = 0
    patch: int = 1  # a rebuild of the same release (a fix) is patch N+1, as for the bases


@dataclass(frozen=True)
class Manifest:
    path: Path
    site: Site
    bases: tuple[BaseSpec, ...]
    interactive: tuple[InteractiveSpec, ...] = ()

    def versions(self) -> list[str]:
        return [b.version for b in self.bases]

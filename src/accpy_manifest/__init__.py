"""accpy_manifest: versions.yaml, read once, validated, as frozen objects.

The builder builds from it, the usage report takes the bases' statuses from it. Every mistake
is one line, ``versions.yaml:<line>: <what is wrong>; <how to fix>`` (a
:class:`~accpy_core.errors.ManifestError`). Needs PyYAML and packaging.
"""

from .model import (
    DEFAULT_PLATFORM,
    PBS_GITHUB,
    BaseSpec,
    CaCertificate,
    ImageSite,
    InteractiveSpec,
    Manifest,
    OsImage,
    PackagePin,
    PbsAsset,
    PbsFlavor,
    Site,
    Wanted,
)
from .reader import (
    REQUIRED_PACKAGES,
    get_base,
    load_manifest,
    python_from_asset,
    read_ca_certificate,
)

__all__ = [
    "DEFAULT_PLATFORM",
    "PBS_GITHUB",
    "REQUIRED_PACKAGES",
    "BaseSpec",
    "CaCertificate",
    "ImageSite",
    "InteractiveSpec",
    "Manifest",
    "OsImage",
    "PackagePin",
    "PbsAsset",
    "PbsFlavor",
    "Site",
    "Wanted",
    "get_base",
    "load_manifest",
    "python_from_asset",
    "read_ca_certificate",
]

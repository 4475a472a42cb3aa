"""The SBOM of a base, and of an image: CycloneDX 1.6 JSON, through cyclonedx-python-lib.

A base's SBOM lists CPython and every package installed into the base, with versions, the wheel
each came from and its sha256; it goes into the tarball (``ACC-PY.cdx.json``) and next to it in
``dist/``. An image's SBOM is the base's plus the OS packages of the image. The output depends
only on the inputs: the serial number is derived from them (uuid5), the timestamp is
SOURCE_DATE_EPOCH, every bom-ref is the component's purl.

A package of its own (cyclonedx-python-lib its one dependency): the builder writes SBOMs, the
image builder (accpy_images) writes and reads them, and neither imports the other.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from accpy_core.metadata import Metadata

#: properties of the root component that the image builder reads back
PROP_PREFIX = "acc-py:"
_NAMESPACE = uuid.UUID("6f0b5a8e-3d0c-5d55-9c1e-acc0acc0acc0")


@dataclass(frozen=True)
class OsPackage:
    """One package of an image's OS, as its package manager reports it."""

    name: str
    version: str
    arch: str
    purl_type: str  # "deb" or "rpm"
    namespace: str  # "debian", "almalinux"
    sha256: str = ""  # rpm's SHA256HEADER; dpkg keeps none


def _component(
    purl: PackageURL, kind: ComponentType, *, sha256: str = "", props: Mapping[str, str] = {}
) -> Component:
    return Component(
        name=purl.name,
        version=purl.version,
        type=kind,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else [],
        properties=[Property(name=PROP_PREFIX + k, value=v) for k, v in sorted(props.items())],
    )


def _packages(metadata: Metadata) -> list[Component]:
    python = PackageURL(type="generic", name="cpython", version=metadata.python)
    sha256 = str(metadata.interpreter.get("sha256", ""))
    found = [_component(python, ComponentType.APPLICATION, sha256=sha256)]
    for p in metadata.packages:
        purl = PackageURL(type="pypi", name=p.name.lower(), version=p.version)
        props = {"wheel": p.wheel} if p.wheel else {}
        found.append(_component(purl, ComponentType.LIBRARY, sha256=p.sha256, props=props))
    return found


def base_bom(metadata: Metadata, *, name: str = "acc-py-base", extra: str = "") -> Bom:
    """The BOM of the base that ``metadata`` (its ACC-PY.json) describes; ``name``/``extra``:
    the root component of an image built on it instead."""
    root = PackageURL(type="generic", name=name, version=metadata.release + extra)
    epoch = metadata.source_date_epoch or 0
    props = {
        "version": metadata.version,
        "patch": str(metadata.patch),
        "python": metadata.python,
        "platform": metadata.platform,
        "status": metadata.status,
        "source_date_epoch": str(epoch),
    }
    bom = Bom()
    top = _component(root, ComponentType.APPLICATION, props=props)
    bom.metadata.component = top
    bom.metadata.timestamp = dt.datetime.fromtimestamp(epoch, dt.UTC)
    _add(bom, _packages(metadata))
    return bom


def _add(bom: Bom, components: Iterable[Component]) -> None:
    found = list(components)
    for c in found:
        bom.components.add(c)
    if bom.metadata.component is not None:
        bom.register_dependency(bom.metadata.component, found)


def add_os_packages(bom: Bom, packages: list[OsPackage]) -> None:
    _add(
        bom,
        (
            _component(
                PackageURL(p.purl_type, p.namespace, p.name, p.version, {"arch": p.arch}),
                ComponentType.LIBRARY,
                sha256=p.sha256,
            )
            for p in packages
        ),
    )


def dumps(bom: Bom) -> str:
    """The JSON text, with a serial number that the content determines."""
    refs = sorted(str(c.bom_ref) for c in bom.components)
    root = bom.metadata.component
    key = "\n".join([str(root.bom_ref) if root else "", *refs])
    bom.serial_number = uuid.uuid5(_NAMESPACE, key)
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    return json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"

"""A base tarball before it is unpacked: its checksum, its name, its metadata.

``acc-py-base-<version>-<platform>.tar.gz`` (or ``.tar.zst``) comes with
``<same name>.sha256`` (``<hex>  <name>``, as ``sha256sum`` writes it). A URL is downloaded
(``.sha256`` first) into a hidden directory under the root, on the same file system.
``peek`` reads ``ACC-PY.json`` and ``ACC-PY.RECORD`` from the head of the archive (they sort
first) without writing anything, so that a wrong version, platform or host is refused before
anything is unpacked.
"""

from __future__ import annotations

import hashlib
import logging
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from accpy_core.archive import BROKEN, open_stream
from accpy_core.errors import ArchiveError, ChecksumError, MetadataError, SourceError
from accpy_core.layout import (
    METADATA_NAME,
    RECORD_NAME,
    TarballName,
    parse_tarball_name,
)
from accpy_core.metadata import Metadata, parse_metadata
from accpy_core.record import expected_sha256, sha256_line

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_MAX_META = 64 << 20  # refuse absurd metadata members instead of reading them into memory
_READ_ERRORS: tuple[type[Exception], ...] = (*BROKEN, OSError)


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https", "file")


def download(url: str, dest_dir: Path, *, timeout: float = 60.0) -> Path:
    """Download ``url`` and ``url.sha256`` into ``dest_dir``; the tarball is checked as it
    streams, and nothing stays on a mismatch. Returns the local tarball."""
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name
    parse_tarball_name(name)
    sums = _fetch(url + ".sha256", timeout).decode("utf-8", errors="replace")
    want = expected_sha256(sums, name, url + ".sha256")
    out = dest_dir / name
    digest = hashlib.sha256()
    try:
        with _open_url(url, timeout) as resp, open(out, "wb") as fh:
            data = resp.read(_CHUNK)
            while data:
                digest.update(data)
                fh.write(data)
                data = resp.read(_CHUNK)
    except OSError as exc:
        raise SourceError(f"cannot download {url}: {exc}; check the URL and the network") from exc
    if digest.hexdigest() != want:
        out.unlink()
        raise ChecksumError(
            f"{url} has sha256 {digest.hexdigest()} but its .sha256 says {want}; the download "
            "is corrupt or the server holds mismatched files"
        )
    (dest_dir / (name + ".sha256")).write_text(sha256_line(want, name), encoding="utf-8")
    log.info("downloaded %s (checksum ok)", name)
    return out


def _open_url(url: str, timeout: float) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"cannot download {url}: {reason}; check the URL and network") from exc


def _fetch(url: str, timeout: float) -> bytes:
    with _open_url(url, timeout) as resp:
        try:
            data: bytes = resp.read(1 << 16)
        except OSError as exc:
            raise SourceError(f"cannot download {url}: {exc}") from exc
    return data


def _read_head(tar: tarfile.TarFile, tarball: Path, top: str, wanted: set[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for member in tar:
        name = str(PurePosixPath(member.name))
        if name.split("/", 1)[0] != top:
            raise MetadataError(
                f"{tarball.name} is named for version {top} but holds {member.name!r}; a base "
                f"tarball holds one directory named after its version: use the builder's file"
            )
        if name in wanted and member.isreg() and member.size <= _MAX_META:
            fh = tar.extractfile(member)
            found[name] = fh.read() if fh else b""
            if len(found) == len(wanted):
                break
    return found


@dataclass(frozen=True)
class Peeked:
    metadata: Metadata
    record: bytes


def peek(tarball: Path, top: str) -> Peeked:
    """Read ``<top>/ACC-PY.json`` and ``<top>/ACC-PY.RECORD`` from the archive, writing nothing."""
    wanted = {f"{top}/{METADATA_NAME}", f"{top}/{RECORD_NAME}"}
    try:
        with open(tarball, "rb") as raw:
            stream = open_stream(tarball, raw)
            with tarfile.open(fileobj=stream, mode="r|", bufsize=_CHUNK) as tar:
                found = _read_head(tar, tarball, top, wanted)
    except ArchiveError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveError(f"{tarball}: corrupt or truncated archive ({exc})") from exc
    meta_bytes = found.get(f"{top}/{METADATA_NAME}")
    record = found.get(f"{top}/{RECORD_NAME}")
    if meta_bytes is None or record is None:
        raise MetadataError(
            f"{tarball.name} has no {top}/{METADATA_NAME} and {top}/{RECORD_NAME}; it was not "
            "made by the Acc-Py base builder (make base)"
        )
    metadata = parse_metadata(meta_bytes, f"{tarball.name}: {top}/{METADATA_NAME}")
    return Peeked(metadata, record)


def check_metadata(where: str, name: TarballName, metadata: Metadata) -> int:
    """Refuse metadata that contradicts the name it came under; return the patch number."""
    for key, expected, said in (
        ("version", name.version, metadata.version),
        ("platform", name.platform, metadata.platform),
    ):
        if said != expected:
            raise MetadataError(
                f"{where} says {key} {expected!r} in its name but {said!r} "
                f"in {METADATA_NAME}; the file was renamed or tampered with: use the builder's"
            )
    if metadata.kind != name.kind:  # a schema-1 file without a kind: a base (the reader's)
        raise MetadataError(
            f"{where} is named like a tarball of a {name.kind} but {METADATA_NAME} says it holds "
            f"a {metadata.kind}; the file was renamed or tampered with: use the builder's"
        )
    return metadata.patch

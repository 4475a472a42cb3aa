"""A base tarball before it is unpacked: its checksum, its name, its metadata, its platform.

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
import os
import platform
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .archive import _BROKEN, _open_stream
from .errors import ArchiveError, ChecksumError, FetchError, MetadataError
from .layout import METADATA_NAME, RECORD_NAME
from .record import sha256_file

log = logging.getLogger(__name__)

NAME_RE = re.compile(
    r"^acc-py-base-(?P<version>\d{4}\.\d{2}(?:\.dev\d+)?)-(?P<platform>[a-z0-9_]+)"
    r"\.(?P<suffix>tar\.gz|tgz|tar\.zst|tar)$"
)
_CHUNK = 1 << 20
_MAX_META = 64 << 20  # refuse absurd metadata members instead of reading them into memory
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


@dataclass(frozen=True)
class TarballName:
    version: str
    platform: str


def parse_name(path: Path) -> TarballName:
    m = NAME_RE.match(path.name)
    if not m:
        raise MetadataError(
            f"{path.name} is not named like a base tarball (acc-py-base-<version>-<platform>"
            ".tar.gz); keep the name the builder gave it"
        )
    return TarballName(m.group("version"), m.group("platform"))


def expected_sha256(text: str, name: str, where: str) -> str:
    """The digest for ``name`` in the text of a ``.sha256`` file."""
    for line in text.splitlines():
        parts = line.split()
        if (len(parts) == 2 and parts[1].lstrip("*") == name) or len(parts) == 1:
            digest = parts[0].lower()
            if re.fullmatch(r"[0-9a-f]{64}", digest):
                return digest
    raise ChecksumError(
        f"{where} holds no sha256 for {name}; use the .sha256 file written with the tarball"
    )


def verify_checksum(tarball: Path) -> str:
    """Check ``tarball`` against ``tarball.sha256`` next to it; return the digest."""
    if not tarball.is_file():
        raise ChecksumError(f"{tarball} does not exist; give the path of a base tarball")
    sums = tarball.with_name(tarball.name + ".sha256")
    try:
        text = sums.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ChecksumError(
            f"cannot read {sums} ({exc.strerror}); copy the .sha256 file along with the tarball"
        ) from exc
    want = expected_sha256(text, tarball.name, str(sums))
    got = sha256_file(tarball)
    if got != want:
        raise ChecksumError(
            f"{tarball.name} has sha256 {got} but {sums.name} says {want}; the file is corrupt "
            "or truncated: copy or download it again"
        )
    log.info("checksum ok: %s", tarball.name)
    return got


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https", "file")


def download(url: str, dest_dir: Path, *, timeout: float = 60.0) -> Path:
    """Download ``url`` and ``url.sha256`` into ``dest_dir``; the tarball is checked as it
    streams, and nothing stays on a mismatch. Returns the local tarball."""
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name
    parse_name(Path(name))
    sums = _fetch(url + ".sha256", timeout).decode("utf-8", errors="replace")
    want = expected_sha256(sums, name, url + ".sha256")
    out = dest_dir / name
    digest = hashlib.sha256()
    try:
        with _open_url(url, timeout) as resp, open(out, "wb") as fh:
            while data := resp.read(_CHUNK):
                digest.update(data)
                fh.write(data)
    except OSError as exc:
        raise FetchError(f"cannot download {url}: {exc}; check the URL and the network") from exc
    if digest.hexdigest() != want:
        out.unlink()
        raise ChecksumError(
            f"{url} has sha256 {digest.hexdigest()} but its .sha256 says {want}; the download "
            "is corrupt or the server holds mismatched files"
        )
    (dest_dir / (name + ".sha256")).write_text(f"{want}  {name}\n", encoding="utf-8")
    log.info("downloaded %s (checksum ok)", name)
    return out


def _open_url(url: str, timeout: float) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot download {url}: {reason}; check the URL and network") from exc


def _fetch(url: str, timeout: float) -> bytes:
    with _open_url(url, timeout) as resp:
        try:
            data: bytes = resp.read(1 << 16)
        except OSError as exc:
            raise FetchError(f"cannot download {url}: {exc}") from exc
    return data


_READ_ERRORS: tuple[type[Exception], ...] = (*_BROKEN, OSError)


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
    metadata: dict[str, Any]
    record: bytes


def peek(tarball: Path, top: str) -> Peeked:
    """Read ``<top>/ACC-PY.json`` and ``<top>/ACC-PY.RECORD`` from the archive, writing nothing."""
    import json

    wanted = {f"{top}/{METADATA_NAME}", f"{top}/{RECORD_NAME}"}
    try:
        with open(tarball, "rb") as raw:
            stream = _open_stream(tarball, raw)
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
    try:
        metadata = json.loads(meta_bytes.decode("utf-8"))
    except ValueError as exc:
        raise MetadataError(f"{tarball.name}: {METADATA_NAME} is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict):
        raise MetadataError(f"{tarball.name}: {METADATA_NAME} is not a JSON object")
    return Peeked(metadata, record)


def check_metadata(tarball: Path, name: TarballName, metadata: dict[str, Any]) -> int:
    """Refuse metadata that contradicts the file name; return the patch number."""
    for key, expected in (("version", name.version), ("platform", name.platform)):
        if metadata.get(key) != expected:
            raise MetadataError(
                f"{tarball.name} says {key} {expected!r} in its name but {metadata.get(key)!r} "
                f"in {METADATA_NAME}; the file was renamed or tampered with: use the builder's"
            )
    patch = metadata.get("patch")
    if not isinstance(patch, int) or isinstance(patch, bool) or patch < 0:
        raise MetadataError(f"{tarball.name}: {METADATA_NAME} has no valid patch number")
    return patch


def host_glibc() -> tuple[int, int] | None:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        text = ""
    m = re.match(r"glibc (\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_host(
    tag: str, *, machine: str | None = None, glibc: tuple[int, int] | None = None
) -> None:
    """Refuse a platform tag that this host cannot run (architecture, glibc, libc kind)."""
    machine = machine or platform.machine()
    glibc = glibc if glibc is not None else host_glibc()
    m = re.match(r"^(manylinux|musllinux)_(\d+)_(\d+)_(\w+)$", tag)
    legacy = re.match(r"^(manylinux1|manylinux2010|manylinux2014)_(\w+)$", tag)
    generic = re.match(r"^linux_(\w+)$", tag)
    if m:
        kind, need, arch = m.group(1), (int(m.group(2)), int(m.group(3))), m.group(4)
    elif legacy:
        kind, need, arch = "manylinux", _LEGACY[legacy.group(1)], legacy.group(2)
    elif generic:
        kind, need, arch = "linux", None, generic.group(1)
    else:
        raise MetadataError(f"unknown platform tag {tag!r}; the base was not made by the builder")
    if arch != machine:
        raise MetadataError(f"the base is for {arch} ({tag}) but this host is {machine}")
    if kind == "musllinux":
        raise MetadataError(f"the base is for musl libc ({tag}); this host runs glibc")
    if need is None:
        log.warning("platform tag %s promises no glibc level; the base may not run here", tag)
        return
    if glibc is None:
        raise MetadataError(f"the base needs glibc {need[0]}.{need[1]} ({tag}); no glibc here")
    if glibc < need:
        raise MetadataError(
            f"the base needs glibc {need[0]}.{need[1]} ({tag}) but this host has "
            f"{glibc[0]}.{glibc[1]}; install it from a newer host, or build the base for an "
            "older platform (make base PLATFORM=...)"
        )


def free_space(path: Path) -> int:
    return shutil.disk_usage(path).free

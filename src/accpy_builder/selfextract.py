"""The self-extracting installer: ``<stem>-installer.sh`` = a POSIX sh header + the ``.tar.gz``.

The header is the installer's ``selfextract.sh.in`` (a resource of :mod:`acc_py_install`, which
it hands over to) with ``@NAME@`` tokens replaced by what this module reads from the tarball:
the base's version, patch, Python, platform tag and status (from its ``ACC-PY.json``), the
sha256 of its ``ACC-PY.RECORD``, the oldest glibc and the CPU the platform tag allows, the
payload's sha256 and byte size, the disk space the unpacked tree takes, the exit codes of
:mod:`accpy_core.errors`, and the header's own length, so that the script cuts the payload with
``tail -c +<HEADER_BYTES + 1>``. The payload is the tarball, byte
for byte. The output depends only on the tarball and the template: the same tarball gives a
byte-identical installer. It is written under a temporary name in ``dist_dir``, made 0755 and
renamed into place, with a ``.sha256`` beside it as for the archives.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import re
import tarfile
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, cast

from accpy_core import errors
from accpy_core.archive import check_member_form
from accpy_core.errors import AccPyError, ArchiveError, CheckError
from accpy_core.layout import METADATA_NAME, RECORD_NAME
from accpy_core.metadata import Metadata, parse_metadata
from accpy_core.names import checksum_name, installer_name
from accpy_core.platforms import parse_platform

from .inject import render

log = logging.getLogger(__name__)

#: the header template: the installer package owns the sh half of itself
TEMPLATE = resources.files("acc_py_install").joinpath("selfextract.sh.in")
_SAFE = re.compile(r"^[A-Za-z0-9._+-]*$")  # what may go between single quotes, unquoted too
#: the exit codes the script uses itself (the rest come from acc-py-install)
EXIT_CODES = {
    "E_FAILED": errors.AccPyError,
    "E_USAGE": errors.UsageError,
    "E_PAYLOAD": errors.ChecksumError,
    "E_HOST": errors.MetadataError,
    "E_SPACE": errors.SpaceError,
    "E_LOCK": errors.LockError,
}
_BLOCK_KIB = 4  # file systems allocate in 4 KiB blocks (ext4, xfs, tmpfs)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Payload:
    """What the header needs to know about a base tarball."""

    top: str
    metadata: Metadata
    record_sha256: str
    sha256: str
    size: int  # bytes of the .tar.gz
    unpacked_kib: int  # disk space of the unpacked tree, margin included
    entries: int


def platform_requirements(tag: str) -> tuple[str, str]:
    """``(oldest glibc "X.Y" or "", machine)`` that a platform tag promises to run on.

    ``manylinux_2_28_x86_64`` -> ``("2.28", "x86_64")``; the legacy aliases map to their glibc;
    ``linux_<arch>`` makes no glibc promise (``""``).
    """
    plat = parse_platform(tag, CheckError)
    if plat.family == "musllinux":
        raise CheckError(f"platform tag {tag!r} is for musl; the installer checks glibc only")
    return plat.libc_text, plat.arch


class _HashingReader:
    """A binary file, read through, hashed and counted on the way."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data


def _blocks_kib(size: int) -> int:
    return -(-size // (_BLOCK_KIB * 1024)) * _BLOCK_KIB


def inspect_payload(tarball: Path) -> Payload:
    """Read a base tarball once: its top directory, ``ACC-PY.json``, sha256, size, unpacked size.

    Refuses (ArchiveError) anything the builder never packs and the script must not unpack:
    more than one top directory, absolute or ``..`` paths, links leaving the tree, hard links,
    devices, FIFOs.
    """
    top: str | None = None
    meta_bytes: bytes | None = None
    record = ""
    kib = entries = 0
    try:
        with tarball.open("rb") as raw:
            reader = _HashingReader(raw)
            with (
                gzip.GzipFile(fileobj=cast("IO[bytes]", reader), mode="rb") as gz,
                tarfile.open(fileobj=gz, mode="r|") as tar,
            ):
                for member in tar:
                    entries += 1
                    check_member_form(member, tarball, strict=True)
                    parts = member.name.rstrip("/").split("/")
                    if "" in parts:
                        raise ArchiveError(f"{tarball}: unsafe member path {member.name!r}")
                    if top is None:
                        top = parts[0]
                    elif parts[0] != top:
                        raise ArchiveError(
                            f"{tarball}: two top directories ({top!r}, {parts[0]!r}); "
                            "a base tarball has exactly one, named after the version"
                        )
                    if member.isdir():
                        kib += _BLOCK_KIB
                    elif member.issym():
                        target = member.linkname
                        depth = len(parts) - 2  # directories between the top and the link
                        if target.startswith("/") or _escapes(target, depth):
                            raise ArchiveError(
                                f"{tarball}: symlink {member.name} -> {target} leaves the tree"
                            )
                        kib += _BLOCK_KIB if len(target) >= 60 else 0  # short ones are inline
                    elif member.isreg():
                        kib += _blocks_kib(member.size)
                        if len(parts) == 2 and parts[1] in (METADATA_NAME, RECORD_NAME):
                            fh = tar.extractfile(member)
                            assert fh is not None
                            data = fh.read()
                            if parts[1] == METADATA_NAME:
                                meta_bytes = data
                            else:
                                record = hashlib.sha256(data).hexdigest()
                    else:
                        raise ArchiveError(
                            f"{tarball}: {member.name} is neither a file, a directory nor a "
                            "symlink; a base tarball holds nothing else"
                        )
            while reader.read(_CHUNK):  # whatever gzip left unread: the hash covers the file
                pass
    except AccPyError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as exc:
        raise ArchiveError(f"{tarball}: not a readable .tar.gz ({exc}); rebuild it") from exc
    if top is None:
        raise ArchiveError(f"{tarball}: the archive is empty")
    if meta_bytes is None or not record:
        raise ArchiveError(
            f"{tarball}: no {top}/{METADATA_NAME} and {top}/{RECORD_NAME}; is this an Acc-Py base?"
        )
    metadata = parse_metadata(meta_bytes, f"{tarball}: {top}/{METADATA_NAME}")
    kib += max(1024, kib // 50)  # 2% (at least 1 MiB): directories that grow, staging
    return Payload(
        top=top,
        metadata=metadata,
        record_sha256=record,
        sha256=reader.sha256.hexdigest(),
        size=reader.size,
        unpacked_kib=kib,
        entries=entries,
    )


def _escapes(target: str, depth: int) -> bool:
    """Does a relative symlink at ``depth`` directories below the top point above the top?"""
    level = depth
    for part in target.split("/"):
        if part == "..":
            level -= 1
            if level < 0:  # above the top directory, whose name changes on install
                return True
        elif part not in ("", "."):
            level += 1
    return False


def header_values(payload: Payload) -> dict[str, str]:
    """The tokens of the template (all but HEADER_BYTES), checked to be safe in sh quotes."""
    meta = payload.metadata
    version, patch, python, platform = meta.version, meta.patch, meta.python, meta.platform
    if version != payload.top:
        raise ArchiveError(
            f"the tarball's top directory is {payload.top!r} but its {METADATA_NAME} says "
            f"version {version!r}; rebuild it"
        )
    glibc, arch = platform_requirements(platform)
    values = {
        "VERSION": version,
        "PATCH": str(patch),
        "PYTHON": python,
        "PLATFORM": platform,
        "STATUS": meta.status or "unknown",
        "GLIBC": glibc,
        "ARCH": arch,
        "TOP": payload.top,
        "RECORD_SHA256": payload.record_sha256,
        "PAYLOAD_SHA256": payload.sha256,
        "PAYLOAD_BYTES": str(payload.size),
        "UNPACKED_KIB": str(payload.unpacked_kib),
        **{name: str(kind.exit_code) for name, kind in EXIT_CODES.items()},
    }
    for key, value in values.items():
        if not _SAFE.match(value):
            raise CheckError(
                f"{key} = {value!r} cannot go into the installer script "
                "(letters, digits and . _ + - only); fix ACC-PY.json"
            )
    if patch < 0:
        raise CheckError(f"patch {patch} is negative; fix ACC-PY.json")
    return values


def render_header(
    template: str, values: Mapping[str, str], source: Path | str = "the installer template"
) -> bytes:
    """The header: ``template`` with every ``@NAME@`` replaced, ``@HEADER_BYTES@`` by its length.

    The length is a fixed point: render with a guess, measure, render again (at most a few
    rounds, since only the number of digits can change the length).
    """
    if "@HEADER_BYTES@" not in template:
        raise CheckError("the installer template lacks @HEADER_BYTES@")
    if not template.endswith("\n"):
        raise CheckError("the installer template must end with a newline")
    size = 0
    for _ in range(5):
        try:
            text = render(template, {**values, "HEADER_BYTES": str(size)}, source, CheckError)
            data = text.encode("ascii")
        except UnicodeEncodeError as exc:
            raise CheckError(f"the installer header must be ASCII: {exc}") from exc
        if len(data) == size:
            return data
        size = len(data)
    raise CheckError("internal error: the installer header length does not settle")


def write_installer(
    tarball: Path, *, dist_dir: Path, stem: str, template: Path | None = None
) -> Path:
    """Write ``dist_dir/<stem>-installer.sh`` (and its ``.sha256``) for the base ``tarball``."""
    payload = inspect_payload(tarball)
    values = header_values(payload)
    if values["VERSION"] not in stem or values["PLATFORM"] not in stem:
        raise CheckError(
            f"installer name {stem!r} contradicts the tarball's {METADATA_NAME} (version "
            f"{values['VERSION']}, platform {values['PLATFORM']}); name it after both"
        )
    try:
        text = (template or TEMPLATE).read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckError(f"cannot read the installer template {template}: {exc}") from exc
    header = render_header(text, values, template or "acc_py_install/selfextract.sh.in")

    name = installer_name(stem)
    out = dist_dir / name
    dist_dir.mkdir(parents=True, exist_ok=True)
    temps: list[Path] = []

    def mktemp(final: str) -> int:
        fd, tmp = tempfile.mkstemp(dir=dist_dir, prefix=f".{final}.", suffix=".tmp")
        temps.append(Path(tmp))
        return fd

    try:
        sha = hashlib.sha256(header)
        copied = hashlib.sha256()
        with os.fdopen(mktemp(name), "wb") as fh, tarball.open("rb") as src:
            fh.write(header)
            while data := src.read(_CHUNK):
                copied.update(data)
                sha.update(data)
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if copied.hexdigest() != payload.sha256:
            raise ArchiveError(f"{tarball} changed while the installer was written; rebuild")
        with os.fdopen(mktemp(checksum_name(name)), "w", encoding="utf-8") as text_fh:
            text_fh.write(f"{sha.hexdigest()}  {name}\n")
        temps[0].chmod(0o755)
        temps[1].chmod(0o644)
        temps[0].replace(out)
        temps[1].replace(dist_dir / checksum_name(name))
        temps.clear()
    except OSError as exc:
        raise ArchiveError(f"cannot write {out}: {exc}; check the space in {dist_dir}") from exc
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    log.info(
        "wrote %s (%d-byte header, %s payload, needs %d MiB unpacked)",
        out.name, len(header), values["PAYLOAD_BYTES"], payload.unpacked_kib // 1024,
    )  # fmt: skip
    return out

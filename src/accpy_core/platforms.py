"""Platform tags (PEP 600 ``manylinux_X_Y_<arch>`` and friends): the one parser, and the host check.

Understood forms::

    manylinux_2_28_x86_64       glibc >= 2.28 on x86_64 (PEP 600)
    manylinux2014_x86_64        the legacy aliases: manylinux1 (2.5), manylinux2010 (2.12),
                                manylinux2014 (2.17)
    musllinux_1_2_x86_64        musl libc (PEP 656): a glibc host cannot run it
    linux_x86_64                any Linux on x86_64, no libc promise

A base, a wheel and an image are tagged with one of these; the installer refuses a base whose
tag this host cannot run, and the builder fetches wheels for every tag a platform accepts.
"""

from __future__ import annotations

import os
import platform as _platform
import re
from dataclasses import dataclass

from .errors import AccPyError, ConfigError, MetadataError

#: the legacy manylinux names and the glibc they stand for
LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_PEP600 = re.compile(r"^(manylinux|musllinux)_(\d+)_(\d+)_([a-z0-9_]+)$")
_LEGACY_RE = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_([a-z0-9_]+)$")
_LINUX = re.compile(r"^linux_([a-z0-9_]+)$")
_EXAMPLE = "manylinux_2_28_x86_64"


@dataclass(frozen=True)
class Platform:
    """A parsed platform tag."""

    tag: str  # as written
    family: str  # "manylinux", "musllinux" or "linux"
    libc: tuple[int, int] | None  # the oldest glibc (or musl) it needs; None for linux_*
    arch: str  # x86_64, aarch64, ...

    @property
    def libc_text(self) -> str:
        """``"2.28"``, or ``""`` when the tag promises nothing."""
        return f"{self.libc[0]}.{self.libc[1]}" if self.libc else ""

    @property
    def canonical(self) -> str:
        """The PEP 600 spelling: ``manylinux2014_x86_64`` -> ``manylinux_2_17_x86_64``."""
        if self.libc is None:
            return self.tag
        return f"{self.family}_{self.libc[0]}_{self.libc[1]}_{self.arch}"

    def accepted(self) -> list[str]:
        """Every manylinux tag a host of this platform runs, most preferred first (as pip sees
        them): ``manylinux_2_28_x86_64`` ... ``manylinux_2_5_x86_64`` and the legacy aliases."""
        if self.family != "manylinux" or self.libc is None or self.libc[0] != 2:
            return [self.tag]
        out: list[str] = []
        for minor in range(self.libc[1], 4, -1):
            out.append(f"manylinux_2_{minor}_{self.arch}")
            for alias, (_, alias_minor) in LEGACY.items():
                legacy_ok = self.arch in ("x86_64", "i686") or alias == "manylinux2014"
                if alias_minor == minor and legacy_ok:
                    out.append(f"{alias}_{self.arch}")
        return out


def parse_platform(tag: str, error: type[AccPyError] = ConfigError) -> Platform:
    """Parse ``tag``; an unknown form raises ``error`` (ConfigError unless told)."""
    m = _PEP600.match(tag)
    if m:
        return Platform(tag, m.group(1), (int(m.group(2)), int(m.group(3))), m.group(4))
    m = _LEGACY_RE.match(tag)
    if m:
        return Platform(tag, "manylinux", LEGACY[m.group(1)], m.group(2))
    m = _LINUX.match(tag)
    if m:
        return Platform(tag, "linux", None, m.group(1))
    raise error(
        f"{tag!r} is not a platform tag; write e.g. {_EXAMPLE} (manylinux_<glibc major>_"
        "<glibc minor>_<arch>), manylinux2014_x86_64 or linux_x86_64"
    )


def manylinux_x86_64(tag: str) -> Platform | None:
    """``tag`` parsed, when it is a manylinux tag for x86_64 (what a base is built for: the one
    check of it); None for anything else, a malformed tag included."""
    try:
        plat = parse_platform(tag)
    except ConfigError:
        return None
    if plat.family != "manylinux" or plat.arch != "x86_64" or plat.libc is None:
        return None
    return plat


def host_glibc() -> tuple[int, int] | None:
    """This host's glibc (major, minor), or None on a host without glibc."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        text = ""
    m = re.match(r"glibc (\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def host_refusal(
    tag: str, *, machine: str | None = None, glibc: tuple[int, int] | None = None
) -> str:
    """Why this host cannot run something tagged ``tag`` ("" when it can)."""
    plat = parse_platform(tag, MetadataError)
    machine = machine or _platform.machine()
    glibc = glibc if glibc is not None else host_glibc()
    if plat.arch != machine:
        return f"it is for {plat.arch} ({tag}) but this host is {machine}"
    if plat.family == "musllinux":
        return f"it is for musl libc ({tag}); this host runs glibc"
    if plat.libc is None:
        return ""
    if glibc is None:
        return f"it needs glibc {plat.libc_text} ({tag}) and this host has no glibc"
    if glibc < plat.libc:
        return f"it needs glibc {plat.libc_text} ({tag}) but this host has {glibc[0]}.{glibc[1]}"
    return ""


def check_host(
    tag: str, *, machine: str | None = None, glibc: tuple[int, int] | None = None
) -> None:
    """Refuse (MetadataError) a platform tag that this host cannot run."""
    why = host_refusal(tag, machine=machine, glibc=glibc)
    if why:
        raise MetadataError(
            f"the base cannot run here: {why}; install it on a host that fits, or build the "
            "base for this one (make base PLATFORM=...)"
        )

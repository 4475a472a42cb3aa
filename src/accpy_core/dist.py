"""A built base in a dist directory: the one finder of it, for the tools that take what
``make base`` wrote (the interactive release's build, the images).

``make base`` writes, named after one stem (``acc-py-base-<version>-<platform>``): the
``.tar.gz`` and ``.tar.zst``, each with its ``.sha256``, the ``-installer.sh`` with its
``.sha256``, and the ``.cdx.json`` SBOM (:mod:`accpy_core.names`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import SourceError, UsageError
from .names import (
    checksum_name,
    installer_name,
    sbom_file_name,
    stem_of,
    tarball_name,
    tarball_stem,
)


@dataclass(frozen=True)
class BuiltBase:
    """The artifacts of one base built into ``dist_dir``."""

    dist_dir: Path
    stem: str  # acc-py-base-2023.06-manylinux_2_28_x86_64

    @property
    def tarball(self) -> Path:
        return self.dist_dir / tarball_name(self.stem)

    @property
    def installer(self) -> Path:
        return self.dist_dir / installer_name(self.stem)

    @property
    def sbom(self) -> Path:
        return self.dist_dir / sbom_file_name(self.stem)

    def checksum(self, path: Path) -> Path:
        """The ``.sha256`` beside ``path``."""
        return path.with_name(checksum_name(path.name))

    def require(self, *paths: Path) -> None:
        """SourceError naming the first of ``paths`` that is missing."""
        for p in paths:
            if not p.is_file():
                raise SourceError(
                    f"{p} is missing beside {self.tarball.name}; rebuild the base with make base"
                )


def find_built_base(dist_dir: Path, version: str, platform: str | None = None) -> BuiltBase | None:
    """The base ``version`` (of ``platform``, when given) built into ``dist_dir``, found by its
    ``.tar.gz``; None when there is none, UsageError when there are several."""
    found = sorted(dist_dir.glob(tarball_name(tarball_stem(version, platform or "*"))))
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UsageError(
            f"{dist_dir} holds several builds of base {version} ({names}); remove all but one, "
            "or name its platform (PLATFORM=, where the command takes it)"
        )
    if not found:
        return None
    return BuiltBase(dist_dir, stem_of(found[0].name))


def missing_base(dist_dir: Path, version: str, platform: str | None = None) -> SourceError:
    """The error for a base that :func:`find_built_base` did not find."""
    pattern = tarball_name(tarball_stem(version, platform or "*"))
    return SourceError(
        f"no {version} base in {dist_dir}/ ({pattern}); build it first: make base VERSION={version}"
    )

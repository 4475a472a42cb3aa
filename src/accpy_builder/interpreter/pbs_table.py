"""Cross-check manifest pins against pbs-installer's table of python-build-standalone assets.

The table (URL and sha256 of every PBS release asset) has gaps (3.7.9's full archive has no
sha256 there), so the manifest's pins win; this only tells the release engineer when the two
disagree, which is worth a look before a release.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal
from urllib.parse import unquote

from accpy_manifest import PbsAsset

Verdict = Literal["agrees", "differs", "no-sha256", "unknown"]


@dataclass(frozen=True)
class TableCheck:
    verdict: Verdict
    table_sha256: str | None


@cache
def _table() -> dict[tuple[str, str], str | None]:
    """(tag, asset file name) -> sha256 (or None where the table has none)."""
    from pbs_installer._versions import get_python_versions  # the package's own table

    out: dict[tuple[str, str], str | None] = {}
    for files in get_python_versions().values():
        for url, sha256 in files.values():
            *_, tag, name = unquote(url).split("/")
            out[(tag, name)] = sha256
    return out


def check_asset(asset: PbsAsset) -> TableCheck:
    key = (asset.tag, asset.asset)
    if key not in _table():
        return TableCheck("unknown", None)
    known = _table()[key]
    if known is None:
        return TableCheck("no-sha256", None)
    return TableCheck("agrees" if known == asset.sha256 else "differs", known)

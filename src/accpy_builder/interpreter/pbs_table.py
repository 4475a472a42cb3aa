"""Cross-check manifest pins against pbs-installer's table of python-build-standalone assets.

The table (URL and sha256 of every PBS release asset) has gaps (3.7.9's full archive has no
sha256 there), so the manifest's pins win; this only tells the release engineer when the two
disagree, which is worth a look before a release. The table's public API gives the asset of a
CPython version (the newest build of it); a pin of an older build of that version is "unknown".
"""

from __future__ import annotations

import re
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


_VERSION = re.compile(r"^cpython-(\d+\.\d+\.\d+)[+-]")


@cache
def _table_file(version: str, install_only: bool) -> tuple[str, str, str | None] | None:
    """(tag, asset file name, sha256 or None) of the asset pbs-installer's table gives for
    CPython ``version`` on x86_64 Linux, through its public ``get_download_link``; None when it
    has none."""
    from pbs_installer import get_download_link

    try:
        _, (url, sha256) = get_download_link(
            version, arch="x86_64", platform="linux", build_dir=not install_only
        )
    except ValueError:
        return None
    *_, tag, name = unquote(url).split("/")
    return tag, name, sha256


def check_asset(asset: PbsAsset) -> TableCheck:
    m = _VERSION.match(asset.asset)
    found = m and _table_file(m.group(1), "install_only" in asset.asset)
    if not found or found[:2] != (asset.tag, asset.asset):
        return TableCheck("unknown", None)
    known = found[2]
    if known is None:
        return TableCheck("no-sha256", None)
    return TableCheck("agrees" if known == asset.sha256 else "differs", known)

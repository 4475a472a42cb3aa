"""versions.yaml's PBS pins against pbs-installer's table (it ships in the wheel: offline)."""

from __future__ import annotations

from conftest import PROJECT

from accpy_builder.interpreter.pbs_table import check_asset
from accpy_manifest import PbsAsset, load_manifest


def test_every_pin_agrees_with_the_table_or_fills_a_gap() -> None:
    manifest = load_manifest(PROJECT / "versions.yaml")
    verdicts = {b.version: check_asset(b.interpreter).verdict for b in manifest.bases}
    assert verdicts["2023.06"] == "agrees"
    assert verdicts["2020.11"] == "no-sha256"  # the table's known gap: 3.7.9's full archive
    assert "differs" not in verdicts.values() and "unknown" not in verdicts.values()


def test_a_wrong_pin_is_reported_with_the_table_value() -> None:
    good = load_manifest(PROJECT / "versions.yaml").bases[2].interpreter
    bad = PbsAsset(good.tag, good.asset, "f" * 64)
    check = check_asset(bad)
    assert check.verdict == "differs" and check.table_sha256 == good.sha256
    assert check_asset(PbsAsset("20990101", "cpython-9.9.9.tar.gz", "0" * 64)).verdict == "unknown"

"""``acc-py-build manifest``: validate versions.yaml and list its bases."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from accpy_manifest import load_manifest

from ..interpreter.pbs_table import check_asset

HELP = "validate versions.yaml and list the bases it declares"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", type=Path, default=Path("versions.yaml"))
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def execute(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    rows: list[dict[str, Any]] = [
        {
            "version": b.version,
            "patch": b.patch,
            "python": b.python,
            "platform": b.platform,
            "status": b.status,
            "end_of_life": b.end_of_life.isoformat() if b.end_of_life else None,
            "packages": {p.name: p.version for p in b.packages},
            "interpreter": b.interpreter.asset,
            "pbs_installer_table": check_asset(b.interpreter).verdict,
        }
        for b in manifest.bases
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{args.manifest}: {len(rows)} bases, index {manifest.site.index_url}")
    for row in rows:
        pins = ", ".join(f"{k} {v}" for k, v in row["packages"].items())
        eol = f" (end of life {row['end_of_life']})" if row["end_of_life"] else ""
        print(f"  {row['version']}.{row['patch']}  Python {row['python']}  {row['status']}{eol}")
        print(f"      {row['platform']}; {pins}")
        print(f"      {row['interpreter']} (pbs-installer's table: {row['pbs_installer_table']})")
    differs = [r["version"] for r in rows if r["pbs_installer_table"] == "differs"]
    if differs:
        print(
            f"warning: the pinned sha256 of {', '.join(differs)} differs from pbs-installer's "
            "table; check the asset before releasing",
            file=sys.stderr,
        )
    return 0

"""list [--json]: versions, patch releases, status, which is pro, disk use."""

from __future__ import annotations

import argparse
import json
from typing import Any

from accpy_core.errors import AccPyError
from accpy_core.fs import disk_usage
from accpy_core.layout import Layout
from accpy_core.metadata import Metadata, read_metadata

from .common import add_root, layout_of

HELP = "list the installed versions and patch releases (--json for scripts)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    add_root(parser)
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def inventory(layout: Layout) -> dict[str, Any]:
    """What is installed, as ``list --json`` prints it."""
    pro = layout.pro()
    versions: list[dict[str, Any]] = []
    for version in layout.versions():
        current = layout.current(version)
        trees = []
        for tree in layout.trees(version):
            try:
                meta: Metadata | None = read_metadata(tree.path)
            except AccPyError:
                meta = None
            trees.append(
                {
                    "release": tree.release,
                    "patch": tree.patch,
                    "path": str(tree.path),
                    "current": tree == current,
                    "status": meta.status if meta else None,
                    "end_of_life": meta.end_of_life if meta else None,
                    "python": meta.python if meta else None,
                    "platform": meta.platform if meta else None,
                    "disk_bytes": disk_usage(tree.path),
                }
            )
        cur = next((t for t in trees if t["current"]), None)
        versions.append(
            {
                "version": version,
                "pro": version == pro,
                "current": cur["release"] if cur else None,
                "patch": cur["patch"] if cur else None,
                "status": cur["status"] if cur else None,
                "end_of_life": cur["end_of_life"] if cur else None,
                "python": cur["python"] if cur else None,
                "platform": cur["platform"] if cur else None,
                "disk_bytes": sum(t["disk_bytes"] for t in trees),
                "trees": trees,
            }
        )
    return {"root": str(layout.root), "kind": layout.kind, "pro": pro, "versions": versions}


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def execute(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    data = inventory(layout)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if not data["versions"]:
        print(f"no {layout.what} installed under {layout.area}")
        return 0
    rows = [("VERSION", "PATCH", "STATUS", "PYTHON", "PRO", "DISK", "OTHER PATCHES")]
    for v in data["versions"]:
        others = [str(t["patch"]) for t in v["trees"] if not t["current"]]
        status = v["status"] or "?"
        if v["end_of_life"]:
            status += f" (eol {v['end_of_life']})"
        rows.append(
            (
                v["version"],
                str(v["patch"]) if v["patch"] is not None else "BROKEN",
                status,
                v["python"] or "?",
                "pro" if v["pro"] else "",
                _mib(v["disk_bytes"]),
                ",".join(others),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0

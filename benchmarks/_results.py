"""What every benchmark shares: medians, ratios, the clock, and the results file it writes.

Each benchmark ends with :meth:`Results.write`: ``benchmarks/results/<benchmark>.json``, dated
and naming the machine, with its tables (our figure and its anchor side by side, medians, the
ratio) and summary lines. ``docs/generate.py`` makes docs/developers/benchmarks.md from those
files; nobody types a figure. The tables are printed as they are added, so the console shows
what the file holds.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def median(xs: Iterable[float]) -> float:
    return float(statistics.median(xs))


def ratio(ours: float, anchor: float) -> float:
    """``ours / anchor``: below 1, ours is faster (or smaller)."""
    return ours / anchor if anchor else float("inf")


def clock(fn: Callable[..., object], *args: Any, sync: bool = False, **kwargs: Any) -> float:
    """Seconds that ``fn(*args, **kwargs)`` takes; ``sync``: an untimed ``sync`` first, so that
    what the previous run left to write back does not land in this one."""
    if sync:
        os.sync()
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def runs(xs: Iterable[float], digits: int = 2, scale: float = 1.0) -> str:
    """The single runs, in the order they ran: ``1.20, 1.31, 1.18``."""
    return ", ".join(f"{x * scale:.{digits}f}" for x in xs)


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def machine() -> dict[str, object]:
    """The host name, the CPU model (/proc/cpuinfo) and the number of CPUs."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"host": platform.node(), "cpu": cpu or platform.processor(), "cores": os.cpu_count()}


def add_results_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        metavar="DIR",
        help="where to write <benchmark>.json (default benchmarks/results)",
    )


def _text(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            for r in [columns, *rows]]  # fmt: skip


class Results:
    """One benchmark's figures, as ``docs/generate.py`` renders them."""

    def __init__(self, benchmark: str, title: str, what: str | None) -> None:
        self.benchmark = benchmark
        self.title = title
        self.what = inspect.cleandoc(what or "")
        self.tables: list[dict[str, object]] = []
        self.lines: list[str] = []
        self.figures: dict[str, object] = {}

    def table(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        cells = [[str(v) for v in row] for row in rows]
        cols = [str(c) for c in columns]
        for row in cells:
            if len(row) != len(cols):
                raise ValueError(f"{title}: row {row} does not have the {len(cols)} columns")
        self.tables.append({"title": title, "columns": cols, "rows": cells})
        print(f"\n{title}:" if title else "")
        for line in _text(cols, cells):
            print(f"  {line}")

    def compare(
        self,
        title: str,
        ours: tuple[str, Sequence[float]],
        anchor: tuple[str, Sequence[float]],
        *,
        unit: str = "s",
        digits: int = 2,
        scale: float = 1.0,
        goal: float | None = None,
    ) -> float:
        """A table of our figure and its anchor (the median and the single runs of each) and
        their ratio, against ``goal`` (at most); the ratio of the medians is returned."""
        rows = []
        for label, xs in (ours, anchor):
            rows.append([label, f"{median(xs) * scale:.{digits}f} {unit}", runs(xs, digits, scale)])
        r = ratio(median(ours[1]), median(anchor[1]))
        rows.append(
            [
                "ratio",
                f"{r:.2f}x",
                "" if goal is None else f"goal <= {goal:g}x: {verdict(r <= goal)}",
            ]
        )
        self.table(title, ["", "median", "runs"], rows)
        self.figures[title] = {
            ours[0]: list(ours[1]), anchor[0]: list(anchor[1]), "ratio": r, "goal": goal,
        }  # fmt: skip
        return r

    def summary(self, line: str) -> None:
        self.lines.append(line)
        print(line)

    def data(self) -> dict[str, object]:
        return {
            "benchmark": self.benchmark,
            "title": self.title,
            "what": self.what,
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
            "tables": self.tables,
            "summary": self.lines,
            "figures": self.figures,
        }

    def write(self, directory: Path = RESULTS) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.benchmark}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.data(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        print(f"wrote {path}")
        return path

"""The report: invocations and distinct users/hosts per base version, Python, day, venv and
interactive release, and the hosts still running a deprecated base; as text, CSV or JSON, and a
PNG plot.

Whether a base is deprecated comes from ``--manifest versions.yaml`` when given (the current
truth: a base is often deprecated long after it was built), else from the status the base's
newest record carries (baked into the hook at build time).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accpy_core.errors import AccPyError, ConfigError
from accpy_core.versions import DEPRECATED

from .store import Store

NO_VENV = "(no venv)"
NOT_INTERACTIVE = "(not interactive)"
#: (table name, group-by expression, title, the key of the rows without one)
GROUPS = (
    ("by_version", "base", "base version", ""),
    ("by_python", "python", "Python", ""),
    ("by_day", "day", "day (UTC)", ""),
    ("by_venv", "COALESCE(venv, '')", "venv", NO_VENV),
    ("by_interactive", "COALESCE(interactive, '')", "interactive release", NOT_INTERACTIVE),
)


@dataclass(frozen=True)
class Filters:
    since: dt.date | None = None  # inclusive, UTC days
    until: dt.date | None = None  # inclusive
    version: str | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.since:
            clauses.append("day >= ?")
            params.append(self.since.isoformat())
        if self.until:
            clauses.append("day <= ?")
            params.append(self.until.isoformat())
        if self.version:
            clauses.append("base = ?")
            params.append(self.version)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def parse_day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"{option} {value!r}: write a date as YYYY-MM-DD") from exc


def manifest_statuses(path: Path) -> dict[str, tuple[str, str | None]]:
    """base version -> (status, end of life) from versions.yaml."""
    from accpy_manifest import load_manifest

    try:
        manifest = load_manifest(path)
    except AccPyError as exc:
        raise ConfigError(f"--manifest: {exc}") from exc
    return {
        b.version: (b.status, b.end_of_life.isoformat() if b.end_of_life else None)
        for b in manifest.bases
    }


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def build(
    store: Store, filters: Filters, statuses: dict[str, tuple[str, str | None]] | None = None
) -> dict[str, Any]:
    """Every table of the report, as JSON-ready data."""
    where, params = filters.where()
    report: dict[str, Any] = {
        "filters": {
            "since": filters.since.isoformat() if filters.since else None,
            "until": filters.until.isoformat() if filters.until else None,
            "version": filters.version,
        }
    }
    (total,) = store.query(
        "SELECT COUNT(*), COUNT(DISTINCT user_name), COUNT(DISTINCT host) FROM invocations" + where,
        params,
    )
    report["total"] = {"invocations": total[0], "users": total[1], "hosts": total[2]}
    for name, expr, _title, empty in GROUPS:
        rows = store.query(
            f"SELECT {expr}, COUNT(*), COUNT(DISTINCT user_name), COUNT(DISTINCT host), "
            f"MAX(time) FROM invocations{where} GROUP BY {expr} ORDER BY {expr}",
            params,
        )
        report[name] = [
            {
                "key": key or empty,
                "invocations": n,
                "users": users,
                "hosts": hosts,
                "last_seen": _when(last),
            }
            for key, n, users, hosts, last in rows
        ]
    if statuses is None:  # the status each base's newest record carries
        statuses = {}
        rows = store.query(
            f"SELECT base, status, eol, MAX(time) FROM invocations{where} "
            "GROUP BY base, status, eol ORDER BY MAX(time)",
            params,
        )
        for base, status, eol, _last in rows:
            statuses[base] = (status, eol)
    deprecated = sorted(b for b, (status, _eol) in statuses.items() if status == DEPRECATED)
    hosts: list[dict[str, Any]] = []
    if deprecated:
        marks = ", ".join("?" * len(deprecated))
        extra = (" AND " if where else " WHERE ") + f"base IN ({marks})"
        rows = store.query(
            f"SELECT host, base, COUNT(*), COUNT(DISTINCT user_name), MAX(time) "
            f"FROM invocations{where}{extra} GROUP BY host, base ORDER BY host, base",
            [*params, *deprecated],
        )
        hosts = [
            {
                "host": host,
                "base": base,
                "end_of_life": statuses[base][1],
                "invocations": n,
                "users": users,
                "last_seen": _when(last),
            }
            for host, base, n, users, last in rows
        ]
    report["deprecated_hosts"] = hosts
    per_day = store.query(
        f"SELECT day, base, COUNT(*) FROM invocations{where} GROUP BY day, base ORDER BY day, base",
        params,
    )
    report["by_day_and_version"] = [{"day": d, "base": b, "invocations": n} for d, b, n in per_day]
    return report


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        pairs = zip(row, widths, strict=True)
        cells = [c.rjust(w) if c.isdigit() else c.ljust(w) for c, w in pairs]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def as_text(report: dict[str, Any]) -> str:
    t = report["total"]
    f = report["filters"]
    scope = ", ".join(f"{k} {v}" for k, v in f.items() if v) or "all records"
    out = [f"Acc-Py usage ({scope}): {t['invocations']} invocations, {t['users']} users, "
           f"{t['hosts']} hosts"]  # fmt: skip
    for name, _expr, title, _empty in GROUPS:
        rows = [
            [r["key"], str(r["invocations"]), str(r["users"]), str(r["hosts"]), r["last_seen"]]
            for r in report[name]
        ]
        out += ["", _table([title, "invocations", "users", "hosts", "last seen"], rows)]
    dep = report["deprecated_hosts"]
    out += ["", "hosts still running a deprecated base:"]
    if dep:
        rows = [
            [r["host"], r["base"], r["end_of_life"] or "-", str(r["invocations"]),
             str(r["users"]), r["last_seen"]]
            for r in dep
        ]  # fmt: skip
        headers = ["host", "base", "end of life", "invocations", "users", "last seen"]
        out.append(_table(headers, rows))
    else:
        out.append("(none)")
    return "\n".join(out) + "\n"


CSV_COLUMNS = ["table", "key", "base", "invocations", "users", "hosts", "last_seen"]


def as_csv(report: dict[str, Any]) -> str:
    """One long table: ``table`` names the section (by_version, ..., deprecated_hosts)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for name, _expr, _title, _empty in GROUPS:
        for row in report[name]:
            writer.writerow({"table": name, "base": "", **row})
    for row in report["deprecated_hosts"]:
        writer.writerow({"table": "deprecated_hosts", "key": row["host"], "hosts": 1, **row})
    return buf.getvalue()


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    """Invocations per base version over time (one line per base, per UTC day)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    counts: dict[str, dict[dt.date, int]] = {}
    for row in report["by_day_and_version"]:
        counts.setdefault(row["base"], {})[dt.date.fromisoformat(row["day"])] = row["invocations"]
    every = sorted({d for per_base in counts.values() for d in per_base})
    days = (
        [every[0] + dt.timedelta(n) for n in range((every[-1] - every[0]).days + 1)]
        if every
        else []
    )
    fig, ax = plt.subplots(figsize=(10, 5), dpi=100)
    for base in sorted(counts):  # a day without records is a 0, not a gap to draw across
        values = [counts[base].get(d, 0) for d in days]
        ax.plot(days, values, marker="o", markersize=4, label=base)  # type: ignore[arg-type]
    step = max(1, len(days) // 12)
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=step))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_title("Acc-Py invocations per base version")
    ax.set_xlabel("day (UTC)")
    ax.set_ylabel("invocations per day")
    ax.grid(True, alpha=0.3)
    if counts:
        ax.legend(title="base")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

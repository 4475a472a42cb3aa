"""acc-py-usage: record checks, the collector in-process on loopback, and the report's figures
on a known data set (text, CSV, JSON, plot)."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
from pathlib import Path

import pytest
from conftest import PROJECT

from accpy_core.errors import ConfigError, StoreError
from accpy_usage import report
from accpy_usage.cli import main
from accpy_usage.record import COLUMNS, FORMAT, MAX_DATAGRAM, Rejected, parse
from accpy_usage.server import Collector, bind
from accpy_usage.store import LATEST, SCHEMA, SqliteStore, open_store

DAY = 86400.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def rec(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1, "time": T0, "user": "alice", "uid": 1000, "host": "pc1", "pid": 42,
        "base": "2023.06", "patch": 1, "status": "pro", "eol": "", "python": "3.11.4",
        "exe": "/acc/base/2023.06/bin/python3", "venv": None, "kind": "script",
        "target": "/home/alice/job.py",
    }  # fmt: skip
    base.update(kw)
    return base


def dgram(**kw: object) -> bytes:
    return json.dumps(rec(**kw)).encode("ascii")


def test_parse_good_record() -> None:
    r = parse(dgram(user=None, uid=7, eol="2024-12-31", status="deprecated"), "10.0.0.1")
    assert r.user_name == "uid:7"
    assert r.day == "2023-11-14"
    assert r.eol == "2024-12-31"
    assert r.peer == "10.0.0.1"
    assert parse(dgram(target="/x/\udcff.py")).target == "/x/\\udcff.py"
    # format 1.0 (the hooks of the bases built before 1.1): no v_minor, no interactive release
    assert (r.format, r.interactive, r.interactive_patch, r.extra) == ("1.0", None, None, None)
    r = parse(dgram(v_minor=1, interactive="2025.03", interactive_patch=2))
    assert (r.format, r.interactive, r.interactive_patch, r.extra) == ("1.1", "2025.03", 2, None)


def test_a_newer_minor_version_is_kept_with_its_unknown_fields(tmp_path: Path) -> None:
    newer = FORMAT[1] + 1
    data = dgram(v_minor=newer, gpu={"name": "A100", "count": 2}, site="\udcff\u0000x",
                 interactive="2025.03")  # fmt: skip
    r = parse(data)
    assert r.format == f"1.{newer}" and r.interactive == "2025.03"
    assert r.extra is not None and r.extra.isascii()
    assert json.loads(r.extra) == {"gpu": {"name": "A100", "count": 2}, "site": "\udcff\u0000x"}
    store = SqliteStore(tmp_path / "u.db")
    store.insert([r])
    ((extra, fmt),) = store.query("SELECT extra, format FROM invocations")
    assert (json.loads(extra)["gpu"]["count"], fmt) == (2, f"1.{newer}")
    store.close()


def test_every_column_belongs_to_a_schema_version() -> None:
    """A field added to the record is a new schema version (its migration), appended: a store
    made new and one migrated have the same columns in the same order."""
    assert tuple(c for version in sorted(SCHEMA) for c in SCHEMA[version]) == COLUMNS
    assert sorted(SCHEMA) == list(range(1, LATEST + 1))


OLD_SCHEMA = PROJECT / "tests" / "data" / "usage-schema-1.sql"


def test_an_old_store_is_migrated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A store made by the collector before versions (schema 1, one row of format 1.0), then
    opened by this one: the new columns are added, the old row kept, new records stored."""
    import logging
    import sqlite3

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(OLD_SCHEMA.read_text())
    conn.close()
    caplog.set_level(logging.INFO)
    store = SqliteStore(db)
    assert "from schema version 1 to 2" in caplog.text
    columns = [row[1] for row in store.query("PRAGMA table_info(invocations)")]
    assert tuple(columns) == COLUMNS
    assert store.query("SELECT version FROM schema_version") == [(LATEST,)]
    store.insert([parse(dgram(v_minor=1, interactive="2025.03", interactive_patch=1))])
    old, new = store.query(
        "SELECT user_name, format, interactive, interactive_patch FROM invocations ORDER BY time"
    )
    assert old == ("olduser", None, None, None)
    assert new == ("alice", "1.1", "2025.03", 1)
    data = report.build(store, report.Filters())
    assert {r["key"]: r["invocations"] for r in data["by_interactive"]} == {
        "2025.03": 1, report.NOT_INTERACTIVE: 1,
    }  # fmt: skip
    store.close()
    caplog.clear()
    again = open_store(str(db), create=False)  # migrated once: nothing to do now
    assert "migrating" not in caplog.text
    assert again.query("SELECT COUNT(*) FROM invocations") == [(2,)]
    again.close()


def test_a_newer_store_is_used_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "u.db"
    SqliteStore(db).close()
    store = SqliteStore(db)
    store.query("UPDATE schema_version SET version = ?", (LATEST + 1,))
    store.close()
    store = SqliteStore(db)
    assert f"schema version {LATEST + 1}, newer than" in caplog.text
    store.insert([parse(dgram())])
    assert store.query("SELECT COUNT(*) FROM invocations") == [(1,)]
    store.close()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"x" * (MAX_DATAGRAM + 1), "oversized"),
        (b"not json", "malformed"),
        (b"\xff\xfe", "malformed"),
        (b"[1, 2]", "malformed"),
        (b"[" * 4000 + b"]" * 4000, "malformed"),
        (dgram(v=2), "newer-major"),
        (dgram(v="1"), "bad-v"),
        (dgram(v=0), "bad-v"),
        (dgram(v=None), "bad-v"),
        (dgram(v_minor=-1), "bad-v"),
        (dgram(v_minor=1.5), "bad-v"),
        (dgram(interactive="pro"), "bad-interactive"),
        (dgram(interactive_patch="1"), "bad-interactive_patch"),
        (dgram(time="now"), "bad-time"),
        (dgram(time=True), "bad-time"),
        (dgram(time=-1), "bad-time"),
        (b'{"v":1,"time":NaN}', "bad-time"),
        (dgram(uid=-1), "bad-uid"),
        (dgram(pid="1"), "bad-pid"),
        (dgram(base="'; DROP TABLE invocations; --"), "bad-base"),
        (dgram(python="3"), "bad-python"),
        (dgram(status="gone"), "bad-status"),
        (dgram(kind="argv"), "bad-kind"),
        (dgram(eol="soon"), "bad-eol"),
        (dgram(host="h" * 9000), "oversized"),
        (dgram(host="h" * 2000), "bad-host"),
        (dgram(exe=["a"]), "bad-exe"),
        (dgram(target="a\0b"), "bad-target"),
    ],
)
def test_parse_rejects(data: bytes, reason: str) -> None:
    with pytest.raises(Rejected) as info:
        parse(data)
    assert info.value.reason == reason


def known_data(db: Path) -> None:
    """12 invocations over 3 days, 3 bases, 2 Pythons, 3 users, 4 hosts, 2 venvs."""
    rows = [
        # day 0
        rec(time=T0 + 1, user="alice", host="pc1"),
        rec(time=T0 + 2, user="alice", host="pc1", venv="/home/alice/venv"),
        rec(time=T0 + 3, user="bob", host="pc2", venv="/home/alice/venv"),
        rec(time=T0 + 4, base="2020.11", python="3.7.9", status="deprecated",
            eol="2024-12-31", user="carol", host="old1"),
        # day 1
        rec(time=T0 + DAY + 1, user="bob", host="pc2"),
        rec(time=T0 + DAY + 2, base="2020.11", python="3.7.9", status="deprecated",
            eol="2024-12-31", user="carol", host="old1"),
        rec(time=T0 + DAY + 3, base="2020.11", python="3.7.9", status="deprecated",
            eol="2024-12-31", user="alice", host="old2"),
        rec(time=T0 + DAY + 4, base="2024.12", python="3.13.0", user="alice", host="pc1",
            venv="/opt/app/venv"),
        # day 2
        rec(time=T0 + 2 * DAY + 1, user="alice", host="pc1"),
        rec(time=T0 + 2 * DAY + 2, user=None, uid=0, host="pc1"),
        rec(time=T0 + 2 * DAY + 3, base="2024.12", python="3.13.0", user="bob", host="pc2",
            venv="/opt/app/venv"),
        rec(time=T0 + 2 * DAY + 4, base="2024.12", python="3.13.0", user="bob", host="pc2"),
    ]  # fmt: skip
    store = SqliteStore(db)
    store.insert([parse(json.dumps(r).encode()) for r in rows])
    store.close()


def test_report_figures(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    known_data(db)
    store = open_store(str(db), create=False)
    data = report.build(store, report.Filters())
    assert data["total"] == {"invocations": 12, "users": 4, "hosts": 4}  # uid:0 is a 4th user

    def table(name: str) -> dict[str, tuple[int, int, int]]:
        return {r["key"]: (r["invocations"], r["users"], r["hosts"]) for r in data[name]}

    assert table("by_version") == {
        "2020.11": (3, 2, 2), "2023.06": (6, 3, 2), "2024.12": (3, 2, 2),
    }  # fmt: skip
    assert table("by_python") == {"3.7.9": (3, 2, 2), "3.11.4": (6, 3, 2), "3.13.0": (3, 2, 2)}
    assert table("by_day") == {
        "2023-11-14": (4, 3, 3), "2023-11-15": (4, 3, 4), "2023-11-16": (4, 3, 2),
    }  # fmt: skip
    assert table("by_venv") == {
        report.NO_VENV: (8, 4, 4), "/home/alice/venv": (2, 2, 2), "/opt/app/venv": (2, 2, 2),
    }  # fmt: skip
    dep = [
        (r["host"], r["base"], r["end_of_life"], r["invocations"]) for r in data["deprecated_hosts"]
    ]
    assert dep == [("old1", "2020.11", "2024-12-31", 2), ("old2", "2020.11", "2024-12-31", 1)]

    # filters: --since/--until are inclusive UTC days; --version one base
    since = report.Filters(since=report.parse_day("2023-11-15", "--since"))
    assert report.build(store, since)["total"]["invocations"] == 8
    window = report.Filters(
        since=report.parse_day("2023-11-15", "--since"),
        until=report.parse_day("2023-11-15", "--until"),
        version="2020.11",
    )
    sub = report.build(store, window)
    assert sub["total"] == {"invocations": 2, "users": 2, "hosts": 2}
    assert [r["host"] for r in sub["deprecated_hosts"]] == ["old1", "old2"]

    # the manifest's current statuses win over the records': 2023.06 deprecated since
    statuses = {"2023.06": ("deprecated", "2026-06-30"), "2020.11": ("deprecated", None)}
    hosts = {(r["host"], r["base"]) for r in report.build(store, report.Filters(), statuses)[
        "deprecated_hosts"]}  # fmt: skip
    assert hosts == {
        ("pc1", "2023.06"),
        ("pc2", "2023.06"),
        ("old1", "2020.11"),
        ("old2", "2020.11"),
    }
    store.close()


def test_report_cli_formats_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "u.db"
    known_data(db)
    png = tmp_path / "usage.png"
    assert main(["report", "--db", str(db), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "12 invocations, 4 users, 4 hosts" in text
    assert "old1" in text and "2024-12-31" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000

    assert main(["report", "--db", str(db), "--format", "csv", "--version", "2020.11"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    by_version = [r for r in rows if r["table"] == "by_version"]
    assert [(r["key"], r["invocations"], r["users"]) for r in by_version] == [("2020.11", "3", "2")]
    assert {r["key"] for r in rows if r["table"] == "deprecated_hosts"} == {"old1", "old2"}

    assert main(["report", "--db", str(db), "--format", "json", "--since", "2023-11-16"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["invocations"] == 4
    assert data["deprecated_hosts"] == []


def test_report_manifest_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "u.db"
    known_data(db)
    args = [
        "report",
        "--db",
        str(db),
        "--format",
        "json",
        "--manifest",
        str(PROJECT / "versions.yaml"),
    ]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    # versions.yaml: 2020.11 deprecated (end of life 2024-12-31), 2023.06 pro, 2024.12 supported
    assert {r["host"] for r in data["deprecated_hosts"]} == {"old1", "old2"}
    assert main(["report", "--db", str(tmp_path / "missing.db")]) == StoreError.exit_code
    assert main(["report", "--db", str(db), "--since", "yesterday"]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "no such database" in err and "YYYY-MM-DD" in err


def test_collector_in_process(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "u.db")
    collector = Collector(bind("127.0.0.1:0"), store, batch=100, interval=0.05)
    port = int(collector.address.rsplit(":", 1)[1])
    thread = threading.Thread(target=collector.serve)
    thread.start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(500):
        sender.sendto(dgram(pid=i), ("127.0.0.1", port))
        if i % 50 == 0:
            sender.sendto(b"\x00garbage", ("127.0.0.1", port))
    sender.sendto(b"{" * 60000, ("127.0.0.1", port))  # read truncated: oversized
    sender.sendto(dgram(v=2, pid=9999), ("127.0.0.1", port))  # a newer major: refused, counted
    sender.sendto(dgram(v_minor=9, pid=500, new="x"), ("127.0.0.1", port))  # newer minor: kept
    assert collector.wait_stored(513, timeout=30), collector.stats.line()
    collector.stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    stats = collector.stats
    assert stats.stored == 501
    assert stats.rejected == {"malformed": 10, "oversized": 1, "newer-major": 1}
    assert "newer-major 1" in stats.line()
    check = SqliteStore(tmp_path / "u.db", create=False)
    assert check.query("SELECT COUNT(DISTINCT pid) FROM invocations") == [(501,)]
    assert check.query("SELECT format, extra FROM invocations WHERE pid = 500") == [
        ("1.9", '{"new": "x"}')
    ]
    assert check.query("PRAGMA journal_mode") == [("wal",)]
    check.close()
    store.close()


def test_serve_help_and_bad_listen(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    assert "--listen" in capsys.readouterr().out
    assert (
        main(["serve", "--listen", "nope", "--db", str(tmp_path / "u.db")]) == ConfigError.exit_code
    )
    assert "HOST:PORT" in capsys.readouterr().err


def test_prune_keeps_the_last_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The retention: ``prune --keep-days N`` drops the records of the days before the last N
    (today included), and only those."""
    import time

    db = tmp_path / "u.db"
    now = time.time()
    store = SqliteStore(db)
    store.insert([parse(dgram(time=now - d * DAY)) for d in (0, 1, 2, 10, 400)])
    store.close()
    assert main(["prune", "--db", str(db), "--keep-days", "3"]) == 0
    store = open_store(str(db), create=False)
    days = sorted(r[0] for r in store.query("SELECT day FROM invocations"))
    store.close()
    assert len(days) == 3
    assert main(["prune", "--db", str(db), "--keep-days", "0"]) == 2
    assert "keep at least 1 day" in capsys.readouterr().err
    assert main(["prune", "--db", str(tmp_path / "none.db"), "--keep-days", "1"]) == 18

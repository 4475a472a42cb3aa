"""The usage collector's systemd units (collector/systemd/) run as written: the service's
ExecStart receives and stores, stops cleanly on its KillSignal, and the prune pair keeps the
retention. (No systemd here: the commands of the units are run as systemd would run them, with
the paths of this test in place of /opt/acc-py-usage and /var/lib/acc-py-usage.)"""

from __future__ import annotations

import configparser
import json
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import PROJECT
from servers import free_port

UNITS = PROJECT / "collector" / "systemd"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def command(name: str, state: Path, port: int) -> list[str]:
    line = unit(name)["Service"]["ExecStart"]
    line = line.replace("/opt/acc-py-usage/bin/", f"{Path(sys.executable).parent}/")
    line = line.replace("/var/lib/acc-py-usage", str(state))
    return shlex.split(line.replace("0.0.0.0:8514", f"127.0.0.1:{port}"))


def stored(db: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM invocations").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_the_service_stores_and_stops_on_its_signal(tmp_path: Path) -> None:
    service = unit("acc-py-usage.service")
    assert service["Service"]["StateDirectory"] == "acc-py-usage"
    assert service["Install"]["WantedBy"] == "multi-user.target"
    kill = getattr(signal, service["Service"]["KillSignal"])
    port = free_port()
    proc = subprocess.Popen(command("acc-py-usage.service", tmp_path, port),
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    record = {
        "v": 1, "v_minor": 1, "time": time.time(), "user": "alice", "uid": 1000, "host": "pc1",
        "pid": 42, "base": "2023.06", "patch": 1, "status": "pro", "eol": "",
        "python": "3.11.7", "exe": "/acc/base/2023.06/bin/python3", "venv": None,
        "kind": "script", "target": "/home/alice/job.py",
    }  # fmt: skip
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(600):  # until the collector listens and has stored one
                s.sendto(json.dumps(record).encode(), ("127.0.0.1", port))
                time.sleep(0.05)
                if stored(tmp_path / "usage.db"):
                    break
    finally:
        proc.send_signal(kill)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    prune = command("acc-py-usage-prune.service", tmp_path, port)
    assert "--keep-days" in prune
    report = subprocess.run(
        [str(Path(sys.executable).parent / "acc-py-usage"), "report", "--db",
         str(tmp_path / "usage.db"), "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert stored(tmp_path / "usage.db") >= 1 and report.stdout.startswith("{")
    done = subprocess.run(prune, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "dropped 0 records" in done.stderr  # today's are kept
    timer = unit("acc-py-usage-prune.timer")
    assert timer["Timer"]["OnCalendar"] == "daily"
    assert timer["Install"]["WantedBy"] == "timers.target"

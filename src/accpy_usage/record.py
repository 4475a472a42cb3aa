"""The usage record: what the hook in every base sends, and how a datagram is checked.

A datagram is one JSON object, ASCII, at most :data:`MAX_DATAGRAM` bytes::

    {"v": 1, "time": 1700000000.123, "user": "alice", "uid": 1000, "host": "pc1", "pid": 42,
     "base": "2023.06", "patch": 1, "status": "pro", "eol": "", "python": "3.11.4",
     "exe": "/acc/.../bin/python3", "venv": "/home/alice/venv" | null,
     "kind": "script" | "module" | "command" | "stdin" | "repl",
     "target": "/abs/x.py" | "pkg.mod" | null}

Anything else (not JSON, not an object, a missing or mistyped field, an unknown ``kind``, a
string longer than :data:`MAX_TEXT`) is rejected with a reason, counted and dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from functools import lru_cache
from typing import NamedTuple

from accpy_core.versions import is_status, is_version

MAX_DATAGRAM = 8192
MAX_TEXT = 1024
KINDS = frozenset({"script", "module", "command", "stdin", "repl"})
_PYTHON = re.compile(r"\d+\.\d+\.\d+")


class Rejected(ValueError):
    """A datagram that is not a valid record; ``reason`` is a short counter name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Record(NamedTuple):
    """One stored invocation; its fields, in order, are the table's columns."""

    time: float
    day: str  # UTC date of ``time``, YYYY-MM-DD (the report groups by it)
    user_name: str  # the USER, or "uid:<n>" when the environment had none
    uid: int
    host: str
    pid: int
    base: str
    patch: int
    status: str
    eol: str | None
    python: str
    exe: str
    venv: str | None
    kind: str
    target: str | None
    peer: str  # the sender's address as the collector saw it

    def row(self) -> tuple[object, ...]:
        return tuple(self)


#: the columns of the ``invocations`` table
COLUMNS: tuple[str, ...] = Record._fields


def _text(obj: dict[str, object], key: str, *, null: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and null:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\0" in value:
        raise Rejected(f"bad-{key}")
    if value.isascii():
        return value
    # lone surrogates (undecodable paths) cannot be stored as UTF-8: keep them visible
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _int(obj: dict[str, object], key: str, low: int, high: int) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Rejected(f"bad-{key}")
    return value


@lru_cache(maxsize=64)
def _day(days: int) -> str:
    """The UTC date of a day number since the epoch."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days)).isoformat()


def parse(data: bytes, peer: str = "") -> Record:
    """Check one datagram and return its record; raise :class:`Rejected` otherwise."""
    if len(data) > MAX_DATAGRAM:
        raise Rejected("oversized")
    try:
        obj = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Rejected("malformed") from exc
    if not isinstance(obj, dict):
        raise Rejected("malformed")
    if obj.get("v") != 1:
        raise Rejected("bad-v")
    when = obj.get("time")
    if not isinstance(when, (int, float)) or isinstance(when, bool) or not math.isfinite(when):
        raise Rejected("bad-time")
    if not 0 < when < 32503680000:  # year 3000
        raise Rejected("bad-time")
    user = _text(obj, "user", null=True)
    uid = _int(obj, "uid", 0, 2**32 - 1)
    base = _text(obj, "base")
    python = _text(obj, "python")
    status = _text(obj, "status")
    kind = _text(obj, "kind")
    eol = _text(obj, "eol", null=True) or None
    assert base is not None and python is not None and status is not None
    if not is_version(base):
        raise Rejected("bad-base")
    if not _PYTHON.fullmatch(python):
        raise Rejected("bad-python")
    if not is_status(status):
        raise Rejected("bad-status")
    if kind not in KINDS:
        raise Rejected("bad-kind")
    if eol is not None:
        try:
            dt.date.fromisoformat(eol)
        except ValueError as exc:
            raise Rejected("bad-eol") from exc
    return Record(
        time=float(when),
        day=_day(int(when // 86400)),
        user_name=user or f"uid:{uid}",
        uid=uid,
        host=_text(obj, "host") or "",
        pid=_int(obj, "pid", 0, 2**32 - 1),
        base=base,
        patch=_int(obj, "patch", 0, 10_000),
        status=status,
        eol=eol,
        python=python,
        exe=_text(obj, "exe") or "",
        venv=_text(obj, "venv", null=True),
        kind=kind,
        target=_text(obj, "target", null=True),
        peer=peer,
    )

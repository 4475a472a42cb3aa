"""The usage record: what the hook in every base sends, and how a datagram is checked.

A datagram is one JSON object, ASCII, at most :data:`MAX_DATAGRAM` bytes::

    {"v": 1, "v_minor": 1, "time": 1700000000.123, "user": "alice", "uid": 1000, "host": "pc1",
     "pid": 42, "base": "2023.06", "patch": 1, "status": "pro", "eol": "", "python": "3.11.4",
     "exe": "/acc/.../bin/python3", "venv": "/home/alice/venv" | null,
     "kind": "script" | "module" | "command" | "stdin" | "repl",
     "target": "/abs/x.py" | "pkg.mod" | null,
     "interactive": "2025.03" | null, "interactive_patch": 1 | null}

**The format is versioned** ``v``.``v_minor`` (:data:`FORMAT`): a new minor version only adds
fields, a new major one changes what fields mean. Every field, since which version:

- 1.0: ``v`` (the major version, an integer), ``time``, ``user``, ``uid``, ``host``, ``pid``,
  ``base``, ``patch``, ``status``, ``eol``, ``python``, ``exe``, ``venv``, ``kind``, ``target``;
- 1.1: ``v_minor`` (the minor version; absent: 0), ``interactive`` (the interactive release
  the start came from, or null) and ``interactive_patch`` (its patch release, or null).

The collector stores records of every minor version of its major one: of a newer minor, the
fields it does not know are kept, as one JSON object in the ``extra`` column. A record of a
newer major version is rejected and counted (``newer-major``), as is anything else that is not
a valid record (not JSON, not an object, a missing or mistyped field, an unknown ``kind``, a
string longer than :data:`MAX_TEXT`): counted by reason and dropped.
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
#: the record format this collector knows: (major, minor)
FORMAT = (1, 1)
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
    # since format 1.1 (and schema 2 of the store: store.SCHEMA)
    format: str  # "1.0", "1.1", ...: the record's v.v_minor
    interactive: str | None
    interactive_patch: int | None
    extra: str | None  # JSON: the fields of a newer minor version that this one does not know

    def row(self) -> tuple[object, ...]:
        return tuple(self)


#: the columns of the ``invocations`` table
COLUMNS: tuple[str, ...] = Record._fields
#: the fields of a datagram that the record format :data:`FORMAT` defines
KNOWN_FIELDS = frozenset(
    {"v", "v_minor", "time", "user", "uid", "host", "pid", "base", "patch", "status", "eol",
     "python", "exe", "venv", "kind", "target", "interactive", "interactive_patch"}
)  # fmt: skip


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


def _int(obj: dict[str, object], key: str, low: int, high: int, *, reason: str = "") -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Rejected(reason or f"bad-{key}")
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
    major = _int(obj, "v", 1, 2**31, reason="bad-v")
    if major > FORMAT[0]:
        raise Rejected("newer-major")
    minor = 0 if obj.get("v_minor") is None else _int(obj, "v_minor", 0, 2**31, reason="bad-v")
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
    interactive = _text(obj, "interactive", null=True)
    if interactive is not None and not is_version(interactive):
        raise Rejected("bad-interactive")
    release_patch = None
    if obj.get("interactive_patch") is not None:
        release_patch = _int(obj, "interactive_patch", 0, 10_000)
    unknown = obj.keys() - KNOWN_FIELDS  # usually none: a set difference, in C
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
        format=f"{major}.{minor}",
        interactive=interactive,
        interactive_patch=release_patch,
        extra=json.dumps({k: obj[k] for k in unknown}, sort_keys=True) if unknown else None,
    )

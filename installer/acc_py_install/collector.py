"""Resolve the usage collector's host name here, so that the bases never do at start-up.

A base whose collector is a host name (``site.usage_collector`` in its ``ACC-PY.json``) reads
the collector's addresses from :data:`accpy_core.collector.FILE_NAME` in the directory that
holds its tree (see :mod:`accpy_core.collector`). :func:`refresh` resolves, with the system
resolver (``getaddrinfo``: /etc/hosts, DNS, whatever nsswitch says), every collector named by
the bases there, by the file already and by the caller, and rewrites the file atomically:

- outside the lock: the lookups, each in a thread given ``timeout`` seconds, so that a resolver
  that hangs delays this command by that much at most, and never a Python start;
- under the lock of the directory: read the file again, merge, ``atomic_write``.

A name that does not resolve keeps the addresses it had (until they go stale) and is reported.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from accpy_core import collector
from accpy_core.errors import AccPyError, ConfigError, SourceError
from accpy_core.fs import atomic_write
from accpy_core.layout import BASE_KIND, LOCK_NAME, METADATA_NAME, Layout
from accpy_core.lock import RootLock
from accpy_core.metadata import read_metadata

log = logging.getLogger(__name__)

#: seconds one name may take to resolve
DEFAULT_TIMEOUT = 10.0
#: days the addresses stay good without a new resolution (0: for ever)
#: addresses never go stale by default: every start keeps logging, also where no timer
#: re-resolves them; a site that re-resolves regularly may make them expire (--valid-days)
DEFAULT_VALID_DAYS = 0.0
#: the lock beside the file when it sits in a plain prefix's parent directory
PREFIX_LOCK = f"{collector.FILE_NAME}.lock"


@dataclass(frozen=True)
class Place:
    """Where the file goes, what guards it, and the base trees whose collectors it serves."""

    directory: Path
    trees: tuple[Path, ...]
    lock_name: str

    @property
    def path(self) -> Path:
        return self.directory / collector.FILE_NAME

    def lock(self, timeout: float, stale_hours: float) -> RootLock:
        return RootLock(self.directory, timeout=timeout, stale_hours=stale_hours,
                        name=self.lock_name)  # fmt: skip


def place_of_root(root: Path) -> Place:
    """``<root>/base/.usage-collector``, for every base tree of the root, under the root's lock."""
    layout = Layout(root, BASE_KIND)
    return Place(layout.area, tuple(t.path for t in layout.trees()), LOCK_NAME)


def place_of_prefix(prefix: Path) -> Place:
    """``<parent>/.usage-collector`` for the base in the plain directory ``prefix``."""
    prefix = prefix.absolute()
    trees = (prefix,) if (prefix / METADATA_NAME).is_file() else ()
    return Place(prefix.parent, trees, PREFIX_LOCK)


@dataclass
class Outcome:
    path: Path
    written: bool = False
    resolved: dict[str, tuple[str, ...]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # name -> why


def collectors_of(trees: Iterable[Path]) -> list[str]:
    """The collectors named by host name in the ``ACC-PY.json`` of ``trees``."""
    names = set()
    for tree in trees:
        try:
            value = read_metadata(tree).site.usage_collector
        except AccPyError:
            continue
        if value and _named(value):
            names.add(value)
    return sorted(names)


def _named(value: str) -> bool:
    try:
        return collector.parse_address(value).named
    except ConfigError:
        return False


def resolve(value: str, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, ...]:
    """The literal addresses (``IP:PORT``, ``[IPv6]:PORT``) of the collector ``value`` (a host
    name with its port), in the resolver's order; SourceError when it does not resolve."""
    address = collector.parse_address(value)
    found: list[object] = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(address.host, address.port, type=socket.SOCK_DGRAM))
        except (OSError, UnicodeError) as exc:
            found.append(exc)

    worker = threading.Thread(target=lookup, name=f"resolve {value}", daemon=True)
    worker.start()
    worker.join(timeout)
    if not found:
        raise SourceError(f"{address.host} did not resolve within {timeout:g} s (the resolver "
                          "hangs)")  # fmt: skip
    if isinstance(found[0], BaseException):
        raise SourceError(f"{address.host} does not resolve: {found[0]}")
    out: list[str] = []
    for family, _type, _proto, _name, sockaddr in found[0]:  # type: ignore[attr-defined]
        ip = str(sockaddr[0])
        if family == socket.AF_INET6 and "%" not in ip:  # scoped (link-local): not usable
            literal = f"[{ip}]:{address.port}"
        elif family == socket.AF_INET:
            literal = f"{ip}:{address.port}"
        else:
            continue
        if literal not in out:
            out.append(literal)
    if not out:
        raise SourceError(f"{address.host} resolves to no IPv4 or IPv6 address")
    return tuple(out[: collector.MAX_ADDRESSES])


def read_entries(path: Path) -> dict[str, collector.Entry]:
    try:
        return collector.parse_file(path.read_text(encoding="ascii"))
    except (OSError, UnicodeError):
        return {}


def refresh(
    place: Place,
    names: Iterable[str] = (),
    *,
    forget: Iterable[str] = (),
    valid_days: float = DEFAULT_VALID_DAYS,
    timeout: float = DEFAULT_TIMEOUT,
    lock_timeout: float = 600.0,
    stale_hours: float = 3.0,
) -> Outcome:
    """Resolve the collectors of ``place`` (its trees', the file's, ``names``, minus
    ``forget``) and rewrite its file; nothing is written when there is no name to serve."""
    outcome = Outcome(place.path)
    dropped = set(forget)
    wanted = set(collectors_of(place.trees)) | set(read_entries(place.path)) | set(names)
    wanted -= dropped
    if not wanted and not dropped:
        return outcome  # no base here names its collector by host name: no file
    now = time.time()
    until = int(now + valid_days * 86400) if valid_days > 0 else 0
    fresh: dict[str, collector.Entry] = {}
    for name in sorted(wanted):
        try:
            addresses = resolve(name, timeout)
        except SourceError as exc:
            outcome.failed[name] = str(exc)
            continue
        fresh[name] = collector.Entry(name, until, addresses)
        outcome.resolved[name] = addresses
    place.directory.mkdir(parents=True, exist_ok=True)
    with place.lock(lock_timeout, stale_hours):
        entries = read_entries(place.path)  # again: another run may have written it meanwhile
        for name in dropped:
            entries.pop(name, None)
        entries.update(fresh)
        if not entries and not place.path.exists():
            return outcome
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        text = collector.render_file(
            entries,
            f"written by acc-py-install resolve-collector at {stamp}; do not edit: run it again\n"
            "(daily, from cron or a systemd timer) to follow the collector's addresses\n"
            "COLLECTOR VALID-UNTIL(unix seconds, 0: always) ADDRESS...",
        )
        atomic_write(place.path, text, 0o644)
        outcome.written = True
    return outcome


def report(outcome: Outcome, *, strict: bool) -> None:
    """Say what ``refresh`` did; ``strict``: a name that did not resolve is an error (the
    resolve-collector verb), else a warning (install, set-pro: the base itself is in place)."""
    for name, addresses in sorted(outcome.resolved.items()):
        log.info("usage collector %s -> %s (%s)", name, " ".join(addresses), outcome.path)
    if not outcome.failed:
        return
    kept = read_entries(outcome.path)
    parts = []
    for name, why in sorted(outcome.failed.items()):
        old = kept.get(name)
        if old is not None and not old.stale(time.time()):
            until = "for ever" if not old.until else time.strftime(
                "until %Y-%m-%d", time.gmtime(old.until))  # fmt: skip
            parts.append(f"{name}: {why}; its earlier addresses stay in use {until}")
        else:
            parts.append(f"{name}: {why}; bases that name it log nothing")
    message = (
        "; ".join(parts) + ". Check this host's resolver (/etc/resolv.conf, /etc/hosts), then "
        f"run `acc-py-install resolve-collector` again ({outcome.path})"
    )
    if strict:
        raise SourceError(message)
    log.warning("%s", message)


def refresh_quietly(place: Place, *, lock_timeout: float, stale_hours: float) -> None:
    """After install and set-pro: resolve again; a failure is a warning (the base is in place,
    and `resolve-collector` can be run again)."""
    try:
        outcome = refresh(place, lock_timeout=lock_timeout, stale_hours=stale_hours)
        report(outcome, strict=False)
    except (AccPyError, OSError) as exc:
        log.warning("the usage collector's addresses were not written to %s: %s; run "
                    "`acc-py-install resolve-collector`", place.path, exc)  # fmt: skip

"""The usage collector's address, and the file that lets a base reach a collector by host name
without any DNS lookup at Python start-up.

``site.usage_collector`` (versions.yaml, ``USAGE_COLLECTOR=``) is ``HOST:PORT``: an IPv4
address, ``[IPv6]``, or a host name. The start-up hook (recipes/sitecustomize.py.in) never
resolves a name: the installer does, when a base is installed (``acc-py-install install``,
``set-pro``) and whenever ``acc-py-install resolve-collector`` runs (a site runs it daily from
cron or a systemd timer), and writes the addresses into :data:`FILE_NAME` in the directory that
holds the base trees: ``<root>/base/.usage-collector`` for the shared layout (and images), the
parent directory of a plain ``--prefix``. The hook finds it from its own path
(``<dir>/<tree>/lib/pythonX.Y/sitecustomize.py``) and reads it with one ``open``.

The file (ASCII; one line per collector name, any number of names: bases built for different
collectors can share a directory)::

    acc-py-usage-collectors 1
    # comment lines
    acc-py-usage.cern.ch:8514 1767225600 188.184.1.2:8514 [2001:db8::1]:8514

Fields: the collector as the base names it, the time (Unix seconds) after which the addresses
are stale and the hook sends nothing (0: never), then up to :data:`MAX_ADDRESSES` literal
addresses in the resolver's order; the hook sends to the first one that takes the datagram.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .errors import ConfigError

#: the file of resolved addresses, in the directory that holds the base trees
FILE_NAME = ".usage-collector"
#: its first line: the format and its version (the hook ignores a file without it)
HEADER = "acc-py-usage-collectors 1"
#: the addresses per name the hook tries (and the installer writes)
MAX_ADDRESSES = 4
#: the most of the file the hook reads
MAX_FILE_BYTES = 65536

_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")
_FIX = "write host:port, e.g. acc-py-usage.cern.ch:8514, 10.0.0.1:8514 or [::1]:8514"


#: the names of this host's loopback, where plain http (an index, a registry) is allowed
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Address:
    """A collector address: ``host`` is an IP address (IPv6 without brackets) or a name."""

    host: str
    port: int
    kind: str  # "ipv4", "ipv6" or "name"

    @property
    def named(self) -> bool:
        """A host name: resolved by the installer, never by the hook."""
        return self.kind == "name"

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.kind == "ipv6" else self.host
        return f"{host}:{self.port}"


def parse_address(
    value: str, what: str = "usage collector", *, fix: str = _FIX, port_zero: bool = False
) -> Address:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``name:PORT``, the one parser of them; ConfigError
    (``what`` is wrong; ``fix``) otherwise. ``port_zero``: port 0 too (a listener's "any")."""
    given, sep, port = value.rpartition(":")
    low = 0 if port_zero else 1
    if not sep or not port.isdigit() or not low <= int(port) <= 65535:
        raise ConfigError(f"{what} {value!r} has no port in {low}-65535; {fix}")
    host = given
    if given.startswith("[") and given.endswith("]"):
        kind, host = "ipv6", given[1:-1]
        ok = _is_ip(host, ipaddress.IPv6Address) and "%" not in host
    elif re.fullmatch(r"[\d.]+", given):
        kind, ok = "ipv4", _is_ip(given, ipaddress.IPv4Address)
    else:
        kind, ok = "name", _HOSTNAME.fullmatch(given) is not None
    if not ok:
        raise ConfigError(f"{what} host {given!r} is not valid; {fix}")
    return Address(host, int(port), kind)


def _is_ip(text: str, kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Entry:
    """One line of the file: a collector name, when its addresses go stale, the addresses."""

    collector: str
    until: int  # Unix seconds; 0: never stale
    addresses: tuple[str, ...]

    def line(self) -> str:
        return " ".join((self.collector, str(self.until), *self.addresses))

    def stale(self, now: float) -> bool:
        return bool(self.until) and now > self.until


def parse_file(text: str) -> dict[str, Entry]:
    """The entries of a file's text, by collector; a text of another format holds none, and a
    malformed line is skipped (as the hook skips it)."""
    lines = text.split("\n")
    if lines[0] != HEADER:
        return {}
    entries: dict[str, Entry] = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 3 or line.startswith("#") or not fields[1].isdigit():
            continue
        try:
            parsed = [parse_address(a) for a in fields[2:]]
        except ConfigError:
            continue
        if any(a.named for a in parsed):
            continue  # addresses only: the hook never resolves
        addresses = tuple(str(a) for a in parsed)
        entries.setdefault(fields[0], Entry(fields[0], int(fields[1]), addresses))
    return entries


def render_file(entries: dict[str, Entry], comment: str) -> str:
    """The file's text: the header, ``comment`` lines, one line per entry (sorted)."""
    lines = [HEADER, *(f"# {c}" for c in comment.splitlines())]
    lines += [entries[name].line() for name in sorted(entries)]
    text = "\n".join(lines) + "\n"
    if len(text.encode("ascii")) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{len(entries)} collectors do not fit the {MAX_FILE_BYTES} bytes the hook reads; "
            "forget the ones no base uses (acc-py-install resolve-collector --forget HOST:PORT)"
        )
    return text

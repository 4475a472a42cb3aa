"""The collector: UDP datagrams in, checked records out to a store, in batches.

Two threads. The receiver (the caller of :meth:`Collector.serve`) only reads datagrams into a
bounded in-memory queue, so that the kernel's socket buffer drains as fast as possible. The
writer takes up to ``batch`` datagrams at a time, checks each (:func:`record.parse`) and stores
the good ones in one transaction. Bad datagrams are counted by reason and dropped; when the
queue is full (a flood faster than the store), new datagrams are counted as ``dropped``.

:meth:`Collector.stop` (SIGTERM, SIGINT) ends the receive loop, reads what the kernel still
holds, and lets the writer store everything accepted before :meth:`serve` returns.

The collector says how far it got: :meth:`Collector.wait_stored` (in the same process), and
``status_file``, a JSON file of the counters rewritten after every commit (for monitoring, and
for whoever must wait until N records are stored).
"""

from __future__ import annotations

import collections
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from accpy_core.collector import parse_address
from accpy_core.errors import ConfigError
from accpy_core.fs import atomic_write

from .record import MAX_DATAGRAM, Record, Rejected, parse
from .store import Store

log = logging.getLogger(__name__)

RCVBUF = 32 * 1024 * 1024  # bursts: ~25,000 datagrams of a few hundred bytes


@dataclass
class Stats:
    received: int = 0
    stored: int = 0
    dropped: int = 0  # the queue was full
    lost: int = 0  # the store failed for good
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)

    def line(self) -> str:
        bad = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"received {self.received}, stored {self.stored}, "
            f"rejected {sum(self.rejected.values())} ({bad}), "
            f"dropped {self.dropped}, lost {self.lost}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "received": self.received,
            "stored": self.stored,
            "rejected": dict(sorted(self.rejected.items())),
            "dropped": self.dropped,
            "lost": self.lost,
        }


def parse_listen(value: str) -> tuple[socket.AddressFamily, tuple[str, int]]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` into a family and a bind address."""
    fix = "write HOST:PORT, e.g. 0.0.0.0:8514 or [::]:8514"
    given = parse_address(value, "--listen", fix=fix, port_zero=True)
    host = given.host
    try:
        infos = socket.getaddrinfo(host, given.port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ConfigError(f"--listen {value!r}: cannot resolve {host!r}: {exc}") from exc
    family, _, _, _, address = infos[0]
    return family, (str(address[0]), int(address[1]))


def bind(value: str) -> socket.socket:
    family, address = parse_listen(value)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    for opt in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if opt is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
            break
        except OSError:
            continue
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--listen {value!r}: cannot bind: {exc}") from exc
    return sock


class Collector:
    def __init__(
        self,
        sock: socket.socket,
        store: Store,
        *,
        batch: int = 5000,
        interval: float = 0.2,
        queue_size: int = 500_000,
        stats_every: float = 60.0,
        status_file: Path | None = None,
    ) -> None:
        self.sock = sock
        self.store = store
        self.batch = batch
        self.interval = interval
        self.queue_size = queue_size
        self.stats_every = stats_every
        self.stats = Stats()
        self.status_file = status_file
        self._progress = threading.Condition()
        self._queue: collections.deque[tuple[bytes, str]] = collections.deque()
        self._stopping = threading.Event()
        self._receiving_done = threading.Event()

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def stop(self) -> None:
        """Ask :meth:`serve` to finish (safe from a signal handler)."""
        self._stopping.set()

    def wait_stored(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` records are stored (or rejected or lost: settled)."""
        with self._progress:
            return self._progress.wait_for(lambda: self._settled() >= count, timeout)

    def _settled(self) -> int:
        s = self.stats
        return s.stored + s.lost + s.dropped + sum(s.rejected.values())

    def _report(self) -> None:
        """After every commit: wake the waiters, rewrite the status file."""
        with self._progress:
            self._progress.notify_all()
        if self.status_file is not None:
            try:  # advisory: not fsync'ed, and a failure to write it stops nothing
                atomic_write(self.status_file, json.dumps(self.stats.as_dict()), durable=False)
            except OSError as exc:
                log.warning("cannot write the status file %s: %s", self.status_file, exc)

    def _accept(self, data: bytes, peer: str) -> None:
        self.stats.received += 1
        if len(self._queue) >= self.queue_size:
            self.stats.dropped += 1
        else:
            self._queue.append((data, peer))

    def serve(self) -> Stats:
        """Receive until :meth:`stop`; return the final counts once everything is stored."""
        writer = threading.Thread(target=self._write_loop, name="usage-writer", daemon=True)
        writer.start()
        log.info("listening on udp %s", self.address)
        sock = self.sock
        sock.settimeout(0.2)
        size = MAX_DATAGRAM + 1  # anything longer arrives truncated to this and is rejected
        last = time.monotonic()
        try:
            while not self._stopping.is_set():
                try:
                    data, peer = sock.recvfrom(size)
                except TimeoutError:
                    pass
                except OSError as exc:  # e.g. ICMP errors surfacing on some systems
                    log.debug("recvfrom: %s", exc)
                else:
                    self._accept(data, peer[0])
                now = time.monotonic()
                if now - last >= self.stats_every:
                    last = now
                    log.info("%s", self.stats.line())
            sock.setblocking(False)
            while True:  # what the kernel accepted before the stop
                try:
                    data, peer = sock.recvfrom(size)
                except OSError:
                    break
                self._accept(data, peer[0])
        finally:
            sock.close()
            self._receiving_done.set()
            writer.join()
        log.info("stopped: %s", self.stats.line())
        return self.stats

    def _take(self) -> list[Record]:
        records = []
        queue = self._queue
        for _ in range(min(self.batch, len(queue))):
            data, peer = queue.popleft()
            try:
                records.append(parse(data, peer))
            except Rejected as exc:
                self.stats.rejected[exc.reason] += 1
        return records

    def _store(self, records: list[Record]) -> None:
        attempts = 0
        while True:
            try:
                self.store.insert(records)
            except Exception as exc:  # any store failure is retried
                attempts += 1
                final = self._receiving_done.is_set() and attempts >= 3
                log.error(  # noqa: TRY400 - one line, not a traceback per retry
                    "storing %d records failed (attempt %d): %s", len(records), attempts, exc
                )
                if final:
                    self.stats.lost += len(records)
                    return
                time.sleep(min(5.0, 0.5 * attempts))
            else:
                self.stats.stored += len(records)
                return

    def _write_loop(self) -> None:
        while True:
            done = self._receiving_done.is_set()  # read before draining: nothing is left behind
            if self._queue:
                records = self._take()
                if records:
                    self._store(records)
                self._report()
                if len(self._queue) >= self.batch:
                    continue
            elif done:
                self._report()
                return
            if not done:
                time.sleep(self.interval)

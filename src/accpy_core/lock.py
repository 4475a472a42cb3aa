"""A lock on an install root that works on NFS, where ``flock``/``fcntl`` locks are not reliable.

The lock is the directory ``<root>/base/.lock`` holding an ``owner`` file (JSON: user, host,
pid, the process's start time, when, a random token). It is taken by preparing
``.lock.<token>/owner`` and renaming that directory to ``.lock``: ``rename(2)`` onto a non-empty
directory fails, atomically, on a local disk and on an NFS server alike, so exactly one installer
wins and the lock is never seen without its owner. When an NFS reply is lost and the retried
rename reports an error, the token in ``.lock/owner`` tells whether this process won after all.

A lock is stale when its owner ran on this host and that process is gone (or its pid now belongs
to another process), or when it is older than ``stale_hours`` (an owner on another host cannot
be checked). A stale lock is renamed away (only one breaker wins), then deleted. A second
installer waits, says once who holds the lock, and gives up after ``timeout`` seconds.

:func:`flocked` is the other lock, the one ``flock`` of the project: for the builder's caches on
a local disk (the download cache, the wheelhouse), where ``flock`` is reliable and cheap.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from .errors import LockError
from .fs import fsync_dir, remove_tree
from .layout import LOCK_NAME

log = logging.getLogger(__name__)

OWNER_NAME = "owner"
DEFAULT_STALE_HOURS = 3.0


@contextlib.contextmanager
def flocked(lock_path: Path, what: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing) while the block runs;
    when another process holds it, say once that this one waits for ``what`` (when given)."""
    import fcntl

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if what:
                log.info("waiting for another process to finish with %s", what)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@dataclass(frozen=True)
class Owner:
    user: str
    host: str
    pid: int
    start: str  # /proc/<pid>/stat start time in clock ticks ("" where unknown)
    time: float
    token: str

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.time))
        return f"{self.user}@{self.host} pid {self.pid} since {since}"


def _process_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_of(token: str) -> Owner:
    """This process as the owner of a lock (or of a staging directory)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):  # no passwd entry, no USER: the uid says it
        user = str(os.getuid())
    pid = os.getpid()
    return Owner(user, socket.gethostname(), pid, _process_start(pid), time.time(), token)


def read_owner(lock_dir: Path) -> Owner | None:
    """The owner of a lock directory, or None if it is gone or unreadable."""
    try:
        data = json.loads((lock_dir / OWNER_NAME).read_text(encoding="utf-8"))
        return Owner(
            str(data["user"]), str(data["host"]), int(data["pid"]), str(data.get("start", "")),
            float(data["time"]), str(data["token"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_stale(owner: Owner, stale_hours: float, now: float | None = None) -> bool:
    if owner.host == socket.gethostname():
        if not _alive(owner.pid):
            return True
        if owner.start and _process_start(owner.pid) not in ("", owner.start):
            return True  # the pid was reused by another process
    return (now if now is not None else time.time()) - owner.time > stale_hours * 3600


class RootLock:
    """``with RootLock(base_dir, timeout=...)``: hold ``base_dir/.lock`` for the block.

    ``name``: another lock directory in ``base_dir`` (``.<prefix name>.lock`` for a plain
    ``-p PREFIX`` install); the rules are the same.
    """

    def __init__(
        self,
        base: Path,
        *,
        timeout: float,
        stale_hours: float = DEFAULT_STALE_HOURS,
        poll: float = 0.2,
        name: str = LOCK_NAME,
    ) -> None:
        self.base = base
        self.name = name
        self.path = base / name
        self.timeout = timeout
        self.stale_hours = stale_hours
        self.poll = poll
        self.token = secrets.token_hex(8)
        self.held = False

    def __enter__(self) -> RootLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _mine(self) -> bool:
        owner = read_owner(self.path)
        return owner is not None and owner.token == self.token

    def _try_take(self) -> bool:
        tmp = self.base / f"{self.name}.{self.token}"
        try:
            tmp.mkdir()
            with open(tmp / OWNER_NAME, "w", encoding="utf-8") as fh:
                json.dump(asdict(owner_of(self.token)), fh)
                fh.flush()
                os.fsync(fh.fileno())
        except FileExistsError:
            pass  # left by our own retry: reuse it
        except OSError as exc:
            if not tmp.exists():  # removed under us by a cleaning installer: try again later
                return False
            raise LockError(f"cannot create a lock in {self.base}: {exc}") from exc
        try:
            os.rename(tmp, self.path)
            fsync_dir(self.base)
        except OSError:
            won = self._mine()  # a lost NFS reply: the rename may have happened after all
            if not won:
                with contextlib.suppress(OSError):
                    remove_tree(tmp)
            return won
        return True

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            if self._try_take():
                self.held = True
                log.debug("took the lock %s", self.path)
                return
            owner = read_owner(self.path)
            if owner is None:
                if self._orphan_is_stale():
                    self._break(None)
                    continue
            elif is_stale(owner, self.stale_hours):
                self._break(owner)
                continue
            who = owner.describe() if owner else "an unknown owner (no readable owner file)"
            if time.monotonic() >= deadline:
                raise LockError(
                    f"{self.path} is held by {who}; gave up after {self.timeout:g} s. Retry when "
                    f"that installer is done, or remove {self.path} if it runs no more"
                )
            if not told:
                log.warning("waiting for the lock held by %s (%s)", who, self.path)
                told = True
            time.sleep(self.poll)

    def _orphan_is_stale(self) -> bool:
        """A lock directory without a readable owner (made by hand?): stale after a while."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except OSError:
            return False  # gone: just retry
        return age > min(60.0, self.stale_hours * 3600)

    def _break(self, owner: Owner | None) -> None:
        side = self.base / f"{self.name}.stale-{secrets.token_hex(4)}"
        try:
            os.rename(self.path, side)
        except OSError:
            return  # someone else broke or released it first
        taken = read_owner(side)
        if owner is not None and (taken is None or taken.token != owner.token):
            # Between reading the owner and renaming, the lock changed hands: give it back.
            try:
                os.rename(side, self.path)
            except OSError:
                log.warning("a lock was taken while %s was being broken", self.path)
            return
        log.warning(
            "removed the stale lock %s held by %s",
            self.path,
            owner.describe() if owner else "an unknown owner",
        )
        with contextlib.suppress(OSError):
            remove_tree(side)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        if not self._mine():
            log.warning("the lock %s was no longer ours when releasing it", self.path)
            return
        side = self.base / f"{self.name}.released-{self.token}"
        try:
            os.rename(self.path, side)
            remove_tree(side)
        except OSError as exc:
            log.warning("cannot release the lock %s: %s; remove it by hand", self.path, exc)

"""Fetch a file pinned by sha256 into a locked, content-addressed cache.

``fetch(url, sha256, cache_dir)`` returns ``cache_dir/<sha256>/<file name>``. A cache hit is
re-hashed and returned without touching the network. A miss streams ``https://``, ``http://`` or
``file://`` into a temp file in the same directory while hashing, checks size and sha256, then
``os.replace``s it into place. A ``flock`` (:func:`accpy_core.lock.flocked`) on
``<file name>.lock`` next to the entry keeps two builders from downloading the same file twice:
the second waits, then finds the hit.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from accpy_core.errors import ChecksumError, SourceError
from accpy_core.lock import flocked
from accpy_core.record import sha256_file

from .trust import ssl_context

log = logging.getLogger(__name__)

CHUNK = 1 << 20
#: Seconds to wait before the 2nd and 3rd attempt; connection errors and 5xx only.
BACKOFF = (0.5, 1.0)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
_SHA256 = re.compile(r"[0-9a-f]{64}")


class _Retryable(Exception):
    """A transient failure (connection reset, timeout, 5xx, short body): worth another try."""


def file_name(url: str) -> str:
    """The last path component of ``url``, percent-decoded: the name the cache stores it under."""
    name = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    if not name or name in {".", ".."} or "/" in name or "\0" in name:
        raise SourceError(f"{url}: the URL does not end in a file name")
    return name


def fetch(
    url: str, sha256: str, cache_dir: Path, *, progress: bool = False, cafile: Path | None = None
) -> Path:
    """Return the cached copy of ``url`` whose content has ``sha256``; download it on a miss.

    ``cafile``: the bundle https is verified against (:mod:`.trust`; default: the machine's).

    Raises SourceError (unreachable, 4xx, missing file) or ChecksumError (content differs).
    """
    expected = sha256.strip().lower()
    if not _SHA256.fullmatch(expected):
        raise ChecksumError(f"{url}: {sha256!r} is not a sha256 (64 hex digits); fix the pin")
    name = file_name(url)
    entry = cache_dir / expected
    entry.mkdir(parents=True, exist_ok=True)
    target = entry / name
    with flocked(entry / f"{name}.lock", str(entry / name)):
        if target.is_file():
            actual = sha256_file(target)
            if actual == expected:
                log.debug("cache hit: %s", target)
                return target
            log.warning("cached %s is damaged (sha256 %s); downloading it again", target, actual)
            target.unlink()
        _download(url, expected, target, progress=progress, cafile=cafile)
    return target


def _download(
    url: str, expected: str, target: Path, *, progress: bool, cafile: Path | None
) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in {"http", "https", "file"}:
        raise SourceError(
            f"{url}: unsupported URL scheme {scheme!r}; use https://, http:// or file://"
        )
    attempts = len(BACKOFF) + 1
    for attempt in range(1, attempts + 1):
        try:
            _download_once(url, expected, target, progress=progress, cafile=cafile)
            return
        except _Retryable as exc:
            if attempt == attempts:
                raise SourceError(f"cannot fetch {url}: {exc} (after {attempts} attempts)") from exc
            delay = BACKOFF[attempt - 1]
            log.warning("fetching %s failed (%s); retrying in %.1f s", url, exc, delay)
            time.sleep(delay)


def _download_once(
    url: str, expected: str, target: Path, *, progress: bool, cafile: Path | None
) -> None:
    """Stream ``url`` into a temp file next to ``target``, verify it, move it into place."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if urlsplit(url).scheme.lower() == "file":
                size, actual = _copy_file(url, out, progress=progress)
            else:
                size, actual = _copy_http(url, out, progress=progress, cafile=cafile)
            out.flush()
            os.fsync(out.fileno())
        if actual != expected:
            raise ChecksumError(
                f"{url}: sha256 mismatch: expected {expected}, got {actual} ({size} bytes); "
                "re-pin the sha256 if the asset really changed, otherwise check the mirror"
            )
        tmp.chmod(0o644)
        tmp.replace(target)  # os.replace: atomic on the same filesystem
        log.debug("stored %s (%s)", target, _human(size))
    finally:
        tmp.unlink(missing_ok=True)


def _copy_file(url: str, out: BinaryIO, *, progress: bool) -> tuple[int, str]:
    parts = urlsplit(url)
    if parts.netloc not in {"", "localhost"}:
        raise SourceError(f"{url}: file:// URLs must name a local path (file:///path)")
    path = Path(url2pathname(unquote(parts.path)))
    try:
        src = path.open("rb")
    except FileNotFoundError as exc:
        raise SourceError(f"{url}: no such file; it is not on this mirror") from exc
    except OSError as exc:
        raise SourceError(f"{url}: cannot read {path}: {exc.strerror}") from exc
    with src:
        total = os.fstat(src.fileno()).st_size
        meter = _Meter(url, total, progress)
        digest = hashlib.sha256()
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            meter.update(len(chunk))
        meter.done()
    if meter.done_bytes != total:
        raise _Retryable(f"{path} changed size while being read")
    return meter.done_bytes, digest.hexdigest()


def _copy_http(url: str, out: BinaryIO, *, progress: bool, cafile: Path | None) -> tuple[int, str]:
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    verify = ssl_context(cafile)
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, verify=verify) as client,
            client.stream("GET", url) as response,
        ):
            status = response.status_code
            if status == 404:
                raise SourceError(f"{url}: 404 Not Found: the file is not on this mirror")
            if 400 <= status < 500:
                raise SourceError(f"{url}: HTTP {status} {response.reason_phrase}")
            if status >= 500:
                raise _Retryable(f"HTTP {status} {response.reason_phrase}")
            length = response.headers.get("content-length")
            total = int(length) if length and length.isdigit() else None
            meter = _Meter(url, total, progress)
            digest = hashlib.sha256()
            for chunk in response.iter_bytes(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                meter.update(len(chunk))
            meter.done()
    except httpx.ConnectError as exc:
        if _is_dns_failure(exc):
            raise SourceError(f"cannot reach {url}: host name does not resolve ({exc})") from exc
        raise _Retryable(f"cannot connect: {exc}") from exc
    except httpx.TransportError as exc:  # timeouts, resets, protocol errors
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
    if total is not None and meter.done_bytes != total:
        raise _Retryable(f"short read: got {meter.done_bytes} of {total} bytes")
    return meter.done_bytes, digest.hexdigest()


def _is_dns_failure(exc: BaseException) -> bool:
    """True when name resolution failed: retrying will not help, so fail at once."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    return "name or service not known" in text or "name resolution" in text


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


class _Meter:
    """A one-line ``\\r`` progress display on a TTY, otherwise one log line at start and end."""

    def __init__(self, url: str, total: int | None, progress: bool) -> None:
        self.url = url
        self.total = total
        self.tty = progress and sys.stderr.isatty()
        self.done_bytes = 0
        self.start = time.monotonic()
        self._last = 0.0
        size = _human(total) if total is not None else "unknown size"
        log.info("downloading %s (%s)", url, size)

    def update(self, n: int) -> None:
        self.done_bytes += n
        now = time.monotonic()
        if self.tty and now - self._last >= 0.1:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.done_bytes / max(now - self.start, 1e-6) / 1e6
        pct = f" {100 * self.done_bytes / self.total:5.1f}%" if self.total else ""
        name = file_name(self.url)
        sys.stderr.write(f"\r  {name}: {_human(self.done_bytes)}{pct} {rate:6.1f} MB/s ")
        sys.stderr.flush()

    def done(self) -> None:
        elapsed = time.monotonic() - self.start
        if self.tty:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()
        log.info("downloaded %s in %.1f s", _human(self.done_bytes), elapsed)

"""File-system operations that readers never see half done.

- :func:`atomic_write`: write a temporary file beside the target, fsync it, ``os.replace`` it
  over the target, fsync the directory;
- :func:`switch_symlink`: point a symlink elsewhere by renaming a new symlink over it
  (``name.tmp-XXXX``, then ``os.replace``): never unlink-then-create;
- :func:`exchange`: swap two entries in one step (a directory and a symlink, which no rename
  can replace by the other), where the system can;
- :func:`sync_tree`: make a new tree durable before it is renamed into sight;
- :func:`remove_tree`: delete a tree, read-only ones too;
- :func:`crash_point`: the test hook of the crash-safety tests.

A rename is one atomic operation on a local file system and on NFS alike, so a reader sees the
old state or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import signal
import stat
import sys
from collections.abc import Callable
from typing import Any, Union

StrPath = Union[str, "os.PathLike[str]"]

#: the environment variable of :func:`crash_point`
CRASH_ENV = "ACC_PY_INSTALL_CRASH_AT"
_STEPS: list[str] = []


def crash_point(what: str) -> None:
    """Test hook: ``ACC_PY_INSTALL_CRASH_AT=N`` SIGKILLs this process at the N-th step.

    Every step of a command that changes an install root calls this; the crash-safety tests
    iterate N over them and check that every state left behind is a complete one.
    """
    _STEPS.append(what)
    at = os.environ.get(CRASH_ENV)
    if at and int(at) == len(_STEPS):
        sys.stderr.write(f"crash_point {len(_STEPS)}: {what}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: StrPath) -> None:
    """Make the entries of directory ``path`` durable (where the file system allows it)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory: nothing more to do
    finally:
        os.close(fd)


def sync_tree(path: StrPath) -> None:
    """Make every file and directory under ``path`` durable before it becomes visible.

    ``syncfs(2)`` on the file system that holds ``path``: one call that writes back its dirty
    data and metadata (on NFS: written and committed to the server), as cheap as one fsync of
    the last file written. Where it is not available, every file and directory is fsync'ed.
    """
    target = os.fspath(path)
    if _syncfs(target):
        return
    for dirpath, _dirnames, filenames in os.walk(target):
        for name in filenames:
            full = os.path.join(dirpath, name)
            if not os.path.islink(full):
                _fsync_path(full)
        fsync_dir(dirpath)


def _syncfs(path: str) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (ImportError, OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return int(call(fd)) == 0
    finally:
        os.close(fd)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: StrPath, data: bytes | str, mode: int = 0o644, *, durable: bool = True
) -> None:
    """Replace ``path`` by a file holding ``data`` (text is UTF-8), in one rename.

    ``durable``: the file and the rename are on disk (fsync) before this returns."""
    target = os.fspath(path)
    directory = os.path.dirname(target) or "."
    tmp = os.path.join(directory, f".{os.path.basename(target)}.tmp-{secrets.token_hex(4)}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb", closefd=True) as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(directory)


def read_link(path: StrPath) -> str | None:
    """The target of symlink ``path``; None if there is none (absent, or not a symlink)."""
    try:
        return os.readlink(os.fspath(path))
    except OSError:
        return None


def switch_symlink(link: StrPath, target: str) -> str | None:
    """Point ``link`` at ``target`` atomically; return the previous target (None if new).

    Raises OSError (EISDIR/EINVAL...) when ``link`` exists and is not a symlink: the caller
    says what to do about it.
    """
    path = os.fspath(link)
    previous = None
    with contextlib.suppress(FileNotFoundError):
        previous = os.readlink(path)
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f"{os.path.basename(path)}.tmp-{secrets.token_hex(4)}")
    os.symlink(target, tmp)
    crash_point(f"temporary symlink {os.path.basename(tmp)} -> {target}")
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
    return previous


#: renameat2(2) flag and directory argument: swap the two names
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: what renameat2 answers where the kernel, the file system (NFS) or libc cannot swap
_NO_EXCHANGE = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


def exchange(a: StrPath, b: StrPath) -> bool:
    """Swap the entries ``a`` and ``b`` (both must exist, in one directory or two) in one atomic
    step: ``renameat2(RENAME_EXCHANGE)``. False, with nothing changed, where the system cannot
    (a libc without renameat2, a kernel before 3.15, NFS): the caller then does it in two steps.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.renameat2
    except (ImportError, OSError, AttributeError):
        return False
    call.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    call.restype = ctypes.c_int
    first, second = os.fsencode(os.fspath(a)), os.fsencode(os.fspath(b))
    if call(_AT_FDCWD, first, _AT_FDCWD, second, _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        if code in _NO_EXCHANGE:
            return False
        raise OSError(code, os.strerror(code), os.fspath(a))
    for directory in {os.path.dirname(os.fspath(p)) or "." for p in (a, b)}:
        fsync_dir(directory)
    return True


def remove_tree(path: StrPath) -> None:
    """Delete a tree, also a read-only one (``--read-only`` installs); a symlink is unlinked,
    never followed; a missing path is fine."""
    target = os.fspath(path)

    def retry(func: Callable[..., Any], failed: str, _exc: Any) -> None:
        parent = os.path.dirname(failed)
        try:
            os.chmod(parent, stat.S_IMODE(os.lstat(parent).st_mode) | stat.S_IWUSR)
            if not os.path.islink(failed) and os.path.isdir(failed):
                os.chmod(failed, stat.S_IMODE(os.lstat(failed).st_mode) | 0o700)
            func(failed)
        except FileNotFoundError:
            pass

    if os.path.islink(target) or not os.path.isdir(target):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(target, onexc=retry)
    else:
        shutil.rmtree(target, onerror=retry)


def disk_usage(path: StrPath) -> int:
    """Bytes allocated to the files of a tree (like ``du -s``, hard links counted once)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [os.fspath(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    st = entry.stat(follow_symlinks=False)
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


def is_inside(root: StrPath, path: StrPath) -> bool:
    """Is ``path`` ``root`` or below it? (Both taken as given: resolve them first if needed.)"""
    root_s = os.path.normpath(os.fspath(root))
    path_s = os.path.normpath(os.fspath(path))
    return path_s == root_s or path_s.startswith(root_s.rstrip("/") + "/")

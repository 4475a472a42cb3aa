"""The one error hierarchy of the installer (and of the modules it shares with the builder).

Every error carries an exit code and a one-line message that says how to fix the problem.
``cli.main`` prints ``error: <message>``; the traceback appears only with ``-v``.
The builder wraps the ones that reach it (``record``, ``archive``) into its own errors.
"""

from __future__ import annotations


class InstallError(Exception):
    """Base class of every error the installer reports to a user."""

    exit_code = 1


class UsageError(InstallError):
    """A command cannot do what was asked: not installed, refused without --force, bad name."""

    exit_code = 2


class ChecksumError(InstallError):
    """A tarball does not match its ``.sha256`` (or the ``.sha256`` is missing or malformed)."""

    exit_code = 3


class ArchiveError(InstallError):
    """An archive is corrupt, truncated, of an unknown type, or hostile."""

    exit_code = 4


class RecordError(InstallError):
    """A tree does not match its ACC-PY.RECORD, or a tree or record cannot be read."""

    exit_code = 5


class MetadataError(InstallError):
    """ACC-PY.json is missing or contradicts the file name or the host (platform, glibc)."""

    exit_code = 6


class LockError(InstallError):
    """Another installer holds the lock on the root and did not release it in time."""

    exit_code = 7


class SpaceError(InstallError):
    """The file system of the root is full; nothing visible was changed."""

    exit_code = 8


class FetchError(InstallError):
    """A tarball or its ``.sha256`` could not be downloaded."""

    exit_code = 9

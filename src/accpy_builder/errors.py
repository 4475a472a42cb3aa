"""The one error hierarchy of the builder.

Every error carries an exit code and a message that says how to fix the problem.
``cli.main`` prints ``error: <message>`` on one line; the traceback appears only with ``-v``.
"""

from __future__ import annotations


class BuildError(Exception):
    """Base class of every error the builder reports to a user."""

    exit_code = 1


class ManifestError(BuildError):
    """versions.yaml is malformed or does not describe what was asked for."""

    exit_code = 2


class SourceError(BuildError):
    """No interpreter could be obtained (mirror unreachable, nothing to adopt, ...)."""

    exit_code = 3


class ChecksumError(SourceError):
    """A download or archive does not match its pinned sha256."""

    exit_code = 4


class ArchiveError(BuildError):
    """An archive is corrupt, of an unknown layout, or hostile."""

    exit_code = 5


class RelocateError(BuildError):
    """The interpreter tree could not be made relocatable."""

    exit_code = 6


class PackagesError(BuildError):
    """Wheels could not be fetched or installed."""

    exit_code = 7


class InjectError(BuildError):
    """A recipe cannot be placed: bad template, unsafe symlink or a clash with the tree."""

    exit_code = 10


class CheckError(BuildError):
    """The finished tree fails a pre-packing check; the message lists the offending files."""

    exit_code = 8


class CommandError(BuildError):
    """An external command failed; its captured output is part of the message."""

    exit_code = 9

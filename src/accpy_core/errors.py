"""The one error hierarchy of every Acc-Py tool, with one exit code per kind of error.

Every error carries a one-line message that says how to fix the problem. The command lines
(:mod:`accpy_core.cli`) print ``<prog>: error: <message>`` and exit with the error's
``exit_code``; the traceback appears only with ``-v``. Library code raises these, never
``sys.exit`` and never a bare ``Exception``.

==== ================= ===========================================================================
code error             when
==== ================= ===========================================================================
1    AccPyError        anything not listed below (an unexpected failure, an OS error)
2    UsageError        bad arguments or names; a request refused without ``--force``; not installed
3    ConfigError       versions.yaml (ManifestError), a lock file or an option value is malformed
4    ChecksumError     a file does not match its sha256, or its ``.sha256`` is missing
5    ArchiveError      an archive is corrupt, truncated, of an unknown type, or hostile
6    RecordError       a tree differs from its ``ACC-PY.RECORD``, or cannot be read
7    MetadataError     ``ACC-PY.json`` is missing, malformed, newer, or contradicts its name;
                       the host cannot run the base
8    LockError         another installer holds the lock on the install root
9    SpaceError        the file system is full (nothing visible changed)
10   SourceError       something to fetch cannot be had: a mirror, a URL, an interpreter to adopt
11   CommandError      a command run on the user's behalf failed (pip, patchelf, a build)
12   RelocateError     the interpreter tree cannot be made relocatable
13   PackagesError     wheels cannot be fetched or installed
14   InjectError       a recipe cannot be placed into the base
15   CheckError        the finished tree fails a check before packing
16   RefusedError      acc-py would overwrite or destroy something it did not make
17   BaseError         the base is not usable for this (not found, wrong version, not installed)
18   StoreError        the usage database cannot be opened or written
130  (interrupted)     Ctrl-C
==== ================= ===========================================================================
"""

from __future__ import annotations


class AccPyError(Exception):
    """Base class of every error an Acc-Py tool reports to a user."""

    exit_code = 1


class UsageError(AccPyError):
    """Bad arguments or names; a request refused without --force; nothing to act on."""

    exit_code = 2


class ConfigError(AccPyError):
    """An input file or an option value is malformed."""

    exit_code = 3


class ManifestError(ConfigError):
    """versions.yaml is malformed or does not describe what was asked for."""


class ChecksumError(AccPyError):
    """A file does not match its sha256 (or the ``.sha256`` is missing or malformed)."""

    exit_code = 4


class ArchiveError(AccPyError):
    """An archive is corrupt, truncated, of an unknown type or layout, or hostile."""

    exit_code = 5


class RecordError(AccPyError):
    """A tree does not match its ACC-PY.RECORD, or a tree or record cannot be read."""

    exit_code = 6


class MetadataError(AccPyError):
    """ACC-PY.json is missing, malformed, too new or contradicts its name; the host can't run it."""

    exit_code = 7


class LockError(AccPyError):
    """Another installer holds the lock on the root and did not release it in time."""

    exit_code = 8


class SpaceError(AccPyError):
    """The file system is full; nothing visible was changed."""

    exit_code = 9


class SourceError(AccPyError):
    """Something to fetch cannot be had: mirror unreachable, 404, nothing to adopt."""

    exit_code = 10


class CommandError(AccPyError):
    """A command run on the user's behalf failed; its output is part of the message."""

    exit_code = 11


class RelocateError(AccPyError):
    """The interpreter tree could not be made relocatable."""

    exit_code = 12


class PackagesError(AccPyError):
    """Wheels could not be fetched or installed."""

    exit_code = 13


class InjectError(AccPyError):
    """A recipe cannot be placed: bad template, unsafe symlink or a clash with the tree."""

    exit_code = 14


class CheckError(AccPyError):
    """The finished tree fails a pre-packing check; the message lists the offending files."""

    exit_code = 15


class RefusedError(AccPyError):
    """acc-py would overwrite or destroy something it did not make."""

    exit_code = 16


class BaseError(AccPyError):
    """The base is not usable for this: not found, wrong version, not an Acc-Py base."""

    exit_code = 17


class StoreError(AccPyError):
    """The usage database cannot be opened or written."""

    exit_code = 18


INTERRUPTED = 130

#: every kind of error, for the exit-code table (README) and the self-extracting installer
KINDS = (
    AccPyError,
    UsageError,
    ConfigError,
    ChecksumError,
    ArchiveError,
    RecordError,
    MetadataError,
    LockError,
    SpaceError,
    SourceError,
    CommandError,
    RelocateError,
    PackagesError,
    InjectError,
    CheckError,
    RefusedError,
    BaseError,
    StoreError,
)

"""The one error hierarchy of acc-py-usage: an exit code per class, a message that says the fix."""

from __future__ import annotations


class UsageServiceError(Exception):
    """Base class of every error acc-py-usage reports to a user."""

    exit_code = 1


class ConfigError(UsageServiceError):
    """A bad option value (address, date, database URL)."""

    exit_code = 2


class StoreError(UsageServiceError):
    """The database cannot be opened or written."""

    exit_code = 3

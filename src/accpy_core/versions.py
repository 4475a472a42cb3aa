"""Base versions, patch releases and statuses: the one parser of each, and the pro policy.

A *version* names a base (or an interactive-environment release) by the month it was made:
``YYYY.MM``, e.g. ``2023.06``. A *release* is a version and a patch number, ``2023.06.2``: the
tree ``._2023.06.2`` of the install root. A *status* is one of :data:`STATUSES`.

The pro policy (one rule, for every tool that moves ``pro``): a base may become pro when its
status is ``pro`` or ``supported`` and it has not reached its end of life. A ``deprecated``
base, or one past its end of life, becomes pro only with ``--force``: that is for going back in
an emergency, and the tools warn when they do it.
"""

from __future__ import annotations

import datetime
import re

from .errors import UsageError

#: ``YYYY.MM``: the year and the month (01-12) the base was made
VERSION_PATTERN = r"\d{4}\.(?:0[1-9]|1[0-2])"
VERSION_RE = re.compile(r"^(" + VERSION_PATTERN + r")$")
RELEASE_RE = re.compile(r"^(" + VERSION_PATTERN + r")(?:\.(\d+))?$")

PRO = "pro"
SUPPORTED = "supported"
DEPRECATED = "deprecated"
#: every status a base can have, from the most to the least recommended
STATUSES = (PRO, SUPPORTED, DEPRECATED)


def is_version(text: str) -> bool:
    """``2023.06`` is a version; ``2023.6``, ``2023.13`` and ``2023.06.1`` are not."""
    return VERSION_RE.match(text) is not None


def parse_release(text: str) -> tuple[str, int | None]:
    """``2023.06`` -> ("2023.06", None); ``2023.06.2`` -> ("2023.06", 2)."""
    m = RELEASE_RE.match(text)
    if not m:
        raise UsageError(f"{text!r} is not a base version; write e.g. 2023.06 or 2023.06.2")
    return m.group(1), int(m.group(2)) if m.group(2) is not None else None


def version_key(version: str) -> tuple[int, int]:
    """Sort key of a version: (year, month)."""
    year, month = version.split(".")
    return int(year), int(month)


def is_status(text: object) -> bool:
    return text in STATUSES


def parse_date(text: object) -> datetime.date | None:
    """An end-of-life date ``YYYY-MM-DD``; None for no date or one that does not parse."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def pro_refusal(
    status: object, end_of_life: object = None, today: datetime.date | None = None
) -> str:
    """Why a base with ``status`` and ``end_of_life`` must not become pro ("" if it may).

    ``end_of_life`` is a date or its ISO text. See the module docstring for the policy.
    """
    today = today or datetime.date.today()
    eol = end_of_life if isinstance(end_of_life, datetime.date) else parse_date(end_of_life)
    if eol is not None and eol <= today:
        return f"it reached its end of life on {eol.isoformat()}"
    if status == DEPRECATED:
        return "it is deprecated" + (f" (end of life {eol.isoformat()})" if eol else "")
    if not is_status(status):
        return f"its status {status!r} is not one of {', '.join(STATUSES)}"
    return ""

"""One module per verb of ``acc-py-install``, each with ``HELP``, ``configure_parser`` and
``execute`` (pipx's ``commands/``, auditwheel's ``main_*.py``)."""

from __future__ import annotations

from types import ModuleType

from . import install, listing, remove, resolve_collector, rollback, set_pro, verify

COMMANDS: dict[str, ModuleType] = {
    "install": install,
    "set-pro": set_pro,
    "rollback": rollback,
    "list": listing,
    "verify": verify,
    "remove": remove,
    "resolve-collector": resolve_collector,
}

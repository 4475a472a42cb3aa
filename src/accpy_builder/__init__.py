"""Builder for the Acc-Py base distribution.

Stages, one module each, data flowing one way:
manifest -> interpreter (pbs | adopt) -> relocate -> packages -> inject -> check -> pack.
"""

from __future__ import annotations

__version__ = "0.1.0"

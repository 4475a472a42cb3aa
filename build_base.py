#!/usr/bin/env python3
"""Build an Acc-Py base: ``./build_base.py base 2023.06 --interpreter auto`` (see ``--help``).

The same CLI as the ``acc-py-build`` console script, run from a checkout. Without the builder's
dependencies in the current interpreter it re-runs itself with the project's ``.venv``
(``make venv`` creates it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "src"))

try:
    from accpy_builder.cli import main
except ImportError as exc:
    venv_python = HERE / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != (HERE / ".venv").resolve():
        os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])
    sys.exit(f"error: {exc.name} is missing; run `make venv` first (it installs the pinned deps)")

if __name__ == "__main__":
    sys.exit(main())

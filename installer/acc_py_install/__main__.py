"""``python3 -m acc_py_install``: the same as ``acc-py-install``."""

import sys

from .cli import main

sys.exit(main())

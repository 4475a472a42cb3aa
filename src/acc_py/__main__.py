"""``python -m acc_py``: the same as the ``acc-py`` command."""

import sys

from acc_py.cli import main

if __name__ == "__main__":
    sys.exit(main())

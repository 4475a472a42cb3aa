"""acc-py-install: put Acc-Py bases onto the shared area, side by side, atomically.

Standard library only, Python 3.7 through 3.14: it ships inside every base (the self-extracting
installer hands over to it), and a host's own python3 runs it as ``python3 -m acc_py_install``.
"""

__version__ = "0.2.0"

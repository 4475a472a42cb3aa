"""acc-py-install: put Acc-Py base tarballs onto the shared area, side by side, atomically.

Standard library only, Python >= 3.9 (a RHEL 9 system python runs it).
"""

__version__ = "0.1.0"

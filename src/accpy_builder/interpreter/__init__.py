"""Stage 2: obtain a CPython tree.

From python-build-standalone (``pbs``) or from this machine (``adopt``).
"""

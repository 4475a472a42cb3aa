"""Stage 2: obtain a CPython tree, from python-build-standalone (``pbs``) or this machine (``adopt``)."""

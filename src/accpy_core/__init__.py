"""accpy_core: what the builder, the installer, the usage collector and ``acc-py`` share.

Standard library only, Python 3.7 through 3.14: it ships inside every base, next to the
installer and ``acc-py``, and the builder and the collector import it from their own
environments. One module per concept:

- :mod:`~accpy_core.errors`: the one error hierarchy, an exit code per kind;
- :mod:`~accpy_core.versions`: base versions, patch releases, statuses and the pro policy;
- :mod:`~accpy_core.platforms`: platform tags (manylinux, ...) and what a host can run;
- :mod:`~accpy_core.layout`: the names of the install root and of a base (``ACC-PY.json``, ...);
- :mod:`~accpy_core.metadata`: ``ACC-PY.json``, its one definition (schema-versioned), reader
  and writer;
- :mod:`~accpy_core.fs`: atomic writes, symlink switches, tree removal;
- :mod:`~accpy_core.archive`: safe extraction of tarballs;
- :mod:`~accpy_core.record`: ``ACC-PY.RECORD`` and file hashing;
- :mod:`~accpy_core.lock`: the lock on an install root (works on NFS);
- :mod:`~accpy_core.proc`: the one subprocess wrapper;
- :mod:`~accpy_core.cli`: the command-line scaffolding of every Acc-Py tool.
"""

__version__ = "0.2.0"

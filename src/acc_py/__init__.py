"""acc-py: the user-side command that ships inside every Acc-Py base.

Standard library and :mod:`accpy_core` only; runs on Python 3.7 through 3.14. ``acc-py --help``
lists the verbs; each lives in its own module (venv, init, ci, app) with ``HELP``,
``configure_parser()`` and ``execute(args, base)``. What differs per base (its version, the
site's index, the other bases) comes from the base's ``ACC-PY.json`` (:mod:`acc_py._base`).
"""

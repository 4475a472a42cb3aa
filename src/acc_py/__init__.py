"""acc-py: the user-side command that ships inside every Acc-Py base.

Standard library only; runs on Python 3.7 through 3.14. ``acc-py --help`` lists the verbs; each
lives in its own module (venv, init, ci, app) with ``configure_parser()`` and ``execute()``.
"""

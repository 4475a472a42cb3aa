"""The ``acc-py`` command line: one sub-command module per verb, errors as one line.

Each verb module (venv, init, ci, app) has ``HELP``, ``configure_parser()`` and
``execute(args, base)``. ``acc-py [-v] venv PATH [...]`` is parsed without argparse (whose import,
with logging's, would cost a good part of ``acc-py venv``'s time); anything else, and any word
that fast parser does not know, goes through argparse. Errors print ``acc-py: error: <what>; <how
to fix>`` and exit with the code of their kind (:mod:`accpy_core.errors`, shown by ``--help``);
``acc-py app run`` passes the application's own exit code through.
"""

from __future__ import annotations

import os
import sys

from accpy_core.errors import INTERRUPTED, AccPyError, UsageError

from ._base import Base, current_base

#: typing.TYPE_CHECKING without importing typing at run time: mypy takes it as True
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

_EPILOG = """\
typical use:
  source <root>/base/pro/setup.sh     make the base active (optional for acc-py itself)
  acc-py venv ./venv                  a venv on this base; ./venv/bin/python -m pip install X
  acc-py init my_project              a new project: pip install -e ., pytest
  acc-py init-ci                      .gitlab-ci.yml testing on every supported base
  acc-py app lock && acc-py app deploy .

"""


def _version(launcher: str | None) -> str:
    from accpy_core.versions import DEPRECATED

    base = current_base(launcher)
    eol = f", end of life {base.end_of_life}" if base.end_of_life else ""
    note = f" (deprecated{eol})" if base.status == DEPRECATED else ""
    patch = "?" if base.patch is None else base.patch
    return (
        f"acc-py (Acc-Py base {base.version}, patch {patch}{note}) Python {base.python_full}\n"
        f"base: {base.dir}\n"
    )


def build_parser(launcher: str | None = None) -> argparse.ArgumentParser:
    import argparse

    from accpy_core.cli import add_verbosity, exit_codes
    from accpy_core.errors import BaseError, CommandError, ConfigError, RefusedError

    class VersionAction(argparse.Action):
        """``--version``: the base is looked for only when asked (``--help`` works without)."""

        def __init__(
            self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any
        ) -> None:
            kw.setdefault("default", argparse.SUPPRESS)
            super().__init__(option_strings, dest=dest, nargs=0, **kw)

        def __call__(
            self,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: str | Sequence[Any] | None,
            option_string: str | None = None,
        ) -> None:
            try:
                text = _version(launcher)
            except AccPyError as exc:
                parser.exit(exc.exit_code, f"acc-py: error: {exc}\n")
            sys.stdout.write(text)
            parser.exit(0)

    kinds = (UsageError, ConfigError, CommandError, RefusedError, BaseError)
    parser = argparse.ArgumentParser(
        prog="acc-py",
        description="The Acc-Py base's user command: virtual environments, new projects, "
        "GitLab CI and application deployment on the Acc-Py base it belongs to.",
        epilog=_EPILOG + exit_codes(kinds),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action=VersionAction, help="show the base version and its Python, then exit"
    )
    add_verbosity(parser, quiet=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _commands().items():
        module.configure_parser(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def _commands() -> dict[str, ModuleType]:
    """The verb modules, by command name."""
    from . import app, ci, init, venv

    return {"venv": venv, "init": init, "init-ci": ci, "app": app}


class _FastVenv:
    """``acc-py [-v] venv PATH [--prompt P] [--clear|--recreate]``, as parsed by _fast_venv."""

    def __init__(self) -> None:
        self.verbosity = 0
        self.path: str | None = None
        self.prompt: str | None = None
        self.clear = False
        self.recreate = False


def _fast_venv(argv: Sequence[str]) -> _FastVenv | None:
    """``acc-py venv`` parsed without argparse; None for anything else (help, errors)."""
    args = _FastVenv()
    rest = list(argv)
    while rest and rest[0] in ("-v", "--verbose"):
        args.verbosity = 1
        rest.pop(0)
    if not rest or rest.pop(0) != "venv":
        return None
    while rest:
        a = rest.pop(0)
        if a in ("-v", "--verbose"):
            args.verbosity = 1
        elif a == "--clear":
            args.clear = True
        elif a == "--recreate":
            args.recreate = True
        elif a == "--prompt" and rest:
            args.prompt = rest.pop(0)
        elif a.startswith("--prompt="):
            args.prompt = a[len("--prompt=") :]
        elif a.startswith("-") or args.path is not None:
            return None
        else:
            args.path = a
    if args.path is None or (args.clear and args.recreate):
        return None
    return args


def _venv_call(fast: _FastVenv) -> Callable[[Base], int]:
    from . import venv

    path, prompt, clear, recreate = fast.path or "", fast.prompt, fast.clear, fast.recreate

    def call(base: Base) -> int:
        return venv.make(base, path, prompt=prompt, clear=clear, recreate=recreate)

    return call


def _debug_logging() -> None:
    """``-v``: the debug messages of the core on stderr (``+ cmd`` for each command run)."""
    import logging

    from accpy_core.cli import setup_logging

    setup_logging(logging.getLogger("accpy_core"), 1)


def main(argv: Sequence[str] | None = None, launcher: str | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    fast = _fast_venv(argv)
    call: Callable[[Base], int]
    if fast is not None:
        verbosity = fast.verbosity
        call = _venv_call(fast)
    else:
        parser = build_parser(launcher)
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(sys.stderr)
            return UsageError.exit_code
        verbosity = args.verbosity
        module = _commands()[args.command]

        def call(base: Base) -> int:
            return int(module.execute(args, base))

    if verbosity > 0:
        _debug_logging()
    try:
        return call(current_base(launcher))
    except AccPyError as exc:
        _traceback(verbosity)
        sys.stderr.write(f"acc-py: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("acc-py: interrupted\n")
        return INTERRUPTED
    except OSError as exc:
        _traceback(verbosity)
        where = f" ({exc.filename})" if exc.filename else ""
        sys.stderr.write(
            f"acc-py: error: {exc.strerror or exc}{where}; check the path and its permissions\n"
        )
        return 1


def _traceback(verbosity: int) -> None:
    if verbosity > 0:
        import traceback

        traceback.print_exc()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(launcher=os.environ.get("ACC_PY_LAUNCHER")))

"""The ``acc-py`` command line: one sub-command per module, errors as one line.

Exit codes: 0 success; 1 unexpected failure; 2 bad usage or name; 3 refused (acc-py would
overwrite something); 4 base problem (not found, wrong version); 5 a command acc-py ran failed
(pip, a build; its output is shown). ``acc-py app run`` passes the application's own code through.
"""
import os
import sys

from ._base import AccPyError, current_base

_EPILOG = """\
typical use:
  source <root>/base/pro/setup.sh     make the base active (optional for acc-py itself)
  acc-py venv ./venv                  a venv on this base; ./venv/bin/python -m pip install X
  acc-py init my_project              a new project: pip install -e ., pytest
  acc-py init-ci                      .gitlab-ci.yml testing on every supported base
  acc-py app lock && acc-py app deploy .

exit codes: 0 ok, 2 usage, 3 refused to overwrite, 4 base problem, 5 a command (pip) failed.
-v shows the commands acc-py runs and the traceback of an error.
"""


def _version(launcher):
    base = current_base(launcher)
    note = ""
    if base.site.get("status") == "deprecated":
        eol = base.site.get("end_of_life") or ""
        note = " (deprecated%s)" % (", end of life " + eol if eol else "")
    return "acc-py (Acc-Py base %s, patch %s%s) Python %s\nbase: %s\n" % (
        base.version, base.site.get("patch", "?"), note, base.python_full, base.dir)


def build_parser(launcher=None):
    import argparse

    from . import app, ci, init, venv

    class VersionAction(argparse.Action):
        def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                     help=None):
            super().__init__(option_strings, dest=dest, default=default,
                                                nargs=0, help=help)

        def __call__(self, parser, namespace, values, option_string=None):
            try:
                text = _version(launcher)
            except AccPyError as exc:
                parser.exit(exc.exit_code, "acc-py: error: %s\n" % exc)
            sys.stdout.write(text)
            parser.exit(0)

    parser = argparse.ArgumentParser(
        prog="acc-py",
        description="The Acc-Py base's user command: virtual environments, new projects, "
        "GitLab CI and application deployment on the Acc-Py base it belongs to.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=VersionAction,
                        help="show the base version and its Python, then exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the commands acc-py runs, and tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    venv.configure_parser(sub)
    init.configure_parser(sub)
    ci.configure_parser(sub)
    app.configure_parser(sub)
    return parser


class _Args:
    pass


def _fast_venv(argv):
    """``[-v] venv PATH [--prompt P] [--clear|--recreate]`` parsed without argparse (whose
    import costs a third of acc-py venv's time); None for anything else (help, errors)."""
    args = _Args()
    args.verbose, args.path, args.prompt, args.clear, args.recreate = False, None, None, False, False
    rest = list(argv)
    while rest and rest[0] in ("-v", "--verbose"):
        args.verbose = True
        rest.pop(0)
    if not rest or rest.pop(0) != "venv":
        return None
    while rest:
        a = rest.pop(0)
        if a in ("-v", "--verbose"):
            args.verbose = True
        elif a == "--clear":
            args.clear = True
        elif a == "--recreate":
            args.recreate = True
        elif a == "--prompt" and rest:
            args.prompt = rest.pop(0)
        elif a.startswith("--prompt="):
            args.prompt = a[len("--prompt="):]
        elif a.startswith("-") or args.path is not None:
            return None
        else:
            args.path = a
    if args.path is None or (args.clear and args.recreate):
        return None
    from . import venv

    args.func = venv.execute
    return args


def main(argv=None, launcher=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _fast_venv(argv)
    if args is None:
        parser = build_parser(launcher)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
    try:
        return args.func(args, current_base(launcher))
    except AccPyError as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        sys.stderr.write("acc-py: error: %s\n" % exc)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("acc-py: interrupted\n")
        return 130
    except OSError as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        where = (exc.filename and " (%s)" % exc.filename) or ""
        sys.stderr.write("acc-py: error: %s%s; check the path and its permissions\n"
                         % (exc.strerror or exc, where))
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(launcher=os.environ.get("ACC_PY_LAUNCHER")))

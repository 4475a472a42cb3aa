"""What every verb shares: the error classes, the current base, running a command.

Standard library only, Python 3.7+. Kept light: ``acc-py venv`` imports only this module and
``venv``; ``json`` is imported when the manifest's list of bases is first needed.
"""
import os
import sys


class AccPyError(Exception):
    """An error the user can fix: main() prints ``acc-py: error: <message>`` and exits."""

    exit_code = 1


class UsageError(AccPyError):
    """Bad arguments or names."""

    exit_code = 2


class RefusedError(AccPyError):
    """acc-py would overwrite or destroy something it did not make."""

    exit_code = 3


class BaseError(AccPyError):
    """The base is not usable for this: not found, wrong version, not an Acc-Py base."""

    exit_code = 4


class CommandError(AccPyError):
    """A command acc-py ran (pip, a build) failed; its output is shown above the message."""

    exit_code = 5


def _same_dir(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def logical_base_dir(candidate, version):
    """The base's name as users should keep it: ``<root>/base/<version>``, not ``pro`` nor the
    physical ``._<version>.<patch>``. The rule of setup.sh: a directory not named after the
    version whose sibling ``<version>`` is the same directory is known by that sibling."""
    candidate = os.path.normpath(candidate)
    if os.path.basename(candidate) != version:
        sibling = os.path.join(os.path.dirname(candidate), version)
        if os.path.isdir(sibling) and _same_dir(sibling, candidate):
            return sibling
    return candidate


class Base:
    """The Acc-Py base this acc-py belongs to (the one whose Python runs it)."""

    def __init__(self, directory, site_module):
        self.dir = directory
        self._mod = site_module
        self._site = None
        self.version = site_module.VERSION
        self.python_version = "%d.%d" % sys.version_info[:2]
        self.python_full = "%d.%d.%d" % sys.version_info[:3]
        self.bindir = os.path.join(directory, "bin")
        self.python = os.path.join(self.bindir, "python" + self.python_version)
        self.stdlib = os.path.join(directory, "lib", "python" + self.python_version)
        self.purelib = os.path.join(self.stdlib, "site-packages")

    @property
    def site(self):
        """The rendered settings as a dict (version, status, index_url, bases, ...)."""
        if self._site is None:
            self._site = self._mod.site()
        return self._site

    @property
    def bases(self):
        """Every base of the manifest: dicts with version, patch, python, status, ..."""
        return list(self.site.get("bases") or [])

    def index_url(self):
        """The index the base's pip uses: its pip.conf, else the one it was built with."""
        conf = os.path.join(self.dir, "pip.conf")
        try:
            with open(conf, encoding="utf-8") as f:
                section = None
                for line in f:
                    line = line.strip()
                    if line.startswith("[") and line.endswith("]"):
                        section = line[1:-1].strip()
                    elif section in ("global", "install") and "=" in line:
                        key, _, value = line.partition("=")
                        if key.strip().replace("_", "-") == "index-url" and value.strip():
                            return value.strip()
        except OSError:
            pass
        return self._mod.INDEX_URL


def load_site():
    """The settings the builder rendered into this base (``_site.py``)."""
    try:
        from . import _site
    except ImportError:
        raise BaseError(
            "this acc-py is not part of a built Acc-Py base (no %s); run the acc-py of a base: "
            "source <root>/base/pro/setup.sh"
            % os.path.join(os.path.dirname(os.path.abspath(__file__)), "_site.py")
        ) from None
    return _site


def current_base(launcher=None, site_module=None):
    """Find the base: ACC_PY_BASE (set by setup.sh), else where the launcher was called from,
    else the prefix of the running Python; the first one that is the running Python's base."""
    mod = site_module if site_module is not None else load_site()
    home = sys.base_prefix
    candidates = []
    if os.environ.get("ACC_PY_BASE"):
        candidates.append(os.environ["ACC_PY_BASE"])
    if launcher and os.sep in launcher:
        candidates.append(os.path.dirname(os.path.dirname(os.path.abspath(launcher))))
    for candidate in candidates:
        if _same_dir(candidate, home):
            home = candidate
            break
    return Base(logical_base_dir(os.path.abspath(home), mod.VERSION), mod)


def clean_env(extra=None, drop_virtual_env=True):
    """The environment for the Pythons acc-py runs: no PYTHON* variables that would change them
    (PYTHONPATH, PYTHONHOME, ...) and no active venv; the user's PIP_* settings stay."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "__PYVENV"))
        and not (drop_virtual_env and k == "VIRTUAL_ENV")
    }
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if extra:
        env.update(extra)
    return env


def run(cmd, what, verbose=False, cwd=None, env=None, capture=True):
    """Run ``cmd`` (a list). Show ``+ cmd`` with -v; on failure show its output and raise
    CommandError("<what> failed ...")."""
    import subprocess

    if verbose:
        sys.stderr.write("+ %s\n" % " ".join(_quote(c) for c in cmd))
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=env if env is not None else clean_env(),
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            text=True,
        )
    except OSError as exc:
        raise CommandError(
            "%s failed: cannot run %s: %s" % (what, cmd[0], exc.strerror)) from None
    if proc.returncode != 0:
        if capture and proc.stdout:
            sys.stderr.write(proc.stdout if proc.stdout.endswith("\n") else proc.stdout + "\n")
        raise CommandError(
            "%s failed (exit code %d, output above); rerun with -v to see the command"
            % (what, proc.returncode)
        )
    return proc.stdout if capture else ""


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def _quote(s):
    """shlex.quote without importing shlex (and its re)."""
    if s and all(c in _SAFE for c in s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def normalize_name(name):
    """PEP 503 normalized name: lower case, runs of -_. become -."""
    out = []
    prev_sep = False
    for c in name.lower():
        if c in "-_.":
            if not prev_sep:
                out.append("-")
            prev_sep = True
        else:
            out.append(c)
            prev_sep = False
    return "".join(out)

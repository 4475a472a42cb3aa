"""``acc-py init NAME``: a new project that installs with ``pip install -e .`` and tests green.

pyproject.toml (setuptools backend, dependencies declared, requires-python covering every
supported base of the manifest), the package with ``__init__.py`` and ``__main__.py``,
``tests/``, README.md and .gitignore. Nothing is overwritten; the name is checked first.
"""

from __future__ import annotations

import argparse
import keyword
import os
import sys

from accpy_core.errors import RefusedError, UsageError
from accpy_core.versions import DEPRECATED

from ._base import Base

HELP = "create a new Python project (pyproject.toml, package, tests) in ./NAME"

_KEYWORDS = frozenset(keyword.kwlist)
#: the standard library before 3.10 (sys.stdlib_module_names): the names most likely taken
_STDLIB_BEFORE_310 = """
    abc argparse array ast asyncio base64 bisect builtins calendar cmath code codecs
    collections copy csv ctypes datetime decimal difflib email enum errno fnmatch fractions
    functools gc getopt glob gzip hashlib heapq hmac html http importlib inspect io itertools
    json keyword locale logging math mmap multiprocessing numbers operator os pathlib pickle
    platform pprint queue random re select shelve shlex shutil signal site socket sqlite3 ssl
    stat statistics string struct subprocess sys tempfile textwrap threading time timeit
    tkinter token tokenize trace traceback types typing unittest urllib uuid venv warnings
    weakref xml zipfile zlib
"""
#: names a project must not take: the stdlib and what the base and tests use
_RESERVED = frozenset(getattr(sys, "stdlib_module_names", None) or _STDLIB_BEFORE_310.split()) | {
    "test",
    "tests",
    "acc_py",
    "numpy",
    "scipy",
    "pip",
    "setuptools",
}


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        f"{HELP}. NAME is the distribution name, as on the package index (lower case letters, "
        "digits, and - _ . between them); the importable package is NAME with - and . as _: "
        "`acc-py init name-of-package` makes name-of-package/ holding the package "
        "name_of_package/."
    )
    p.add_argument("name", metavar="NAME", help="the project's name, e.g. my-app")
    p.add_argument("--dir", help="where to create it (default: ./NAME); must be new or empty")


_SEPARATORS = "-_."


def _name_char(c: str) -> bool:
    return ("a" <= c <= "z") or ("0" <= c <= "9")


def package_name(name: str) -> str:
    """The importable package of distribution ``name``: runs of ``-_.`` become one ``_``
    (PEP 503's normalization, with ``_`` for ``-``)."""
    out: list[str] = []
    for c in name:
        if c in _SEPARATORS:
            if out and out[-1] != "_":
                out.append("_")
        else:
            out.append(c)
    return "".join(out)


def suggest(name: str) -> str:
    """A valid name close to ``name``: lower case, other characters as ``-``."""
    out: list[str] = []
    for c in name.strip().lower():
        if _name_char(c):
            out.append(c)
        elif out and out[-1] != "-":
            out.append("-")
    s = "".join(out).strip("-") or "my-project"
    if s[0].isdigit():
        s = "p" + s
    if package_name(s) in _KEYWORDS or package_name(s) in _RESERVED:
        s = s + "-project"
    return s


def check_name(name: str) -> str:
    """The package name of the project ``name``; UsageError unless ``name`` is a lower-case
    PEP 508 name whose package is importable and shadows nothing of Python or the base."""
    why = None
    package = package_name(name)
    if not name:
        why = "it is empty"
    elif not all(_name_char(c) or c in _SEPARATORS for c in name):
        why = "it must be lower case letters, digits, and - _ . between them"
    elif name[0] in _SEPARATORS or name[-1] in _SEPARATORS:
        why = "it must start and end with a letter or a digit"
    elif name[0].isdigit():
        why = f"its package {package} would not be importable (it starts with a digit)"
    elif package in _KEYWORDS or package in _RESERVED:
        why = f"its package would shadow the module {package!r} of Python or the base"
    if why:
        raise UsageError(f"invalid project name {name!r}: {why}; try: acc-py init {suggest(name)}")
    return package


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def requires_python(base: Base) -> str:
    """The range covering every supported base (not deprecated) and the current one."""
    minors = [_minor(b.python) for b in base.bases if b.status != DEPRECATED and b.python]
    minors.append(_minor(base.python_version))
    low = min(minors)
    return f">={low[0]}.{low[1]}"


def files(name: str, base: Base) -> dict[str, str]:
    """{relative path: text} of the new project ``name`` (checked)."""
    ver, pkg = base.version, package_name(name)
    return {
        "pyproject.toml": _PYPROJECT.format(
            name=name, pkg=pkg, requires=requires_python(base), base=ver
        ),
        os.path.join(pkg, "__init__.py"): _INIT.format(name=name),
        os.path.join(pkg, "__main__.py"): _MAIN.format(name=name, pkg=pkg),
        os.path.join("tests", f"test_{pkg}.py"): _TEST.format(name=name, pkg=pkg),
        "README.md": _README.format(name=name, pkg=pkg, base=ver),
        ".gitignore": _GITIGNORE,
    }


def execute(args: argparse.Namespace, base: Base) -> int:
    package = check_name(args.name)
    target = os.path.abspath(args.dir or args.name)
    if os.path.lexists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise RefusedError(
            f"{target} already exists and is not empty; acc-py init never overwrites: choose "
            "another name or --dir"
        )
    for rel, text in sorted(files(args.name, base).items()):
        path = os.path.join(target, rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    sys.stdout.write(
        f"Created project {args.name} (package {package}) in {target} "
        f"(requires-python {requires_python(base)})\n"
        f"next:\n  cd {os.path.relpath(target)}\n"
        "  acc-py venv venv\n  venv/bin/python -m pip install -e '.[test]'\n"
        "  venv/bin/python -m pytest\n  acc-py init-ci        (GitLab CI on every supported base)\n"
    )
    return 0


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
dynamic = ["version"]
description = "{name}: an Acc-Py project"
readme = "README.md"
# Every supported Acc-Py base (made with acc-py init on base {base}).
requires-python = "{requires}"
# What the code imports, without pins (an application pins with `acc-py app lock`).
# numpy and scipy come from the Acc-Py base; declare them here when {name} imports them.
dependencies = []

[project.optional-dependencies]
test = ["pytest"]
doc = ["sphinx"]

[project.scripts]
{name} = "{pkg}.__main__:main"

[tool.setuptools.dynamic]
version = {{ attr = "{pkg}.__version__" }}

[tool.setuptools.packages.find]
include = ["{pkg}", "{pkg}.*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_INIT = '''\
"""{name}."""

__version__ = "0.1.0"
'''

_MAIN = '''\
"""The command line of {name}: ``python -m {pkg}``, or the ``{name}`` command once installed."""
import argparse
import sys

from . import __version__


def main(argv=None):
    parser = argparse.ArgumentParser(prog="{name}", description=__doc__)
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    parser.parse_args(argv)
    print("Hello from {name} " + __version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''

_TEST = """\
import subprocess
import sys

import {pkg}
from {pkg}.__main__ import main


def test_main_says_hello(capsys):
    assert main([]) == 0
    assert "Hello from {name}" in capsys.readouterr().out


def test_python_m_shows_the_version():
    out = subprocess.run(
        [sys.executable, "-m", "{pkg}", "--version"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert {pkg}.__version__ in out
"""

_README = """\
# {name}

## Development

```sh
source /acc/local/share/python/acc-py/base/pro/setup.sh   # the Acc-Py base ({base} or newer)
acc-py venv venv
venv/bin/python -m pip install -e '.[test]'
venv/bin/python -m pytest
python -m {pkg} --version
```

`acc-py init-ci` adds a GitLab CI pipeline that tests on every supported Acc-Py base.
"""

_GITIGNORE = """\
__pycache__/
*.py[cod]
*.egg-info/
/build/
/dist/
/public/
/venv/
/.venv/
.pytest_cache/
"""

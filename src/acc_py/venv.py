"""``acc-py venv PATH``: a virtual environment on top of the current base, written directly.

What ``python -m venv --system-site-packages --without-pip`` makes, in a few milliseconds:
pyvenv.cfg (the keys this Python's venv writes), bin/python* symlinks, the activate scripts
rendered from the base's own ``venv/scripts`` templates, lib/pythonX.Y/site-packages, lib64 and
include. Differences, on purpose:

- ``home`` and the symlinks go through ``<root>/base/<version>/bin``, never the physical
  ``._<version>.<patch>`` tree nor ``pro``: the venv follows the patch releases of its base;
- no ensurepip: pip comes from the base (system site packages); ``bin/pip`` launchers run it;
- ``pip.conf`` in the venv names the site's index: pip reads ``<sys.prefix>/pip.conf``, so
  ``venv/bin/python -m pip install X`` uses the site index without sourcing anything.

One definition of what a venv holds: :func:`plan` (pure: the directories, symlinks and files,
with their contents and modes, for a base, a final path and a prompt), written by :func:`write`.
:mod:`acc_py._skeleton` serializes the same plan, with markers in place of the paths and the
prompt, for ``bin/acc-py`` (a static program) to instantiate without starting Python.

On the fast path of ``acc-py venv`` (see :mod:`acc_py.cli`): nothing heavier than shlex here.
"""

from __future__ import annotations

import os
import shlex
import sys

from accpy_core.errors import AccPyError, RefusedError, UsageError

from ._base import Base

#: typing.TYPE_CHECKING without importing typing at run time: mypy takes it as True
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

HELP = "create a virtual environment on the current base (numpy, scipy and pip from the base)"

#: The kinds of :class:`Entry`.
DIR, LINK, FILE = "dir", "link", "file"

#: What the activate templates' placeholders (``__VENV_DIR__``, ...) have in common. They are
#: replaced one after the other, so a value holding one is replaced again: the skeleton leaves
#: values with this to Python.
PLACEHOLDER_MARK = "__"

_PIP_LAUNCHER = """#!{python}
# -*- coding: utf-8 -*-
# pip of the Acc-Py base, installing into this venv (written by acc-py venv).
import re
import sys
from pip._internal.cli.main import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""

_PIP_CONF = """\
# pip configuration of this virtual environment, written by `acc-py venv` from the
# Acc-Py base {version}. pip reads <venv>/pip.conf (it is <sys.prefix>/pip.conf), so
# `<venv>/bin/python -m pip install X` uses the site's index without sourcing anything.
# Only index-url: an extra-index-url would invite dependency confusion. cert is empty: pip
# trusts what the base trusts (the host's store and the site's certificate authorities), not
# a bundle that a host's /etc/pip.conf names.
[global]
index-url = {index_url}
cert =
"""


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.description = (
        f"{HELP}. Apps can run PATH/bin/python directly: the venv carries the site's pip "
        "configuration (PATH/pip.conf) and follows patch releases of its base."
    )
    p.add_argument("path", metavar="PATH", help="where to create the venv")
    p.add_argument(
        "--prompt",
        help="prompt prefix when activated (default: the directory name; '.' means the current "
        "directory's name)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--clear", action="store_true", help="delete the contents of an existing venv first"
    )
    group.add_argument(
        "--recreate",
        action="store_true",
        help="rebuild an existing venv on the current base and reinstall what it had "
        "(requirements and editable projects); on failure the old venv is restored as it was",
    )


def execute(args: argparse.Namespace, base: Base) -> int:
    return make(base, args.path, prompt=args.prompt, clear=args.clear, recreate=args.recreate)


def make(
    base: Base, path: str, *, prompt: str | None = None, clear: bool = False, recreate: bool = False
) -> int:
    """``acc-py venv``: create (or ``recreate``) the venv at ``path`` and say how to use it."""
    if recreate:
        from . import _recreate

        return _recreate.recreate(base, path, prompt=prompt)
    env_dir = create(base, path, prompt=prompt, clear=clear)
    sys.stdout.write(message(base, env_dir))
    return 0


def message(base: Base, env_dir: str) -> str:
    """What ``acc-py venv`` prints once the venv at ``env_dir`` is made."""
    quoted = shlex.quote(env_dir)
    return (
        f"Created {env_dir} on Acc-Py base {base.version} (Python {base.python_full})\n"
        f"  activate: source {quoted}/bin/activate\n"
        f"  install:  {quoted}/bin/python -m pip install <package>\n"
    )


def is_venv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def read_cfg(path: str) -> dict[str, str]:
    """The keys of ``path``/pyvenv.cfg, lower case ({} if there is none)."""
    cfg = {}
    try:
        with open(os.path.join(path, "pyvenv.cfg"), encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.partition("=")
                if sep:
                    cfg[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return cfg


def _check_target(env_dir: str, clear: bool) -> None:
    if os.path.lexists(env_dir) and not os.path.isdir(env_dir):
        raise RefusedError(f"{env_dir} exists and is not a directory; choose another PATH")
    if os.pathsep in env_dir:
        raise UsageError(
            f"{env_dir} contains {os.pathsep!r}, which PATH cannot hold; choose another PATH"
        )
    if os.path.isdir(env_dir) and os.listdir(env_dir) and not is_venv(env_dir):
        raise RefusedError(
            f"{env_dir} is not empty and is not a venv; refusing to write into it (choose an "
            "empty or new directory)"
        )
    if clear and is_venv(env_dir):
        from accpy_core.fs import remove_tree

        for name in os.listdir(env_dir):
            remove_tree(os.path.join(env_dir, name))


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8")


def _templates(base: Base) -> list[tuple[str, str]]:
    """(name, path) of the base's venv activation templates (common + posix)."""
    root = os.path.join(base.stdlib, "venv", "scripts")
    out = []
    for sub in ("common", os.name):
        d = os.path.join(root, sub)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            full = os.path.join(d, name)
            if os.path.isfile(full):
                out.append((name, full))
    if not out:
        raise AccPyError(
            f"the base has no venv activation templates in {root}; the base is incomplete: "
            "reinstall it"
        )
    return out


def inputs(base: Base) -> list[str]:
    """The files of ``base`` that :func:`plan` reads, relative to the base directory: its
    pip.conf (the index) and the activation templates."""
    found = [full for _name, full in _templates(base)]
    conf = os.path.join(base.dir, "pip.conf")
    if os.path.isfile(conf):
        found.insert(0, conf)
    return [os.path.relpath(p, base.dir).replace(os.sep, "/") for p in found]


def _ps1_quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _unquoted(s: str) -> str:
    return s


def render_script(text: str, name: str, values: Sequence[tuple[str, str]], new_style: bool) -> str:
    """venv.EnvBuilder.replace_variables of this Python: plain replacement before gh-124651,
    quoted values (shell or PowerShell) after it (the templates then have bare placeholders)."""
    if new_style:
        quote: Callable[[str], str] = shlex.quote
        if name.endswith(".ps1"):
            quote = _ps1_quote
        elif name.endswith(".bat"):
            quote = _unquoted
        values = [(k, quote(v)) for k, v in values]
    for key, value in values:
        text = text.replace(key, value)
    return text


class Entry:
    """One thing a venv holds: a directory, a symlink (``data``: its target) or a file
    (``data``: its text; ``mode``: permission bits set after writing, None for the default)."""

    __slots__ = ("data", "kind", "mode", "path")

    def __init__(self, kind: str, path: str, data: str = "", mode: int | None = None) -> None:
        self.kind = kind
        self.path = path  # relative to the venv, "/"-separated
        self.data = data
        self.mode = mode

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Entry):
            return NotImplemented
        mine = (self.kind, self.path, self.data, self.mode)
        return mine == (other.kind, other.path, other.data, other.mode)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Entry({self.kind!r}, {self.path!r}, {self.data[:30]!r}..., {self.mode!r})"


def plan(
    base: Base,
    final: str,
    prompt: str | None = None,
    *,
    typed_prompt: str | None = None,
    name: str | None = None,
    base_dir: str | None = None,
) -> list[Entry]:
    """What the venv that will live at ``final`` (absolute) on ``base`` holds, in the order
    :func:`write` makes it. Pure but for reading :func:`inputs`.

    ``prompt``: the activated prompt (``--prompt``, ``.`` already replaced by the current
    directory's name); ``typed_prompt``: ``--prompt`` as typed, which pyvenv.cfg records
    (default ``prompt``); ``name``: the venv's name (default: the last component of
    ``final``); ``base_dir``: the base's logical directory (default ``base.dir``).
    """
    vi = sys.version_info
    pyver = base.python_version
    base_dir = base.dir if base_dir is None else base_dir
    env_name = os.path.basename(final) if name is None else name
    typed = prompt if typed_prompt is None else typed_prompt
    bindir = os.path.join(base_dir, "bin")
    python = os.path.join(bindir, "python" + pyver)

    entries = [Entry(DIR, "bin"), Entry(DIR, "include")]
    if vi >= (3, 11):  # the venv sysconfig scheme of 3.11+
        entries.append(Entry(DIR, "include/python" + pyver + getattr(sys, "abiflags", "")))
    lib = "lib/python" + pyver
    entries += [Entry(DIR, "lib"), Entry(DIR, lib), Entry(DIR, lib + "/site-packages")]
    if sys.maxsize > 2**32:
        entries.append(Entry(LINK, "lib64", "lib"))

    # pyvenv.cfg, with the keys this Python's own venv writes
    lines = [
        f"home = {bindir}",
        "include-system-site-packages = true",
        f"version = {vi[0]}.{vi[1]}.{vi[2]}",
    ]
    if prompt is not None and vi >= (3, 8):  # 3.9, and 3.8 since a bug-fix release
        lines.append(f"prompt = {prompt!r}")
    if vi >= (3, 11):
        lines.append(f"executable = {python}")
        cmd = [os.path.join(bindir, "acc-py"), "venv"]
        if typed is not None:
            cmd.append(f'--prompt="{typed}"')
        cmd.append(final)
        lines.append("command = " + " ".join(cmd))
    entries.append(Entry(FILE, "pyvenv.cfg", "\n".join(lines) + "\n"))
    if vi >= (3, 13):
        text = "# Created by venv; see https://docs.python.org/3/library/venv.html\n*\n"
        entries.append(Entry(FILE, ".gitignore", text))
    index_url = base.index_url()
    if index_url:
        text = _PIP_CONF.format(version=base.version, index_url=index_url)
        entries.append(Entry(FILE, "pip.conf", text))

    # bin/: python symlinks as venv makes them (the base's launchers run python3.X), through
    # the logical base directory
    exename = os.path.basename(python)
    entries.append(Entry(LINK, "bin/" + exename, python))
    for link in ("python", "python3", "python" + pyver):
        if link != exename:
            entries.append(Entry(LINK, "bin/" + link, exename))

    # activate scripts, from the base's own templates
    templates = _templates(base)
    common = [full for tname, full in templates if tname == "activate"]
    activate = _read(common[0]) if common else ""
    new_style = bool(activate) and '"__VENV_DIR__"' not in activate
    shown = prompt if prompt is not None else env_name
    if "(__VENV_PROMPT__)" not in activate:  # before 3.12 the value carries the parentheses
        shown = f"({shown}) "
    env_bin = os.path.join(final, "bin")
    values = [
        ("__VENV_DIR__", final),
        ("__VENV_NAME__", env_name),
        ("__VENV_PROMPT__", shown),
        ("__VENV_BIN_NAME__", "bin"),
        ("__VENV_PYTHON__", os.path.join(env_bin, "python")),
    ]
    for tname, full in templates:
        text = activate if full in common else _read(full)
        entries.append(Entry(FILE, "bin/" + tname, render_script(text, tname, values, new_style)))

    # pip launchers: the base's pip, installing into this venv
    launcher = _PIP_LAUNCHER.format(python=os.path.join(env_bin, "python"))
    for pip in ("pip", "pip3", "pip" + pyver):
        entries.append(Entry(FILE, "bin/" + pip, launcher, 0o755))
    return entries


def write(env_dir: str, entries: Sequence[Entry]) -> None:
    """Make ``entries`` (a :func:`plan`) in ``env_dir``, over what an existing venv has there."""
    if not os.path.isdir(env_dir):
        os.makedirs(env_dir)
    for entry in entries:
        path = os.path.join(env_dir, *entry.path.split("/"))
        if entry.kind == DIR:
            if not os.path.isdir(path):
                os.mkdir(path)
        elif entry.kind == LINK:
            _symlink(entry.data, path)
        else:
            _write(path, entry.data, entry.mode)


def create(
    base: Base,
    path: str,
    prompt: str | None = None,
    clear: bool = False,
    final_path: str | None = None,
) -> str:
    """Write a venv at ``path`` on ``base``; return its absolute path.

    ``final_path``: where the venv will live once renamed (the activate scripts and the pip
    launchers name it); default ``path``.
    """
    env_dir = os.path.abspath(path)
    final = os.path.abspath(final_path) if final_path else env_dir
    _check_target(env_dir, clear)
    shown = os.path.basename(os.getcwd()) if prompt == "." else prompt
    write(env_dir, plan(base, final, shown, typed_prompt=prompt))
    return env_dir


def _write(path: str, text: str, mode: int | None = None) -> None:
    if os.path.islink(path):
        os.unlink(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def _symlink(target: str, path: str) -> None:
    if os.path.lexists(path):
        if os.path.islink(path) and os.readlink(path) == target:
            return
        if os.path.isdir(path) and not os.path.islink(path):
            return  # a directory where venv makes lib64: venv leaves it too
        os.unlink(path)
    os.symlink(target, path)

"""The venv skeleton: what ``acc-py venv`` writes, with markers in place of what changes from one
venv to the next, so that ``bin/acc-py`` (a static program, ``recipes/acc-py.c.in``) can make a
venv without starting Python.

The build makes it with the base's own Python into ``share/acc-py/venv.skeleton``
(``inject.PAYLOAD``: ``python -I -B -m acc_py._skeleton --version V --index-url U TREE OUT``),
from :func:`acc_py.venv.plan`, the one definition of what a venv holds, called with these
markers as values:

- ``@ACC_PY_VENV_DIR@`` (``dir``): the venv's absolute path;
- ``@ACC_PY_VENV_NAME@`` (``name``): its last component;
- ``@ACC_PY_VENV_PROMPT@`` (``prompt``): ``--prompt`` (pyvenv.cfg has prompt lines only with it);
- ``@ACC_PY_BASE_DIR@`` (``base``): the base's logical directory, ``<root>/base/<version>``.

Why substituting them is exact: a *plain* value (not empty; only letters, digits and
``@%+=:,./-_``, shlex's safe set) needs no quoting where the plan puts it: shell-quoted it is
itself, PowerShell-quoted and as a Python repr it is ``'value'``. The markers are plain too, so
rendering the plan with a marker, then replacing the marker by a plain value, gives what
rendering with the value gives. Only plain values are instantiated (anything else is left to
the Python acc-py), and :func:`dumps` checks the skeleton it made: instantiated for sample
values it must give the plan made with them.

The format (version 1) is bytes: the line ``acc-py venv skeleton 1``, then records. A record is
a header line ``KIND WHEN MODE NAME LENGTH`` followed by LENGTH bytes of data (UTF-8, no NUL)
and a newline. The last record is ``end * - - 0``. KIND is one of:

- ``marker``: NAME (``dir``, ``name``, ``prompt``, ``base``) is written as the data;
- ``avoid``: a value of NAME (or of any, for ``*``) that contains the data is not
  instantiated (the placeholders of the activate templates; ``:`` in the venv's path);
- ``require``: the base file NAME (relative to the base) holds exactly the data, else the
  skeleton is out of date and is not used;
- ``message``: what ``acc-py venv`` prints when done;
- ``dir``, ``link`` (data: the target), ``file`` (data: the contents; MODE: the octal
  permission bits set after writing, or ``-`` for the default, 0666 less the umask): NAME,
  relative to the venv, in the order they are made. The venv directory itself comes first,
  implicitly.

WHEN: ``*`` always, ``+`` only with ``--prompt``, ``-`` only without (the plan is rendered both
ways; what differs, the prompt lines of pyvenv.cfg and the activate scripts, comes twice).
Markers are substituted in the data of ``message``, ``link`` and ``file`` records, in one pass (a
substituted value is never scanned again).
"""

from __future__ import annotations

import os
import re
import sys

from accpy_core.errors import AccPyError
from accpy_core.metadata import new_metadata
from accpy_core.names import BASE_KIND

from . import venv
from ._base import Base, read_base

#: typing.TYPE_CHECKING without importing typing at run time: mypy takes it as True
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

MAGIC = b"acc-py venv skeleton 1\n"
MARKERS = {
    "dir": "@ACC_PY_VENV_DIR@",
    "name": "@ACC_PY_VENV_NAME@",
    "prompt": "@ACC_PY_VENV_PROMPT@",
    "base": "@ACC_PY_BASE_DIR@",
}
#: shlex's safe set: what shlex.quote leaves alone
PLAIN = re.compile(r"[A-Za-z0-9@%+=:,./_-]+")
_KINDS = ("marker", "avoid", "require", "message", venv.DIR, venv.LINK, venv.FILE, "end")


def is_plain(value: str) -> bool:
    return PLAIN.fullmatch(value) is not None


class Record:
    """One record of a skeleton (see the module's docstring)."""

    __slots__ = ("data", "kind", "mode", "name", "when")

    def __init__(self, kind: str, when: str, mode: str, name: str, data: str) -> None:
        self.kind, self.when, self.mode, self.name, self.data = kind, when, mode, name, data

    def dump(self) -> bytes:
        if "\0" in self.data or not (is_plain(self.name) or self.name == "*"):
            raise AccPyError(f"venv skeleton record {self.name!r}: a NUL or an unusual name")
        data = self.data.encode("utf-8")
        head = f"{self.kind} {self.when} {self.mode} {self.name} {len(data)}\n"
        return head.encode("ascii") + data + b"\n"


def _entry_record(when: str, entry: venv.Entry) -> Record:
    if not is_plain(entry.path) or ".." in entry.path.split("/") or entry.path.startswith("/"):
        raise AccPyError(f"the venv plan has an unusual path {entry.path!r}; report this as a bug")
    mode = "-" if entry.mode is None else f"{entry.mode:04o}"
    return Record(entry.kind, when, mode, entry.path, entry.data)


def dumps(base: Base) -> bytes:
    """The skeleton of ``base``'s venvs, checked against :func:`acc_py.venv.plan`."""
    marks = MARKERS
    records = [Record("marker", "*", "-", name, marker) for name, marker in marks.items()]
    records.append(Record("avoid", "*", "-", "*", venv.PLACEHOLDER_MARK))
    records.append(Record("avoid", "*", "-", "dir", os.pathsep))
    for rel in venv.inputs(base):
        with open(os.path.join(base.dir, rel), "rb") as f:
            records.append(Record("require", "*", "-", rel, f.read().decode("utf-8")))
    records.append(Record("message", "*", "-", "-", venv.message(base, marks["dir"])))
    name, base_dir = marks["name"], marks["base"]
    without = venv.plan(base, marks["dir"], None, name=name, base_dir=base_dir)
    with_prompt = venv.plan(base, marks["dir"], marks["prompt"], name=name, base_dir=base_dir)
    if [(e.kind, e.path) for e in without] == [(e.kind, e.path) for e in with_prompt]:
        for a, b in zip(without, with_prompt):
            if a == b:
                records.append(_entry_record("*", a))
            else:
                records += [_entry_record("-", a), _entry_record("+", b)]
    else:
        records += [_entry_record("-", e) for e in without]
        records += [_entry_record("+", e) for e in with_prompt]
    records.append(Record("end", "*", "-", "-", ""))
    data = MAGIC + b"".join(r.dump() for r in records)
    _check(base, data)
    return data


def loads(data: bytes) -> list[Record]:
    """The records of a skeleton; AccPyError if it is malformed or truncated."""
    if not data.startswith(MAGIC):
        raise AccPyError("not an acc-py venv skeleton (version 1)")
    pos = len(MAGIC)
    records: list[Record] = []
    while True:
        eol = data.find(b"\n", pos)
        fields = data[pos:eol].decode("ascii", "replace").split(" ") if eol >= 0 else []
        if len(fields) != 5 or fields[0] not in _KINDS or not fields[4].isdigit():
            raise AccPyError(f"malformed venv skeleton record at byte {pos}")
        kind, when, mode, name, length = fields
        start, stop = eol + 1, eol + 1 + int(length)
        if data[stop : stop + 1] != b"\n":
            raise AccPyError(f"truncated venv skeleton record at byte {pos}")
        text = data[start:stop].decode("utf-8")
        pos = stop + 1
        if kind == "end":
            if pos != len(data):
                raise AccPyError("data after the end of the venv skeleton")
            return records
        records.append(Record(kind, when, mode, name, text))


def instantiate(
    records: Sequence[Record],
    env_dir: str,
    base_dir: str,
    prompt: str | None,
    read: Callable[[str], bytes | None],
) -> tuple[str, list[venv.Entry]] | None:
    """(message, entries) of the venv at ``env_dir`` (absolute, normalized), as ``bin/acc-py``
    makes it; None where it leaves the venv to Python (a value that is not plain or that a
    record avoids, a required base file that differs, ``--prompt .``, which names the current
    directory). ``read(rel)``: a base file's bytes."""
    if prompt == ".":
        return None
    name = os.path.basename(env_dir)
    shown = name if prompt is None else prompt
    values = {"dir": env_dir, "name": name, "base": base_dir, "prompt": shown}
    if not all(is_plain(v) for v in values.values()):
        return None
    markers = {}
    text = ""
    entries = []
    when = "+" if prompt is not None else "-"
    for r in records:
        if r.kind == "marker":
            markers[r.data] = values[r.name]
        elif r.kind == "avoid":
            if any(r.data in v for k, v in values.items() if r.name in ("*", k)):
                return None
        elif r.kind == "require":
            if read(r.name) != r.data.encode("utf-8"):
                return None
        elif r.when in ("*", when):
            pattern = "|".join(re.escape(m) for m in markers)
            data = re.sub(pattern, lambda m: markers[m.group()], r.data) if markers else r.data
            if r.kind == "message":
                text = data
            else:
                mode = None if r.mode == "-" else int(r.mode, 8)
                entries.append(venv.Entry(r.kind, r.name, data, mode))
    return text, entries


def _check(base: Base, data: bytes) -> None:
    """The skeleton gives, for sample values, what the plan gives for them."""
    records = loads(data)
    marks = list(MARKERS.values())
    if any(a != b and a.startswith(b) for a in marks for b in marks):
        raise AccPyError("a venv skeleton marker is a prefix of another; report this as a bug")

    def read(rel: str) -> bytes | None:
        with open(os.path.join(base.dir, rel), "rb") as f:
            return f.read()

    env_dir = "/sample/venvs/v-1.0"
    base_dir = f"/sample/acc-py/base/{base.version}"
    for prompt in (None, "my-prompt"):
        got = instantiate(records, env_dir, base_dir, prompt, read)
        want = venv.plan(base, env_dir, prompt, base_dir=base_dir)
        if got != (venv.message(base, env_dir), want):
            raise AccPyError(
                f"the venv skeleton does not reproduce acc_py.venv.plan (prompt {prompt!r}): a "
                "marker is not substituted verbatim; report this as a bug"
            )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m acc_py._skeleton [--version V --index-url U] BASE OUT``: write the skeleton
    of the base at BASE (described by its ACC-PY.json, or by the options before it has one)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m acc_py._skeleton", description=main.__doc__)
    parser.add_argument("--version", help="the base version (default: from BASE/ACC-PY.json)")
    parser.add_argument("--index-url", default="", help="the site's index (with --version)")
    parser.add_argument("base", metavar="BASE")
    parser.add_argument("out", metavar="OUT")
    args = parser.parse_args(argv)
    try:
        if args.version:
            python = "{}.{}.{}".format(*sys.version_info[:3])
            metadata = new_metadata(
                BASE_KIND, version=args.version, patch=0, python=python, platform="",
                site={"index_url": args.index_url},
            )  # fmt: skip
            base = Base(os.path.abspath(args.base), metadata)
        else:
            base = read_base(os.path.abspath(args.base))
        data = dumps(base)
    except AccPyError as exc:
        sys.stderr.write(f"acc-py: error: {exc}\n")
        return exc.exit_code
    with open(args.out, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())

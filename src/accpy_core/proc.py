"""The one subprocess wrapper of every Acc-Py tool.

List arguments only; ``+ cmd`` logged at debug level (``-v``); output captured and shown in the
error when the command fails; a clean environment for running a base's Python: no ``PYTHON*``
variable (PYTHONPATH, PYTHONHOME, ...) and no active venv, as python-build-standalone's own
tests run their interpreters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .errors import CommandError

log = logging.getLogger(__name__)

#: what changes how a Python or its pip behaves: never inherited by a Python the builder runs
_BUILDER_DROPS = ("PYTHON", "PIP_", "UV_", "VIRTUAL_ENV", "CONDA_", "LD_LIBRARY_PATH", "LD_PRELOAD")
#: what changes which Python runs or what it imports: never inherited on a user's behalf either
_USER_DROPS = ("PYTHON", "__PYVENV", "VIRTUAL_ENV")
_TAIL_LINES = 30


def quote_command(argv: Sequence[str]) -> str:
    """``shlex.join`` (Python 3.8+)."""
    return " ".join(shlex.quote(a) for a in argv)


def clean_env(extra: Mapping[str, str] | None = None, *, user: bool = False) -> dict[str, str]:
    """The environment to run a base's Python in.

    ``user=False`` (the builder): no PYTHON*, PIP_*, UV_*, CONDA_*, LD_* or venv variables, pip
    reads no configuration file, no usage record is sent (the builder is not a user).
    ``user=True`` (acc-py, on a user's behalf): no PYTHON* or venv variables; the user's pip
    settings stay.
    """
    drops = _USER_DROPS if user else _BUILDER_DROPS
    env = {k: v for k, v in os.environ.items() if not k.startswith(drops)}
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if not user:
        env["PIP_CONFIG_FILE"] = os.devnull
        env["PIP_NO_INPUT"] = "1"
        env["ACC_PY_NO_USAGE_LOG"] = "1"
        env.setdefault("LC_ALL", "C.UTF-8")
    if extra:
        env.update(extra)
    return env


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    what: str | None = None,
    log_to: Path | None = None,
) -> str:
    """Run ``cmd``; return its stdout. On failure raise CommandError with the output's tail.

    ``log_to``: stdout and stderr go to that file instead (a long build's log), "" is returned
    and the error names the file."""
    return complete(cmd, env=env, cwd=cwd, what=what, log_to=log_to).stdout or ""


def complete(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    what: str | None = None,
    check: bool = True,
    capture: bool = True,
    log_to: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """:func:`run`, for a caller that wants the process: ``check=False`` returns a failed one
    instead of raising; ``capture=False`` lets the output through to this process's own."""
    argv = [os.fspath(c) for c in cmd]
    log.debug("+ %s", quote_command(argv))
    out: int | IO[str] | None = subprocess.PIPE if capture else None
    try:
        with contextlib.ExitStack() as stack:
            if log_to is not None:
                out = stack.enter_context(log_to.open("w", encoding="utf-8"))
            proc = subprocess.run(
                argv,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT if log_to is not None else out,
                text=True,
                check=False,
            )
    except OSError as exc:
        raise CommandError(f"{what or argv[0]}: cannot run {argv[0]}: {exc.strerror}") from exc
    if check and proc.returncode != 0:
        label = what or quote_command(argv)
        if log_to is not None:
            output = log_to.read_text(encoding="utf-8", errors="replace")
            label += f" (whole output: {log_to})"
        else:
            output = (proc.stdout or "") + (proc.stderr or "")
        tail = "\n".join(output.strip().splitlines()[-_TAIL_LINES:])
        raise CommandError(f"{label} failed with exit code {proc.returncode}:\n{tail}")
    return proc


def succeeds(cmd: Sequence[str | os.PathLike[str]]) -> bool:
    """Whether ``cmd`` exits 0 (its output discarded): a probe, or a best-effort clean-up."""
    return complete(cmd, check=False).returncode == 0


def processes_using(tree: Path, proc_root: Path = Path("/proc")) -> list[tuple[int, str]]:
    """The processes of this host that run from ``tree``: their executable, working directory or
    a mapped file (a shared library, a memory-mapped wheel) is inside it; ``(pid, command)``.

    Only this host is seen, and only the processes its user may inspect: other consoles that
    mount the same NFS tree are not.
    """
    inside = os.fspath(tree.resolve()) + os.sep
    found: list[tuple[int, str]] = []
    for entry in proc_root.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = [os.readlink(entry / "exe"), os.readlink(entry / "cwd")]
            with open(entry / "maps", encoding="utf-8", errors="replace") as maps:
                links += [line.split(None, 5)[-1].strip() for line in maps if "/" in line]
            if not any((link + os.sep).startswith(inside) for link in links):
                continue
            raw = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to inspect
            continue
        command = quote_command([a.decode("utf-8", "replace") for a in raw if a])
        found.append((int(entry.name), command))
    return found

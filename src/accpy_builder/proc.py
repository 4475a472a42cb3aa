"""The one subprocess wrapper.

List arguments only, ``+ cmd`` echoed at ``-v``, captured output shown on failure, and a clean
environment (no ``PYTHON*`` variables, no pip configuration) when running a built interpreter.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import CommandError

log = logging.getLogger(__name__)

#: Variables that would make a built interpreter or its pip behave differently from a user's.
_DROPPED_PREFIXES = (
    "PYTHON",
    "PIP_",
    "UV_",
    "VIRTUAL_ENV",
    "CONDA_",
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without PYTHON*/PIP_*/UV_*/venv variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env["ACC_PY_NO_USAGE_LOG"] = "1"  # a base's interpreter run by the builder is not a user
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
) -> str:
    """Run ``cmd``; return its stdout. On failure raise CommandError with the captured output."""
    argv = [os.fspath(c) for c in cmd]
    log.debug("+ %s", shlex.join(argv))
    try:
        proc = subprocess.run(
            argv,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        tail = "\n".join(output.splitlines()[-30:])
        label = what or shlex.join(argv)
        raise CommandError(f"{label} failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout

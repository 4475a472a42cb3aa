#!/opt/acc-py/venvs/acc-py-venv/bin/python -I
"""The entrypoint of the app_exec images: run the command, pass signals to it, exit as it did.

``acc-py-entrypoint CMD [ARG...]``: CMD runs as a child; SIGTERM, SIGINT, SIGHUP, SIGQUIT,
SIGUSR1, SIGUSR2 and SIGWINCH sent to the entrypoint go to it; the entrypoint reaps orphans
(it is PID 1 in a container) and exits with CMD's exit code, or 128+N when a signal N ended it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH")


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write("acc-py-entrypoint: no command given (set CMD or pass one)\n")
        return 2
    try:
        child = subprocess.Popen(argv)
    except OSError as exc:
        sys.stderr.write(f"acc-py-entrypoint: cannot run {argv[0]}: {exc.strerror}\n")
        return 127 if isinstance(exc, FileNotFoundError) else 126

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signum)

    for name in FORWARDED:
        signal.signal(getattr(signal, name), forward)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child.pid:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

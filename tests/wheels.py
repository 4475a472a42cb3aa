"""Real wheels from the package index, downloaded once into the test cache for a given Python."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from accpy_core.proc import clean_env

#: the platforms a base of this site installs wheels for, newest first
PLATFORMS = (
    "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
    "manylinux_2_5_x86_64", "manylinux1_x86_64",
)  # fmt: skip


def download(dest: Path, *args: str, python: str = "3.11") -> None:
    """``pip download`` binary wheels for CPython ``python`` on those platforms into ``dest``."""
    abi = "cp" + python.replace(".", "")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp", "--abi", abi,
            *(a for p in PLATFORMS for a in ("--platform", p)),
            "--disable-pip-version-check", "-d", str(dest), *args,
        ],
        env=clean_env(), check=True, timeout=900,
    )  # fmt: skip


def cached(name: str, wanted: str, fetch: Callable[[Path], None]) -> Path:
    """``build_cache()/name``, filled by ``fetch(dest)`` unless it already holds ``wanted``."""
    from conftest import build_cache

    dest = build_cache() / name
    marker = dest / ".complete"
    if marker.is_file() and marker.read_text() == wanted:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    fetch(dest)
    marker.write_text(wanted)
    return dest

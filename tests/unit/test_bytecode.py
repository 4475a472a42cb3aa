"""Sourceless bytecode for the modules every start imports (one stat fewer per start)."""

from __future__ import annotations

import py_compile
import subprocess
import sys
from pathlib import Path

from accpy_builder.bytecode import make_sourceless


def test_sitecustomize_becomes_sourceless_and_still_imports(tmp_path: Path) -> None:
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    stdlib = tmp_path / "lib" / f"python{minor}"
    stdlib.mkdir(parents=True)
    source = stdlib / "sitecustomize.py"
    source.write_text("MARK = 'hook ran'\n")
    py_compile.compile(str(source), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert make_sourceless(tmp_path, minor) == ["sitecustomize"]
    assert not source.exists() and (stdlib / "sitecustomize.pyc").is_file()
    assert (tmp_path / "share/acc-py/sitecustomize.py").read_text() == "MARK = 'hook ran'\n"
    assert not list((stdlib / "__pycache__").iterdir())
    probe = "import sitecustomize as s; print(s.MARK, s.__spec__.origin)"
    out = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(stdlib)!r}); {probe}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out == f"hook ran {stdlib / 'sitecustomize.pyc'}\n"
    assert make_sourceless(tmp_path, minor) == []  # nothing left to move: a no-op

"""The builder's command line: help, exit codes and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT, run_builder

from accpy_core.errors import ManifestError, SourceError


def test_help_lists_the_commands() -> None:
    proc = run_builder("--help")
    assert proc.returncode == 0
    assert "base" in proc.stdout and "manifest" in proc.stdout
    base = run_builder("base", "--help")
    for option in ("--interpreter", "--pbs-mirror", "--platform", "--index-url", "--cache-dir"):
        assert option in base.stdout


def test_build_base_py_is_the_same_cli() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, str(PROJECT / "build_base.py"), "--help"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0 and "acc-py-build" in proc.stdout


def test_manifest_lists_every_base() -> None:
    proc = run_builder("manifest", "--manifest", str(PROJECT / "versions.yaml"))
    assert proc.returncode == 0, proc.stderr
    for version in ("2020.11", "2021.12", "2023.06", "2024.12", "2026.01"):
        assert version in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["base", "2023.6"], "did you mean '2023.06'"),
        (["base", "2023.06", "--platform", "linux_x86_64"], "PLATFORM='linux_x86_64'"),
        (["base", "2023.06", "--platform", "manylinux_2_99_x86_64"], "unknown platform tag"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(
    args: list[str], needle: str, tmp_path: Path
) -> None:
    proc = run_builder(*args, "--manifest", str(PROJECT / "versions.yaml"), "--work-dir",
                       str(tmp_path / "b"), "--dist-dir", str(tmp_path / "d"))  # fmt: skip
    assert proc.returncode == ManifestError.exit_code
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_adopting_a_directory_that_is_not_a_prefix(tmp_path: Path) -> None:
    proc = run_builder(
        "base", "2023.06", "--manifest", str(PROJECT / "versions.yaml"),
        "--interpreter", str(tmp_path), "--work-dir", str(tmp_path / "b"),
        "--dist-dir", str(tmp_path / "d"),
    )  # fmt: skip
    assert proc.returncode == SourceError.exit_code
    assert "is not a CPython install prefix" in proc.stderr and "INTERPRETER=auto" in proc.stderr


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    proc = run_builder("-v", "base", "2023.6", "--manifest", str(PROJECT / "versions.yaml"))
    assert proc.returncode == ManifestError.exit_code and "Traceback" in proc.stderr


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [
        ("--index-url", "http://pypi.example.org/simple/", "INDEX_URL="),
        ("--index-url", "not a url", "INDEX_URL="),
        ("--usage-collector", "collector-without-port", "USAGE_COLLECTOR="),
    ],
)
def test_overrides_are_validated(option: str, value: str, needle: str, tmp_path: Path) -> None:
    proc = run_builder(
        "base", "2023.06", "--manifest", str(PROJECT / "versions.yaml"), option, value,
        "--interpreter", "auto", "--work-dir", str(tmp_path / "b"),
        "--dist-dir", str(tmp_path / "d"),
    )  # fmt: skip
    assert proc.returncode == ManifestError.exit_code and needle in proc.stderr
    assert not (tmp_path / "b").exists()  # refused before any work


def test_unsafe_values_never_reach_the_base_files() -> None:
    import dataclasses

    from accpy_builder.inject import template_values
    from accpy_core.errors import InjectError
    from accpy_manifest import load_manifest

    manifest = load_manifest(PROJECT / "versions.yaml")
    site = dataclasses.replace(manifest.site, index_url='https://host/simple/"; import os; "')
    with pytest.raises(InjectError, match="cannot go into the base's files"):
        template_values(manifest.bases[2], site)
    assert template_values(manifest.bases[2], manifest.site)["INDEX_URL"] == manifest.site.index_url

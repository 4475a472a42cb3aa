"""Each pre-packing check refuses what it should, naming the offending file (real ELF files)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accpy_builder.checks import check_elves, check_modes_and_links, check_no_build_paths
from accpy_builder.relocate import patchelf
from accpy_core.errors import CheckError, ManifestError

SYSTEM_TOOL = Path(shutil.which("true") or "/bin/true").resolve()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "2023.06"
    (root / "bin").mkdir(parents=True)
    (root / "lib").mkdir()
    shutil.copyfile(SYSTEM_TOOL, root / "bin" / "tool")
    (root / "bin" / "tool").chmod(0o755)
    return root


def _patchelf(*args: str | Path) -> None:
    subprocess.run([patchelf(), *map(str, args)], check=True)


def test_a_clean_tree_passes_and_gets_an_honest_tag(tree: Path) -> None:
    report = check_elves(tree, "auto")
    assert report.platform.startswith("manylinux_2_") and report.elf_files == 1
    assert report.max_glibc is not None


def test_rpath_outside_the_tree(tree: Path) -> None:
    _patchelf("--set-rpath", "/usr/lib/x86_64-linux-gnu", tree / "bin" / "tool")
    with pytest.raises(CheckError, match=r"RPATH/RUNPATH entries outside") as err:
        check_elves(tree, "auto")
    assert "bin/tool: /usr/lib/x86_64-linux-gnu" in str(err.value)


def test_origin_rpath_that_escapes_the_tree(tree: Path) -> None:
    _patchelf("--set-rpath", "$ORIGIN/../../elsewhere", tree / "bin" / "tool")
    with pytest.raises(CheckError, match=r"bin/tool: \$ORIGIN/\.\./\.\./elsewhere"):
        check_elves(tree, "auto")


def test_needed_library_neither_bundled_nor_whitelisted(tree: Path) -> None:
    _patchelf("--add-needed", "libnot-there.so.1", tree / "bin" / "tool")
    with pytest.raises(CheckError, match=r"bin/tool needs libnot-there\.so\.1"):
        check_elves(tree, "manylinux_2_41_x86_64")


def test_needed_library_found_in_the_tree_through_origin(tree: Path) -> None:
    lib = tree / "lib" / "libextra.so.1"
    shutil.copyfile(SYSTEM_TOOL, lib)  # any ELF will do as the file the loader would find
    _patchelf("--add-needed", "libextra.so.1", tree / "bin" / "tool")
    _patchelf("--set-rpath", "$ORIGIN/../lib", tree / "bin" / "tool")
    assert check_elves(tree, "manylinux_2_41_x86_64").elf_files == 2


def test_symbol_versions_newer_than_the_platform(tree: Path) -> None:
    with pytest.raises(CheckError) as err:
        check_elves(tree, "manylinux_2_5_x86_64")
    message = str(err.value)
    assert "newer than manylinux_2_5_x86_64 allows (GLIBC <= 2.5)" in message
    assert "bin/tool needs GLIBC_" in message and "PLATFORM=auto" in message


def test_unknown_platform_tag(tree: Path) -> None:
    with pytest.raises(ManifestError, match=r"unknown platform tag"):
        check_elves(tree, "manylinux_2_99_x86_64")


def test_build_path_in_a_file(tree: Path) -> None:
    (tree / "lib" / "leak.txt").write_text("prefix=/work/build/2023.06/tree\n")
    with pytest.raises(CheckError, match=r"lib/leak\.txt contains /work/build"):
        check_no_build_paths(tree, ["/work/build"])
    check_no_build_paths(tree, ["/somewhere/else"])


def test_world_writable_and_setuid(tree: Path) -> None:
    (tree / "lib" / "open.txt").write_text("x")
    (tree / "lib" / "open.txt").chmod(0o666)
    (tree / "bin" / "tool").chmod(0o4755)
    with pytest.raises(CheckError) as err:
        check_modes_and_links(tree)
    assert "lib/open.txt (world-writable)" in str(err.value)
    assert "bin/tool (setuid/setgid)" in str(err.value)


def test_symlinks_leaving_the_tree(tree: Path) -> None:
    os.symlink("/etc/passwd", tree / "lib" / "abs")
    os.symlink("../../outside", tree / "lib" / "rel")
    os.symlink("../bin/tool", tree / "lib" / "fine")
    with pytest.raises(CheckError) as err:
        check_modes_and_links(tree)
    assert "lib/abs -> /etc/passwd" in str(err.value)
    assert "lib/rel -> ../../outside" in str(err.value)
    assert "lib/fine" not in str(err.value)

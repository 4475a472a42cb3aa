"""inject(): recipes placed in a tree, templates rendered, modes, symlinks and refusals."""

from __future__ import annotations

import configparser
import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from conftest import PROJECT

from accpy_builder.errors import BuildError
from accpy_builder.inject import InjectError, inject, render, template_values
from accpy_builder.plan import BaseSpec, PbsAsset, Site

BASE = BaseSpec(
    version="2023.06",
    patch=2,
    python="3.11.4",
    interpreter=PbsAsset("20230726", "cpython.tar.gz", "0" * 64),
    packages=(),
    status="deprecated",
    end_of_life=dt.date(2025, 6, 30),
)
SITE = Site(
    index_url="https://pypi.example.org/simple/",
    usage_collector="10.0.0.1:5000",
    install_root="/acc",
)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    t = tmp_path / "tree"
    (t / "bin").mkdir(parents=True)
    (t / "bin" / "python3.11").write_text("#!/bin/sh\n")
    (t / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    return t


def project(tmp_path: Path, files: dict[str, str], setup: str = "echo @VERSION@\n") -> Path:
    proj = tmp_path / "project"
    (proj / "recipes").mkdir(parents=True)
    (proj / "setup.sh.in").write_text(setup)
    for rel, text in files.items():
        path = proj / "recipes" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return proj


def test_render_every_token() -> None:
    values = template_values(BASE, SITE)
    text = "".join(f"{k}=@{k}@\n" for k in values)
    out = render(text, values, "x.in")
    assert "VERSION=2023.06\n" in out
    assert "PATCH=2\n" in out
    assert "PYTHON_VERSION=3.11\n" in out
    assert "PYTHON_FULL_VERSION=3.11.4\n" in out
    assert "STATUS=deprecated\n" in out
    assert "END_OF_LIFE=2025-06-30\n" in out
    assert "INDEX_URL=https://pypi.example.org/simple/\n" in out
    assert "USAGE_COLLECTOR=10.0.0.1:5000\n" in out
    assert "PLATFORM=manylinux_2_28_x86_64\n" in out
    assert template_values(BASE, SITE, "linux_x86_64")["PLATFORM"] == "linux_x86_64"


def test_end_of_life_empty_when_none() -> None:
    base = BaseSpec("2024.12", 1, "3.12.1", BASE.interpreter, ())
    assert template_values(base, SITE)["END_OF_LIFE"] == ""


def test_ordinary_at_signs_are_left_alone() -> None:
    text = 'mail acc-py@cern.ch; "$@"; @lower@; a@b@c; @VERSION@\n'
    assert render(text, template_values(BASE, SITE), "x") == (
        'mail acc-py@cern.ch; "$@"; @lower@; a@b@c; 2023.06\n'
    )


def test_unknown_token_names_file_and_line(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"motd.in": "line one\nversion @VERSON@\n"})
    with pytest.raises(InjectError) as err:
        inject(tree, BASE, SITE, proj)
    msg = str(err.value)
    assert f"{proj}/recipes/motd.in:2:" in msg
    assert "@VERSON@" in msg
    assert "did you mean @VERSION@" in msg
    assert isinstance(err.value, BuildError)


def test_copied_verbatim_and_modes(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"share/doc/raw.txt": "keep @VERSION@ as is\n", "bin/acc-py": "#!x\n"})
    (proj / "recipes" / "bin" / "acc-py").chmod(0o700)
    (proj / "recipes" / "share" / "doc" / "raw.txt").chmod(0o600)
    written = inject(tree, BASE, SITE, proj)
    assert set(written) == {Path("share/doc/raw.txt"), Path("bin/acc-py"), Path("setup.sh")}
    assert (tree / "share/doc/raw.txt").read_text() == "keep @VERSION@ as is\n"
    assert mode(tree / "share/doc/raw.txt") == 0o644
    assert mode(tree / "bin/acc-py") == 0o755
    assert mode(tree / "share") == 0o755
    assert mode(tree / "share/doc") == 0o755
    assert (tree / "setup.sh").read_text() == "echo 2023.06\n"
    assert mode(tree / "setup.sh") == 0o644


def test_path_segments(tmp_path: Path, tree: Path) -> None:
    proj = project(
        tmp_path, {"@stdlib@/X.in": "@PYTHON_VERSION@", "@purelib@/hook.pth": "import x"}
    )
    written = inject(tree, BASE, SITE, proj)
    assert Path("lib/python3.11/X") in written
    assert (tree / "lib/python3.11/X").read_text() == "3.11"
    assert (tree / "lib/python3.11/site-packages/hook.pth").read_text() == "import x"


def test_unknown_path_segment(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"@platlib@/x": ""})
    with pytest.raises(InjectError, match="unknown path segment @platlib@"):
        inject(tree, BASE, SITE, proj)


def test_symlinks_are_reproduced(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"pip.conf.in": "[global]\nindex-url = @INDEX_URL@\n"})
    link_dir = proj / "recipes" / "etc" / "xdg" / "pip"
    link_dir.mkdir(parents=True)
    (link_dir / "pip.conf").symlink_to("../../../pip.conf")
    inject(tree, BASE, SITE, proj)
    link = tree / "etc/xdg/pip/pip.conf"
    assert link.is_symlink()
    assert os.readlink(link) == "../../../pip.conf"
    assert link.read_text() == "[global]\nindex-url = https://pypi.example.org/simple/\n"


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside"])
def test_unsafe_symlinks_refused(tmp_path: Path, tree: Path, target: str) -> None:
    proj = project(tmp_path, {})
    (proj / "recipes" / "etc").mkdir()
    (proj / "recipes" / "etc" / "link").symlink_to(target)
    with pytest.raises(InjectError, match=r"symlink|outside"):
        inject(tree, BASE, SITE, proj)


def test_refuses_to_overwrite_the_interpreter(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"bin/python3.11": "evil"})
    with pytest.raises(InjectError, match=r"would overwrite bin/python3\.11"):
        inject(tree, BASE, SITE, proj)
    assert (tree / "bin/python3.11").read_text() == "#!/bin/sh\n"


def test_two_recipes_for_one_destination(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"a.conf": "", "a.conf.in": ""})
    with pytest.raises(InjectError, match=r"both produce a\.conf"):
        inject(tree, BASE, SITE, proj)


def test_pycache_ignored_and_setup_required(tmp_path: Path, tree: Path) -> None:
    proj = project(tmp_path, {"__pycache__/x.pyc": "", "tool.pyc": ""})
    assert inject(tree, BASE, SITE, proj) == [Path("setup.sh")]
    (proj / "setup.sh.in").unlink()
    with pytest.raises(InjectError, match=r"setup\.sh\.in is missing"):
        inject(tree, BASE, SITE, proj)


# ---- the project's own recipes ------------------------------------------------------------------


def test_project_recipes(tmp_path: Path, tree: Path) -> None:
    written = inject(tree, BASE, SITE, PROJECT)
    for rel in (
        "pip.conf",
        "etc/xdg/pip/pip.conf",
        "lib/python3.11/EXTERNALLY-MANAGED",
        "setup.sh",
        "setup.csh",
    ):
        assert Path(rel) in written
    conf = configparser.ConfigParser()
    conf.read(tree / "etc/xdg/pip/pip.conf")
    assert dict(conf["global"]) == {"index-url": SITE.index_url}  # no extra index, no trusted-host
    assert os.readlink(tree / "etc/xdg/pip/pip.conf") == "../../../pip.conf"
    marker = configparser.ConfigParser(interpolation=None)
    marker.read(tree / "lib/python3.11/EXTERNALLY-MANAGED")
    error = marker["externally-managed"]["Error"]
    assert "Acc-Py base 2023.06" in error
    assert "acc-py venv ./venv" in error
    assert "python -m venv --system-site-packages ./venv" in error
    assert "python -m pip install" in error
    for rel in ("setup.sh", "setup.csh"):
        text = (tree / rel).read_text()
        assert "@VERSION@" not in text
        assert "=>  Acc-Py base 2023.06 is now active within this shell." in text
        assert mode(tree / rel) == 0o644
    assert written == sorted(written)

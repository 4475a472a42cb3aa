"""acc-py-install with the real 2023.06 base (the session's ``base_dist``): end-to-end install,
a patch release that venvs follow (also once the old tree is gone), readers through it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from acc_py_install.cli import main
from conftest import untar

from accpy_builder.pack import pack
from accpy_core.record import write_record

pytestmark = pytest.mark.slow

CHECK = (
    "import json, os, sys, numpy; "
    "print(json.load(open(os.path.join(sys.base_prefix, 'ACC-PY.json')))['patch'])"
)


@pytest.fixture(scope="module")
def patch_two(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real base repacked as patch release 2 (same name, another directory)."""
    (tarball,) = base_dist.glob("acc-py-base-2023.06-*.tar.gz")
    work = tmp_path_factory.mktemp("patch2")
    tree = untar(tarball, work / "tree")
    meta = json.loads((tree / "ACC-PY.json").read_text())
    meta.update(patch=2, release="2023.06.2")
    (tree / "ACC-PY.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_record(tree)
    out = pack(
        tree, top="2023.06", dist_dir=work / "dist", stem=tarball.name[: -len(".tar.gz")],
        source_date_epoch=int(meta["source_date_epoch"]),
    )  # fmt: skip
    shutil.rmtree(work / "tree")
    return out.tar_gz


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}


def run(*args: str | Path) -> str:
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_real_base_patch_release_followed_by_venvs_and_readers(
    base_dist: Path, patch_two: Path, tmp_path: Path
) -> None:
    (tarball,) = base_dist.glob("acc-py-base-2023.06-*.tar.gz")
    root = tmp_path / "root"
    assert main(["install", str(tarball), "--pro", "--root", str(root)]) == 0
    base = root / "base"
    assert run(base / "pro" / "bin" / "python", "-c", CHECK) == "1"

    venv = tmp_path / "venv"
    run(base / "2023.06" / "bin" / "python", "-m", "venv", "--system-site-packages", venv)
    cfg = (venv / "pyvenv.cfg").read_text()
    assert f"home = {base / '2023.06' / 'bin'}\n" in cfg  # the version symlink, not ._2023.06.1
    assert run(venv / "bin" / "python", "-c", CHECK) == "1"

    failures: list[str] = []
    runs = [0]
    stop = threading.Event()

    def readers() -> None:
        while not stop.is_set():
            proc = subprocess.run(
                [str(base / "pro" / "bin" / "python"), "-c", "import numpy"],
                capture_output=True, text=True, env=clean_env(), check=False,
            )  # fmt: skip
            runs[0] += 1
            if proc.returncode:
                failures.append(proc.stderr[-500:])

    thread = threading.Thread(target=readers, daemon=True)
    thread.start()
    try:
        assert main(["install", str(patch_two), "--root", str(root)]) == 0
    finally:
        stop.set()
        thread.join()
    assert failures == [] and runs[0] > 0
    print(f"\nreal base: {runs[0]} `import numpy` runs through pro during the patch install")

    assert os.readlink(base / "2023.06") == "._2023.06.2"
    assert run(venv / "bin" / "python", "-c", CHECK) == "2"  # the venv follows the patch release
    assert main(["remove", "2023.06.1", "--root", str(root)]) == 0
    assert not (base / "._2023.06.1").exists()
    assert run(venv / "bin" / "python", "-c", CHECK) == "2"  # and survives the old tree's removal
    assert main(["verify", "--root", str(root)]) == 0
    assert sys.version_info >= (3, 9)

"""The shared area switched under running processes, as a sysadmin does it while consoles run.

A root with 2023.06 (CPython 3.11) as pro and 2024.12 (CPython 3.13) beside it, installed by
acc-py-install; then pro is switched to 2024.12 and a patch release of 2023.06 is installed.

- A process keeps the tree it started on: every later import resolves inside that physical
  tree, for the base through ``pro`` and through ``2023.06``, an ``acc-py venv``, and
  ``python -m venv`` venvs made through ``pro`` and through ``2023.06`` (and with --copies).
- New processes pick up the new targets, and venvs follow patch releases at their next start
  (never ``pro``: a venv made through ``pro`` stays on its version).
- Starts that race switches of ``pro`` between the two Pythons, and patch installs, never fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT

from accpy_core.layout import Layout

VERSION = "2023.06"
OTHER = "2024.12"

CHILD = """\
import sys
print(sys.version_info[1], flush=True)
assert "fractions" not in sys.modules
sys.stdin.readline()
import fractions
print(fractions.__file__, flush=True)
"""


def user_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}


def installer(root: Path, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "acc_py_install", *args, "--root", str(root)],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "PYTHONPATH": f"{PROJECT / 'src'}:{PROJECT / 'installer'}"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def tarball(dist: Path) -> str:
    (found,) = dist.glob("acc-py-base-*.tar.gz")
    return str(found)


@pytest.fixture(scope="module")
def root(
    base_dist: Path,
    base_dist_p2: Path,
    base_dist_2412: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Path]:
    """The root, with 2023.06 patch 1 as pro and 2024.12 beside it; the venvs made from it in
    ``<root>/venvs``; every test leaves it so."""
    root = tmp_path_factory.mktemp("switch") / "root"
    installer(root, "install", tarball(base_dist), "--pro")
    installer(root, "install", tarball(base_dist_2412))
    base = root / "base"
    venvs = root / "venvs"
    env = user_env(root)
    for argv in (
        [f"{base / VERSION}/bin/acc-py", "venv", f"{venvs}/acc-py"],
        [f"{base}/pro/bin/python3", "-m", "venv", "--without-pip", f"{venvs}/via-pro"],
        [f"{base / VERSION}/bin/python3", "-m", "venv", "--without-pip", f"{venvs}/via-version"],
        [f"{base / VERSION}/bin/python3", "-m", "venv", "--without-pip", "--copies",
         f"{venvs}/copies"],
    ):  # fmt: skip
        made = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stderr
    yield root


def starters(root: Path) -> dict[str, str]:
    base, venvs = root / "base", root / "venvs"
    return {
        "base through pro": f"{base}/pro/bin/python3",
        "base through 2023.06": f"{base / VERSION}/bin/python3",
        "acc-py venv": f"{venvs}/acc-py/bin/python",
        "python -m venv through pro": f"{venvs}/via-pro/bin/python",
        "python -m venv through 2023.06": f"{venvs}/via-version/bin/python",
        "python -m venv --copies": f"{venvs}/copies/bin/python",
    }


def test_venvs_never_name_pro(root: Path) -> None:
    for name in ("acc-py", "via-pro", "via-version", "copies"):
        cfg = (root / "venvs" / name / "pyvenv.cfg").read_text()
        assert f"home = {root / 'base' / VERSION / 'bin'}\n" in cfg, (name, cfg)


@pytest.mark.parametrize(
    "who",
    [
        "base through pro",
        "base through 2023.06",
        "acc-py venv",
        "python -m venv through pro",
        "python -m venv through 2023.06",
        "python -m venv --copies",
    ],
)
def test_a_running_process_keeps_its_tree(root: Path, base_dist_p2: Path, who: str) -> None:
    base = root / "base"
    started_on = (base / VERSION).resolve()
    assert started_on.name == "._2023.06.1"
    child = subprocess.Popen(
        [starters(root)[who], "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=user_env(root),
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "11"  # started: CPython 3.11
        installer(root, "set-pro", OTHER)  # pro -> 2024.12 (CPython 3.13)
        installer(root, "install", tarball(base_dist_p2))  # 2023.06 -> ._2023.06.2
        assert (base / VERSION).resolve().name == "._2023.06.2"
        child.stdin.write("go\n")
        child.stdin.flush()
        imported = child.stdout.readline().strip()
        assert child.wait(timeout=60) == 0, child.stderr.read() if child.stderr else ""
        assert imported.startswith(f"{started_on}/lib/python3.11/"), (who, imported)
        # new processes: the new targets, venvs on the new patch, pro on the other Python
        new = subprocess.run(
            [starters(root)[who], "-c", "import sys, fractions; print(sys.version_info[1], "
             "sys.base_prefix, fractions.__file__)"],
            env=user_env(root), capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert new.returncode == 0, new.stderr
        minor, prefix, fractions = new.stdout.split()
        if who == "base through pro":
            assert (minor, Path(prefix).name) == ("13", "._2024.12.1")
        else:
            assert (minor, Path(prefix).name) == ("11", "._2023.06.2"), who
        assert fractions.startswith(prefix + "/"), who
    finally:
        child.kill()
        child.wait()
        installer(root, "rollback", VERSION)
        installer(root, "set-pro", VERSION)


def test_starts_racing_switches_never_fail(root: Path, base_dist_p2: Path) -> None:
    """Readers start pythons (the base through pro, a venv through 2023.06) as fast as they can
    while pro flips between 2023.06 and 2024.12 and patch releases of 2023.06 are installed and
    rolled back: every start must work, on one tree or the other, never on a mix."""
    layout = Layout(root)
    wanted = 2000
    failures: list[str] = []
    starts = [0]
    stop = threading.Event()
    probe = "import fractions, sys; print(sys.base_prefix); print(fractions.__file__)"
    trees = {p.name for p in (root / "base").glob("._*")} | {"._2023.06.2"}

    def reader(python: str) -> None:
        while not stop.is_set():
            proc = subprocess.run([python, "-c", probe], env=user_env(root),
                                  capture_output=True, text=True, check=False)  # fmt: skip
            starts[0] += 1
            lines = proc.stdout.split()
            if proc.returncode != 0 or len(lines) != 2:
                failures.append(f"{python}: {proc.returncode}: {proc.stderr.strip()[-300:]}")
                continue
            prefix, module = lines
            if Path(prefix).name not in trees or not module.startswith(prefix + "/"):
                failures.append(f"{python}: mixed trees: {prefix} {module}")

    readers = [
        threading.Thread(target=reader, args=(starters(root)[who],), daemon=True)
        for who in ("base through pro", "python -m venv through 2023.06")
    ]
    for thread in readers:
        thread.start()
    switches = patches = 0
    try:
        # counted, not timed: as many starts as wanted, however slow the machine (the test's
        # timeout, pytest-timeout's, is the only clock)
        while starts[0] < wanted or patches < 2:
            for target in (OTHER, VERSION):
                layout.switch("pro", target)  # what set-pro does, as fast as it can go
                switches += 1
                time.sleep(0.002)
            if switches % 50 == 0:  # now and then a patch release, then back
                installer(root, "install", tarball(base_dist_p2))
                installer(root, "rollback", VERSION)
                patches += 1
    finally:
        stop.set()
        for thread in readers:
            thread.join(timeout=120)
        layout.switch("pro", VERSION)
    print(f"\nreader loop: {starts[0]} starts, {switches} switches of pro between 3.11 and "
          f"3.13, {patches} patch installs and rollbacks, {len(failures)} failures")  # fmt: skip
    assert starts[0] >= wanted and patches >= 2 and switches >= 200
    assert failures == []


def test_removing_an_old_patch_tree_under_a_running_process(
    base_dist: Path, base_dist_p2: Path, tmp_path: Path
) -> None:
    """What the README says of ``remove``: the old patch tree of a running Python is refused on
    this host (its executable is in it); with --force it goes, and the process's later imports
    fail, while new starts run on the current patch."""
    root = tmp_path / "root"
    installer(root, "install", tarball(base_dist), "--pro")
    python = f"{root}/base/{VERSION}/bin/python3"
    child = subprocess.Popen(
        [python, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=user_env(root),
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "11"
        installer(root, "install", tarball(base_dist_p2))
        refused = subprocess.run(
            [sys.executable, "-m", "acc_py_install", "remove", f"{VERSION}.1", "--root", str(root)],
            capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONPATH": f"{PROJECT / 'src'}:{PROJECT / 'installer'}"},
        )  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert f"pid {child.pid}: " in refused.stderr, refused.stderr
        installer(root, "remove", f"{VERSION}.1", "--force")
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.wait(timeout=60) == 1
        assert child.stderr is not None
        assert "ModuleNotFoundError: No module named 'fractions'" in child.stderr.read()
    finally:
        child.kill()
        child.wait()
    probe = "import sys, fractions; print(sys.prefix)"
    new = subprocess.run([python, "-c", probe], env=user_env(root), capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert new.returncode == 0 and new.stdout.strip().endswith("._2023.06.2"), new.stderr

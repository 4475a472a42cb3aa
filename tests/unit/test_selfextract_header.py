"""The self-extracting installer's header: rendering, what is read from the tarball, refusals.

(Not test_selfextract.py: tests/integration has that basename, and the test directories are not
packages, so pytest needs distinct basenames.)
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

from accpy_builder import selfextract
from accpy_builder.selfextract import (
    TEMPLATE,
    header_values,
    inspect_payload,
    platform_requirements,
    render_header,
    write_installer,
)
from accpy_core.errors import ArchiveError, CheckError, MetadataError
from accpy_core.metadata import from_dict

META = {"version": "2023.06", "patch": 2, "python": "3.11.7",
        "platform": "manylinux_2_28_x86_64", "status": "pro"}  # fmt: skip
STEM = "acc-py-base-2023.06-manylinux_2_28_x86_64"


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    return name, kind, data, link


def make_tarball(
    path: Path,
    members: list[tuple[str, bytes, bytes, str]] | None = None,
    meta: dict[str, object] | None = None,
    *,
    members_gz: int = 1,
) -> Path:
    """A .tar.gz like the builder's (``members_gz`` gzip members, as pack writes them)."""
    if members is None:
        members = [
            _member("2023.06", tarfile.DIRTYPE),
            _member("2023.06/ACC-PY.RECORD", data=b"ACC-PY.RECORD,,\n"),
            _member("2023.06/ACC-PY.json", data=json.dumps(meta or META).encode()),
            _member("2023.06/bin", tarfile.DIRTYPE),
            _member("2023.06/bin/python", data=b"#!/bin/sh\n"),
            _member("2023.06/bin/python3", tarfile.SYMTYPE, link="python"),
            _member("2023.06/lib", tarfile.DIRTYPE),
            _member("2023.06/lib/big", data=bytes(10_000)),
            _member("2023.06/lib/up", tarfile.SYMTYPE, link="../bin/python"),
        ]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, len(data), link
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    raw = buf.getvalue()
    step = -(-len(raw) // members_gz)
    out = b""
    for start in range(0, len(raw), step):
        gz = zlib.compressobj(6, zlib.DEFLATED, 31)
        out += gz.compress(raw[start : start + step]) + gz.flush()
    path.write_bytes(out)
    return path


# --- platform tags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("manylinux_2_28_x86_64", ("2.28", "x86_64")),
        ("manylinux_2_17_aarch64", ("2.17", "aarch64")),
        ("manylinux_2_036_x86_64", ("2.36", "x86_64")),
        ("manylinux2014_x86_64", ("2.17", "x86_64")),
        ("manylinux2010_x86_64", ("2.12", "x86_64")),
        ("manylinux1_x86_64", ("2.5", "x86_64")),
        ("linux_x86_64", ("", "x86_64")),
    ],
)
def test_platform_requirements(tag: str, expected: tuple[str, str]) -> None:
    assert platform_requirements(tag) == expected


@pytest.mark.parametrize("tag", ["", "manylinux_2_x86_64", "win_amd64", "manylinux2014", "linux"])
def test_platform_requirements_refuses_unknown_tags(tag: str) -> None:
    with pytest.raises(CheckError, match="platform tag"):
        platform_requirements(tag)


# --- rendering -------------------------------------------------------------------------------


def _values(**over: str) -> dict[str, str]:
    values = {
        "VERSION": "2023.06", "PATCH": "2", "PYTHON": "3.11.7",
        "PLATFORM": "manylinux_2_28_x86_64", "STATUS": "pro", "GLIBC": "2.28",
        "ARCH": "x86_64", "TOP": "2023.06", "PAYLOAD_SHA256": "ab" * 32,
        "PAYLOAD_BYTES": "12345", "UNPACKED_KIB": "4096", "RECORD_SHA256": "cd" * 32,
        **{name: str(kind.exit_code) for name, kind in selfextract.EXIT_CODES.items()},
    }  # fmt: skip
    values.update(over)
    return values


def test_render_header_knows_its_own_length() -> None:
    template = TEMPLATE.read_text(encoding="utf-8")
    header = render_header(template, _values())
    assert f"\nHEADER_BYTES={len(header)}\n".encode() in header
    text = header.decode("ascii")
    assert not re.search(r"@[A-Z][A-Z0-9_]*@", text), "a token was left unrendered"
    for line in (
        "ACCPY_VERSION='2023.06'",
        "ACCPY_PATCH=2",
        "ACCPY_GLIBC='2.28'",
        f"PAYLOAD_SHA256='{'ab' * 32}'",
        "PAYLOAD_BYTES=12345",
        "UNPACKED_KIB=4096",
    ):
        assert f"\n{line}\n" in text, line
    assert text.startswith("#!/bin/sh\n") and text.endswith("\nexit 0\n")


@pytest.mark.parametrize("digits", [1, 2, 3, 4, 5, 6])
def test_render_header_length_settles_across_digit_boundaries(digits: int) -> None:
    # pad so that the header length sits right at a power of ten
    for pad in range(10**digits - 40, 10**digits + 5):
        if pad < 0:
            continue
        template = "#" * pad + "\nH=@HEADER_BYTES@\n"
        header = render_header(template, {})
        assert header.endswith(f"H={len(header)}\n".encode())


def test_render_header_refuses_bad_templates() -> None:
    with pytest.raises(CheckError, match="unknown template token @NOPE@"):
        render_header("@NOPE@ @HEADER_BYTES@\n", _values())
    with pytest.raises(CheckError, match="lacks @HEADER_BYTES@"):
        render_header("echo\n", _values())
    with pytest.raises(CheckError, match="newline"):
        render_header("@HEADER_BYTES@", _values())
    with pytest.raises(CheckError, match="ASCII"):
        render_header("# caf\u00e9 @HEADER_BYTES@\n", _values())


@pytest.mark.parametrize(
    "shell",
    ["dash", "bash", pytest.param("shellcheck", marks=pytest.mark.test_deps)],
    ids=["dash -n", "bash -n", "shellcheck"],
)
def test_rendered_header_is_valid_posix_sh(shell: str, tmp_path: Path) -> None:
    exe = shutil.which(shell)
    assert exe is not None, f"{shell} is not installed: `make test-deps` installs it"
    script = tmp_path / "header.sh"
    script.write_bytes(render_header(TEMPLATE.read_text(encoding="utf-8"), _values()))
    args = ["-s", "sh", "-S", "warning"] if shell == "shellcheck" else ["-n"]
    proc = subprocess.run([exe, *args, str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- what is read from the tarball -----------------------------------------------------------


@pytest.mark.parametrize("members_gz", [1, 3])
def test_inspect_payload(tmp_path: Path, members_gz: int) -> None:
    tarball = make_tarball(tmp_path / "b.tar.gz", members_gz=members_gz)
    info = inspect_payload(tarball)
    assert info.top == "2023.06"
    assert info.metadata == from_dict(META)  # read through the one reader
    assert info.sha256 == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert info.size == tarball.stat().st_size
    assert info.entries == 9
    # 3 dirs + 3 one-block files + 10 000 bytes (3 blocks) in 4 KiB blocks, plus 1 MiB margin
    assert info.unpacked_kib == 3 * 4 + (4 + 4 + 4 + 12) + 1024
    assert info.record_sha256 == hashlib.sha256(b"ACC-PY.RECORD,,\n").hexdigest()


def test_header_values_from_metadata(tmp_path: Path) -> None:
    info = inspect_payload(make_tarball(tmp_path / "b.tar.gz"))
    values = header_values(info)
    assert values["GLIBC"] == "2.28" and values["ARCH"] == "x86_64"
    assert values["PATCH"] == "2" and values["STATUS"] == "pro"
    assert values["PAYLOAD_SHA256"] == info.sha256


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([_member("/2023.06/x", data=b"x")], "absolute path"),
        ([_member("2023.06/../x", data=b"x")], "path contains '..'"),
        ([_member("2023.06", tarfile.DIRTYPE), _member("other/x", data=b"x")], "two top"),
        ([_member("2023.06/l", tarfile.SYMTYPE, link="../../etc/passwd")], "leaves the tree"),
        ([_member("2023.06/l", tarfile.SYMTYPE, link="/etc/passwd")], "symlink to absolute"),
        ([_member("2023.06/a/l", tarfile.SYMTYPE, link="../../2023.06/x")], "leaves the tree"),
        ([_member("2023.06/h", tarfile.LNKTYPE, link="2023.06/x")], "neither a file"),
        ([_member("2023.06/f", tarfile.FIFOTYPE)], "FIFO"),
        ([_member("2023.06/d", tarfile.CHRTYPE)], "device node"),
        ([_member("2023.06/x", data=b"x")], "no 2023.06/ACC-PY.json"),
        ([], "empty"),
    ],
)
def test_inspect_payload_refuses(
    tmp_path: Path, members: list[tuple[str, bytes, bytes, str]], message: str
) -> None:
    tarball = make_tarball(tmp_path / "b.tar.gz", members)
    with pytest.raises(ArchiveError, match=message):
        inspect_payload(tarball)


def test_inspect_payload_refuses_a_non_gzip_file(tmp_path: Path) -> None:
    bad = tmp_path / "b.tar.gz"
    bad.write_bytes(b"this is not gzip at all")
    with pytest.raises(ArchiveError, match=r"not a readable \.tar\.gz"):
        inspect_payload(bad)
    good = make_tarball(tmp_path / "g.tar.gz")
    bad.write_bytes(good.read_bytes()[:-30])  # truncated
    with pytest.raises(ArchiveError, match=r"not a readable \.tar\.gz"):
        inspect_payload(bad)


@pytest.mark.parametrize(
    ("meta", "error", "message"),
    [
        ({**META, "version": "2023.07"}, ArchiveError, "says version '2023.07'"),
        ({k: v for k, v in META.items() if k != "patch"}, MetadataError, "patch is missing"),
        ({**META, "platform": "manylinux_2_28_x86_64'; rm -rf /"}, CheckError, "platform tag"),
        ({**META, "python": "3.11'$(reboot)'"}, CheckError, "cannot go into the installer"),
    ],
)
def test_header_values_refuse(
    tmp_path: Path, meta: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        header_values(inspect_payload(make_tarball(tmp_path / "b.tar.gz", meta=meta)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "2023.06/ACC-PY.json is not valid JSON"),
        (json.dumps({**META, "patch": -1}).encode(), "patch is -1"),
        (json.dumps({**META, "schema": 3}).encode(), "of schema 3, newer than"),
    ],
)
def test_inspect_payload_refuses_bad_metadata(tmp_path: Path, data: bytes, message: str) -> None:
    """The tarball's ACC-PY.json is read through accpy_core.metadata: its errors, its checks."""
    members = [
        _member("2023.06/ACC-PY.RECORD", data=b"x"),
        _member("2023.06/ACC-PY.json", data=data),
    ]
    with pytest.raises(MetadataError, match=message):
        inspect_payload(make_tarball(tmp_path / "b.tar.gz", members))


# --- the file --------------------------------------------------------------------------------


def test_write_installer(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path / f"{STEM}.tar.gz")
    out = write_installer(tarball, dist_dir=tmp_path / "dist", stem=STEM)
    assert out == tmp_path / "dist" / f"{STEM}-installer.sh"
    data = out.read_bytes()
    assert data.endswith(tarball.read_bytes())
    assert (out.stat().st_mode & 0o777) == 0o755
    sums = (tmp_path / "dist" / f"{out.name}.sha256").read_text()
    assert sums == f"{hashlib.sha256(data).hexdigest()}  {out.name}\n"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, f"{out.name}.sha256"]
    assert write_installer(tarball, dist_dir=tmp_path / "dist", stem=STEM).read_bytes() == data


def test_write_installer_refuses_a_name_that_contradicts_the_metadata(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path / "b.tar.gz")
    with pytest.raises(CheckError, match="contradicts"):
        write_installer(
            tarball, dist_dir=tmp_path / "dist", stem="acc-py-base-2023.06-manylinux_2_17_x86_64"
        )
    assert not (tmp_path / "dist").exists()


def test_write_installer_leaves_no_temp_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tarball = make_tarball(tmp_path / "b.tar.gz")
    dist = tmp_path / "dist"

    def fail(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", fail)
    with pytest.raises(ArchiveError, match="cannot write"):
        write_installer(tarball, dist_dir=dist, stem=STEM)
    assert list(dist.iterdir()) == []
    assert selfextract.TEMPLATE.name == "selfextract.sh.in"

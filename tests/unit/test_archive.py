"""safe_extract against hostile and broken tarballs crafted here."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from accpy_core.archive import safe_extract
from accpy_core.errors import ArchiveError

Member = tuple[tarfile.TarInfo, bytes | None]


def _file(name: str, data: bytes = b"data\n", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def _special(name: str, kind: bytes, linkname: str = "", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info, None


def _tar_bytes(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _write(path: Path, members: list[Member]) -> Path:
    raw = _tar_bytes(members)
    if path.name.endswith((".tar.gz", ".tgz")):
        raw = gzip.compress(raw)
    elif path.name.endswith(".tar.zst"):
        # like the zstd CLI: with a content checksum, so corrupt raw blocks are detected too
        raw = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    path.write_bytes(raw)
    return path


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def box(tmp_path: Path) -> Path:
    """tmp_path/box holds the archive and dest; tmp_path/outside is the canary."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "box").mkdir()
    return tmp_path


HOSTILE: dict[str, list[Member]] = {
    "absolute": [_file("/OUTSIDE_ABS/evil")],
    "dotdot": [_file("../outside/evil")],
    "dotdot-nested": [_file("python/../../outside/evil")],
    "symlink-etc": [_special("python/etc", tarfile.SYMTYPE, "/etc")],
    "symlink-up": [_special("python/up", tarfile.SYMTYPE, "../../outside")],
    "symlink-then-write": [
        _special("python/s", tarfile.SYMTYPE, "."),
        _special("python/l", tarfile.SYMTYPE, "s/../.."),
        _file("python/l/outside/evil"),
    ],
    "hardlink-abs": [_special("python/passwd", tarfile.LNKTYPE, "/etc/passwd")],
    "hardlink-up": [_special("python/h", tarfile.LNKTYPE, "../outside/target")],
    "chardev": [_special("python/null", tarfile.CHRTYPE)],
    "blockdev": [_special("python/sda", tarfile.BLKTYPE)],
    "fifo": [_special("python/fifo", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.zst"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_refused(box: Path, case: str, suffix: str) -> None:
    (box / "outside" / "target").write_text("keep")
    archive = _write(box / "box" / f"evil{suffix}", HOSTILE[case])
    before = _snapshot(box / "outside")
    with pytest.raises(ArchiveError) as exc_info:
        safe_extract(archive, box / "box" / "dest")
    assert str(archive) in str(exc_info.value)
    assert "refusing" in str(exc_info.value)
    assert _snapshot(box / "outside") == before
    assert (box / "outside" / "target").read_text() == "keep"
    assert not Path("/OUTSIDE_ABS").exists()
    assert not (box / "evil").exists()


def test_good_archive_with_inner_links(box: Path) -> None:
    members = [
        _special("python", tarfile.DIRTYPE, mode=0o755),
        _special("python/bin", tarfile.DIRTYPE, mode=0o755),
        _file("python/bin/python3.11", b"#!/bin/sh\necho hi\n", 0o755),
        _special("python/bin/python3", tarfile.SYMTYPE, "python3.11"),
        _special("python/bin/python", tarfile.LNKTYPE, "python/bin/python3.11", 0o755),
        _file("python/lib/data.txt", b"x" * 5000),
    ]
    for suffix in (".tar", ".tgz", ".tar.gz", ".tar.zst"):
        dest = box / "box" / f"dest{suffix}"
        safe_extract(_write(box / "box" / f"ok{suffix}", members), dest)
        assert os.readlink(dest / "python/bin/python3") == "python3.11"
        assert (dest / "python/bin/python").stat().st_ino == (
            dest / "python/bin/python3.11"
        ).stat().st_ino
        assert (dest / "python/lib/data.txt").read_bytes() == b"x" * 5000
        assert os.access(dest / "python/bin/python3.11", os.X_OK)


def test_mode_bits_neutralised(box: Path) -> None:
    members = [
        _special("d", tarfile.DIRTYPE, mode=0o2777),
        _file("d/suid", mode=0o4755),
        _file("d/sgid", mode=0o2755),
        _file("d/world", mode=0o666),
        _file("d/sticky", mode=0o1777),
        _file("d/readonly", mode=0o444),
    ]
    dest = box / "box" / "dest"
    safe_extract(_write(box / "box" / "modes.tar.gz", members), dest)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (dest / "d").iterdir()}
    assert modes == {
        "suid": 0o755,
        "sgid": 0o755,
        "world": 0o644,
        "sticky": 0o755,
        "readonly": 0o644,
    }
    dmode = stat.S_IMODE((dest / "d").stat().st_mode)
    assert not dmode & (stat.S_ISGID | stat.S_IWOTH)


def _big_members() -> list[Member]:
    # incompressible content, so that a cut in the compressed file lands inside member data
    return [_file(f"python/f{i}", os.urandom(40_000)) for i in range(5)]


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst", ".tar"])
def test_truncated_archive(box: Path, suffix: str) -> None:
    archive = _write(box / "box" / f"cut{suffix}", _big_members())
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2 + 123])
    with pytest.raises(ArchiveError, match=f"{archive}.*(corrupt|truncated)"):
        safe_extract(archive, box / "box" / "dest")


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst"])
def test_truncated_at_the_end(box: Path, suffix: str) -> None:
    """Only the compression trailer is missing: every member is complete, still an error."""
    archive = _write(box / "box" / f"tail{suffix}", [_file("python/a", b"a" * 100)])
    archive.write_bytes(archive.read_bytes()[:-4])
    with pytest.raises(ArchiveError, match=str(archive)):
        safe_extract(archive, box / "box" / "dest")


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst"])
def test_corrupt_data(box: Path, suffix: str) -> None:
    archive = _write(box / "box" / f"bad{suffix}", _big_members())
    data = bytearray(archive.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=str(archive)):
        safe_extract(archive, box / "box" / "dest")


def test_corrupt_tar_header(box: Path) -> None:
    archive = _write(box / "box" / "hdr.tar", _big_members())
    data = bytearray(archive.read_bytes())
    second_header = 512 + 40_000 + (-40_000 % 512)
    data[second_header : second_header + 100] = b"\xff" * 100
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=str(archive)):
        safe_extract(archive, box / "box" / "dest")


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.zst", ".tar"])
def test_garbage(box: Path, suffix: str) -> None:
    archive = box / "box" / f"garbage{suffix}"
    archive.write_bytes(b"this is not an archive at all\n" * 40)
    with pytest.raises(ArchiveError, match=str(archive)):
        safe_extract(archive, box / "box" / "dest")


def test_unknown_suffix(box: Path) -> None:
    archive = box / "box" / "thing.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(ArchiveError, match="unsupported archive type"):
        safe_extract(archive, box / "box" / "dest")

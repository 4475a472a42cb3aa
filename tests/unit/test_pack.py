"""Stage 6, pack: record round-trip and reproducible archives, checked with real tar tools."""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from accpy_builder import pack as pack_mod
from accpy_builder.pack import pack
from accpy_core.errors import ArchiveError, CheckError, RecordError
from accpy_core.record import (
    RECORD_NAME,
    RecordEntry,
    compare_record,
    read_record,
    write_record,
)

EPOCH = 1_686_000_000
LONG_DIR = "d" * 60 + "/" + "e" * 60  # > 100 characters once under the top directory
VERY_LONG = "/".join(["x" * 90] * 3) + "/" + "f" * 40 + ".txt"  # > 255 characters


def make_tree(root: Path, *, reverse: bool = False, umask: int = 0o022, mtime: int = 0) -> Path:
    """A small base-like tree; the same contents whatever the order, umask and mtimes."""
    files: list[tuple[str, bytes, int]] = [
        ("bin/python3.11", b"\x7fELF fake interpreter" * 100, 0o750),
        ("bin/pip", b"#!/bin/sh\nexec python -m pip\n", 0o4775),  # setuid, group-writable
        ("lib/python3.11/os.py", b"# os\n" * 1000, 0o666),  # world-writable
        ("lib/python3.11/empty.py", b"", 0o600),
        ("lib/big.bin", bytes(range(256)) * 12345, 0o644),
        (f"{LONG_DIR}/long-name-file.txt", b"long\n", 0o644),
        (VERY_LONG, b"very long\n", 0o644),
        ("caf\u00e9/\u00fcnicode.txt", b"unicode\n", 0o644),
        ("pip.conf", b"[global]\nindex-url = https://example.invalid/simple\n", 0o644),
    ]
    dirs = ["empty-dir", "lib/python3.11/site-packages"]
    links = [
        ("bin/python3", "python3.11"),
        ("bin/python", "python3"),
        ("lib/dangling", "does-not-exist"),
        ("lib/long-link", "../" + VERY_LONG),
    ]
    old = os.umask(umask)
    try:
        root.mkdir(parents=True)
        seq = list(reversed(files)) if reverse else files
        for rel, data, mode in seq:
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            p.chmod(mode)
        for rel in reversed(dirs) if reverse else dirs:
            (root / rel).mkdir(parents=True, exist_ok=True)
        for rel, target in reversed(links) if reverse else links:
            (root / rel).symlink_to(target)
        (root / "lib/python3.11").chmod(0o775 | stat.S_ISGID)
    finally:
        os.umask(old)
    if mtime:
        for p in [root, *root.rglob("*")]:
            os.utime(p, (mtime, mtime), follow_symlinks=False)
    return root


def do_pack(tree: Path, dist: Path) -> pack_mod.PackResult:
    return pack(
        tree, top="2023.06", dist_dir=dist, stem="acc-py-base-2023.06-x", source_date_epoch=EPOCH
    )


@pytest.fixture
def packed(tmp_path: Path) -> tuple[Path, pack_mod.PackResult]:
    tree = make_tree(tmp_path / "tree")
    write_record(tree)
    return tree, do_pack(tree, tmp_path / "dist")


def test_identical_trees_made_differently_pack_byte_identical(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", mtime=1_000_000_000)
    b = make_tree(tmp_path / "elsewhere" / "b", reverse=True, umask=0o077, mtime=1_500_000_000)
    write_record(a)
    write_record(b)
    assert (a / RECORD_NAME).read_bytes() == (b / RECORD_NAME).read_bytes()
    ra, rb = do_pack(a, tmp_path / "dist-a"), do_pack(b, tmp_path / "dist-b")
    for field in ("tar_gz", "tar_zst", "tar_gz_sha256", "tar_zst_sha256"):
        assert getattr(ra, field).read_bytes() == getattr(rb, field).read_bytes(), field
    # a different epoch gives a different archive: the test can fail
    rc = pack(a, top="2023.06", dist_dir=tmp_path / "dist-c", stem="s", source_date_epoch=EPOCH + 1)
    assert rc.tar_gz.read_bytes() != ra.tar_gz.read_bytes()


def test_members_sorted_normalised_gnu_without_pax(
    packed: tuple[Path, pack_mod.PackResult],
) -> None:
    _, result = packed
    with tarfile.open(result.tar_gz) as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    assert names[0] == "2023.06"
    assert all(n == "2023.06" or n.startswith("2023.06/") for n in names)
    assert names == sorted(names, key=lambda n: n.split("/"))
    seen: set[str] = set()
    for m in members:
        assert m.pax_headers == {}
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (EPOCH, 0, 0, "root", "root")
        parent = m.name.rpartition("/")[0]
        assert not parent or parent in seen, f"{m.name} before its directory"
        seen.add(m.name)
        if m.isdir():
            assert m.mode == 0o755
        elif m.issym():
            assert m.mode == 0o777
        else:
            assert m.isreg(), m.name
            assert m.mode in {0o644, 0o755}
    by_name = {m.name: m for m in members}
    assert by_name["2023.06/bin/python3.11"].mode == 0o755
    assert by_name["2023.06/bin/pip"].mode == 0o755  # setuid and group-write dropped
    assert by_name["2023.06/lib/python3.11/os.py"].mode == 0o644  # world-write dropped
    assert by_name["2023.06/lib/python3.11/empty.py"].mode == 0o644
    assert by_name["2023.06/lib/python3.11"].mode == 0o755  # setgid dropped
    assert by_name["2023.06/bin/python"].linkname == "python3"
    assert by_name[f"2023.06/{VERY_LONG}"].size == len(b"very long\n")
    assert by_name["2023.06/lib/long-link"].linkname == "../" + VERY_LONG
    assert "2023.06/empty-dir" in by_name
    raw = gzip.decompress(result.tar_gz.read_bytes())
    assert b"././@LongLink" in raw  # GNU long names ...
    assert b"PaxHeader" not in raw and b"ustar\x0000" not in raw  # ... never pax/POSIX ustar
    assert len(raw) % tarfile.RECORDSIZE == 0
    assert len(raw) == result.tar_size


def test_gzip_header_has_mtime_zero_and_no_name(packed: tuple[Path, pack_mod.PackResult]) -> None:
    head = packed[1].tar_gz.read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08"
    assert head[3] == 0  # FLG: no FNAME, no FEXTRA, no comment
    assert head[4:8] == b"\0\0\0\0"  # MTIME


def test_zstd_matches_gzip_and_has_checksum_and_size(
    packed: tuple[Path, pack_mod.PackResult],
) -> None:
    _, result = packed
    raw = gzip.decompress(result.tar_gz.read_bytes())
    data = result.tar_zst.read_bytes()
    params = zstandard.get_frame_parameters(data)
    assert params.content_size == len(raw)
    assert params.has_checksum
    assert zstandard.ZstdDecompressor().decompress(data) == raw
    if shutil.which("zstd"):
        out = subprocess.run(["zstd", "-dc", str(result.tar_zst)], capture_output=True, check=True)
        assert out.stdout == raw


def test_sha256_files_like_sha256sum(packed: tuple[Path, pack_mod.PackResult]) -> None:
    _, result = packed
    for archive, sums in (
        (result.tar_gz, result.tar_gz_sha256),
        (result.tar_zst, result.tar_zst_sha256),
    ):
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        assert sums.read_text() == f"{digest}  {archive.name}\n"
        assert sums.name == archive.name + ".sha256"
    if shutil.which("sha256sum"):
        names = [result.tar_gz_sha256.name, result.tar_zst_sha256.name]
        subprocess.run(
            ["sha256sum", "--check", "--strict", *names],
            cwd=result.tar_gz.parent,
            check=True,
            capture_output=True,
        )
    assert sorted(p.name for p in result.tar_gz.parent.iterdir()) == sorted(
        p.name for p in (result.tar_gz, result.tar_zst, result.tar_gz_sha256, result.tar_zst_sha256)
    )  # no temp files left


def _check_extracted(tree: Path, out: Path) -> None:
    got = out / "2023.06"
    diff = compare_record(got, read_record(got / RECORD_NAME))
    assert not diff, diff
    assert (got / "bin/python").is_symlink() and os.readlink(got / "bin/python") == "python3"
    assert os.readlink(got / "lib/dangling") == "does-not-exist"
    assert (got / VERY_LONG).read_bytes() == (tree / VERY_LONG).read_bytes()
    assert (got / "empty-dir").is_dir()
    assert stat.S_IMODE((got / "bin/python3.11").stat().st_mode) & 0o111
    assert not stat.S_IMODE((got / "pip.conf").stat().st_mode) & 0o111


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar binary")
def test_gnu_tar_extracts(tmp_path: Path, packed: tuple[Path, pack_mod.PackResult]) -> None:
    tree, result = packed
    for archive, flag in ((result.tar_gz, "-z"), (result.tar_zst, "--zstd")):
        if flag == "--zstd" and shutil.which("zstd") is None:
            continue
        out = tmp_path / f"x{flag}"
        out.mkdir()
        subprocess.run(["tar", flag, "-xf", str(archive), "-C", str(out)], check=True)
        _check_extracted(tree, out)


def test_python_tarfile_cli_extracts(
    tmp_path: Path, packed: tuple[Path, pack_mod.PackResult]
) -> None:
    tree, result = packed
    out = tmp_path / "x"
    cmd = [sys.executable, "-m", "tarfile", "-e", str(result.tar_gz), str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    _check_extracted(tree, out)


def test_record_format_and_round_trip(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    path = write_record(tree)
    assert path == tree / RECORD_NAME
    lines = path.read_text().splitlines()
    assert lines[0] == f"{RECORD_NAME},,"
    digest = hashlib.sha256((tree / "pip.conf").read_bytes()).hexdigest()
    assert f"pip.conf,sha256={digest},{(tree / 'pip.conf').stat().st_size}" in lines
    assert "bin/python,symlink=python3," in lines
    assert "lib/python3.11/empty.py,sha256=" + hashlib.sha256().hexdigest() + ",0" in lines
    rec = read_record(path)
    assert rec["bin/python"] == RecordEntry("bin/python", symlink="python3")
    assert rec[RECORD_NAME].kind == "record"
    assert rec["lib/big.bin"].size == 256 * 12345
    assert not any(k.startswith("empty-dir") for k in rec)  # directories are not listed
    paths = [k for k in rec if k != RECORD_NAME]
    assert paths == sorted(paths, key=lambda p: p.split("/"))
    assert not compare_record(tree, rec)
    write_record(tree)  # rewriting over an existing record gives the same record
    assert read_record(path) == rec


def test_compare_record_detects_modified_missing_extra(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    rec = read_record(write_record(tree))
    conf = (tree / "pip.conf").read_bytes()
    (tree / "pip.conf").write_bytes(conf.replace(b"example", b"EXAMPLE"))  # same size
    (tree / "lib/big.bin").write_bytes(b"short")
    (tree / "bin/python").unlink()
    (tree / "bin/python").symlink_to("python3.11")
    (tree / "lib/python3.11/os.py").unlink()
    (tree / "lib/python3.11/new.py").write_text("x = 1\n")
    diff = compare_record(tree, rec)
    assert diff.modified == ("bin/python", "lib/big.bin", "pip.conf")
    assert diff.missing == ("lib/python3.11/os.py",)
    assert diff.extra == ("lib/python3.11/new.py",)


def test_read_record_rejects_malformed(tmp_path: Path) -> None:
    bad = tmp_path / "RECORD"
    bad.write_text("a,sha256=zz,3\n")
    with pytest.raises(RecordError, match=r"RECORD:1: malformed"):
        read_record(bad)


def test_fifo_refused_with_offenders_listed(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    os.mkfifo(tree / "lib" / "a-fifo")
    with pytest.raises(RecordError, match=r"lib/a-fifo \(FIFO\)"):  # scan_tree serves both
        do_pack(tree, tmp_path / "dist")
    with pytest.raises(RecordError, match="FIFO"):
        write_record(tree)
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_hard_links_stored_as_regular_files(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    os.link(tree / "pip.conf", tree / "pip-copy.conf")
    result = do_pack(tree, tmp_path / "dist")
    with tarfile.open(result.tar_gz) as tf:
        m = tf.getmember("2023.06/pip-copy.conf")
        assert m.isreg() and m.size == (tree / "pip.conf").stat().st_size


def test_bad_arguments(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    for top in ("", "a/b", ".."):
        with pytest.raises(CheckError, match="top directory"):
            pack(tree, top=top, dist_dir=tmp_path / "d", stem="s", source_date_epoch=EPOCH)
    with pytest.raises(CheckError, match="inside the tree"):
        pack(tree, top="t", dist_dir=tree / "dist", stem="s", source_date_epoch=EPOCH)


def test_full_disk_is_one_clear_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "tree")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "acc-py-base-2023.06-x.tar.gz").write_bytes(b"old")  # a previous build stays intact

    real_fdopen = os.fdopen

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_fdopen(fd: int, mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode == "wb":
            os.close(fd)
            return Full()
        return real_fdopen(fd, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(pack_mod.os, "fdopen", fake_fdopen)
    with pytest.raises(ArchiveError) as info:
        do_pack(tree, dist)
    msg = str(info.value)
    assert "no space left" in msg and str(dist) in msg and "needs roughly" in msg
    assert "\n" not in msg
    assert sorted(p.name for p in dist.iterdir()) == ["acc-py-base-2023.06-x.tar.gz"]
    assert (dist / "acc-py-base-2023.06-x.tar.gz").read_bytes() == b"old"


def test_file_changing_size_during_pack_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = make_tree(tmp_path / "tree")
    real_scan = pack_mod.scan_tree

    def scan_then_grow(t: Path) -> list[pack_mod.Node]:
        nodes = real_scan(t)
        (t / "pip.conf").write_bytes(b"grown" * 100)
        return nodes

    monkeypatch.setattr(pack_mod, "scan_tree", scan_then_grow)
    with pytest.raises(CheckError, match="changed size"):
        do_pack(tree, tmp_path / "dist")
    assert list((tmp_path / "dist").iterdir()) == []


def test_parallel_gzip_is_independent_of_the_thread_count() -> None:
    import gzip
    import random

    from accpy_builder.pack import _ParallelGzip

    rng = random.Random(7)
    data = bytes(rng.getrandbits(8) for _ in range(50_000)) * 20  # ~1 MB, compressible
    outputs = []
    for workers in (1, 2, 5):
        gz = _ParallelGzip(block=64 << 10, workers=workers)
        parts = [gz.compress(data[i : i + 30_000]) for i in range(0, len(data), 30_000)]
        outputs.append(b"".join(parts) + gz.flush())
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].count(b"\x1f\x8b\x08") >= len(data) // (64 << 10)  # one member per block
    assert gzip.decompress(outputs[0]) == data

"""acc-py-install and a usage collector named by host name: ``install`` and ``set-pro`` resolve it
with the system resolver into ``<dir>/.usage-collector`` (the file the bases' hook reads), and
``resolve-collector`` does it again (cron). Small fake bases (test_install.py) whose ACC-PY.json
names the collector; ``localhost`` is the name that resolves on every machine (/etc/hosts), a
``.invalid`` name one that never does (RFC 2606). The real base, a real collector and a resolver
that hangs are in test_usage.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from accpy_core.collector import FILE_NAME, HEADER, Entry, parse_address, parse_file, render_file
from accpy_core.errors import ConfigError, SourceError, UsageError

from .test_install import cli, fake_base

NAMED = "localhost:8514"
NOWHERE = "no-such-collector.invalid:8514"


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("named-dists")
    return {
        "23": fake_base(d / "23", collector=NAMED),
        "21": fake_base(d / "21", "2021.12", collector=NOWHERE),
        "literal": fake_base(d / "lit", "2024.12", collector="127.0.0.1:8514"),
    }


def entries(directory: Path) -> dict[str, Entry]:
    return parse_file((directory / FILE_NAME).read_text(encoding="ascii"))


def run_installer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "acc_py_install", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_install_resolves_the_named_collector(named: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    proc = run_installer("install", str(named["23"]), "--root", str(root), "--pro")
    assert proc.returncode == 0, proc.stderr
    assert f"usage collector {NAMED} -> 127.0.0.1:8514" in proc.stderr
    found = entries(root / "base")
    assert list(found) == [NAMED]
    assert "127.0.0.1:8514" in found[NAMED].addresses
    assert found[NAMED].until == 0  # never stale unless the site says so (--valid-days)
    text = (root / "base" / FILE_NAME).read_text()
    assert text.startswith(HEADER + "\n") and "resolve-collector" in text
    # a base of another collector beside it, whose name does not resolve: installed all the same,
    # with a warning that says what it costs and how to fix it; the first name is kept
    proc = run_installer("install", str(named["21"]), "--root", str(root))
    assert proc.returncode == 0, proc.stderr
    assert (root / "base" / "2021.12").is_symlink()
    warning = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warning) == 1 and NOWHERE in warning[0]
    assert "log nothing" in warning[0] and "resolve-collector" in warning[0]
    assert list(entries(root / "base")) == [NAMED]
    # resolve-collector: the same, as an error (exit code, one line) for cron to report
    proc = run_installer("resolve-collector", "--root", str(root))
    assert proc.returncode == SourceError.exit_code
    assert proc.stderr.splitlines()[-1].startswith("error: ") and NOWHERE in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(entries(root / "base")) == [NAMED]  # still served


def test_resolve_collector_names_forget_and_validity(
    named: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    assert cli("resolve-collector", root=root) == 0  # nothing installed: nothing to do
    assert "nothing to resolve" in capsys.readouterr().out
    assert not (root / "base" / FILE_NAME).exists()
    assert cli("install", str(named["literal"]), root=root) == 0  # an address: no file needed
    assert not (root / "base" / FILE_NAME).exists()
    # a name that only ACC_PY_USAGE_COLLECTOR gives, at run time; stale in 7 days
    assert cli("resolve-collector", "localhost:9999", "--valid-days", "7", root=root) == 0
    until = entries(root / "base")["localhost:9999"].until
    assert 6 * 86400 < until - time.time() <= 7 * 86400
    assert cli("install", str(named["23"]), root=root) == 0
    assert sorted(entries(root / "base")) == [NAMED, "localhost:9999"]
    assert cli("resolve-collector", root=root) == 0  # once in the file, resolved at every run
    found = entries(root / "base")
    assert sorted(found) == [NAMED, "localhost:9999"] and found["localhost:9999"].until == 0
    assert cli("resolve-collector", "--forget", "localhost:9999", root=root) == 0
    assert list(entries(root / "base")) == [NAMED]
    for bad in ("10.0.0.1:8514", "nohost", "bad_name!:1"):
        assert cli("resolve-collector", bad, root=root) == UsageError.exit_code
    assert cli("resolve-collector", "--prefix", str(tmp_path / "p"), root=root) == 2


def test_a_plain_prefix_keeps_the_file_beside_it(named: dict[str, Path], tmp_path: Path) -> None:
    prefix = tmp_path / "opt" / "acc-py-2023.06"
    proc = run_installer("install", str(named["23"]), "--prefix", str(prefix))
    assert proc.returncode == 0, proc.stderr
    assert list(entries(prefix.parent)) == [NAMED]
    assert sorted(p.name for p in prefix.parent.iterdir()) == [FILE_NAME, prefix.name]
    (prefix.parent / FILE_NAME).unlink()
    proc = run_installer("resolve-collector", "--prefix", str(prefix))
    assert proc.returncode == 0, proc.stderr
    assert list(entries(prefix.parent)) == [NAMED]


def test_set_pro_resolves_again(named: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert cli("install", str(named["23"]), root=root) == 0
    stale = {NAMED: Entry(NAMED, int(time.time()) - 1, ("192.0.2.1:8514",))}
    (root / "base" / FILE_NAME).write_text(render_file(stale, "old"))
    assert cli("set-pro", "2023.06", root=root) == 0
    found = entries(root / "base")[NAMED]
    assert "127.0.0.1:8514" in found.addresses and not found.stale(time.time())


def test_the_file_format() -> None:
    entry = Entry(NAMED, 0, ("127.0.0.1:8514", "[::1]:8514"))
    text = render_file({NAMED: entry}, "two\nlines")
    assert text.splitlines()[:3] == [HEADER, "# two", "# lines"]
    assert parse_file(text) == {NAMED: entry}
    # another format, malformed lines, garbage addresses: skipped, as the hook skips them
    assert parse_file(text.replace(HEADER, "acc-py-usage-collectors 2")) == {}
    broken = text + "x.example:1 soon 10.0.0.1:1\ny.example:1 0 not-an-ip:1\nz.example:1 0\n"
    assert parse_file(broken) == {NAMED: entry}
    assert str(parse_address("[::1]:8514")) == "[::1]:8514"
    assert parse_address("acc-py-usage.cern.ch:8514").named
    assert not parse_address("10.0.0.1:8514").named
    for bad in ("x", "x:0", "[fe80::1%lo]:1", "300.1.1.1:1", "a b:1"):
        with pytest.raises(ConfigError):
            parse_address(bad)

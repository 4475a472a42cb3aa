"""One place per concept (issue 19, section 3): the helpers the tools share."""

from __future__ import annotations

import ast
import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT

from accpy_core import names, proc
from accpy_core.collector import parse_address
from accpy_core.dist import find_built_base, missing_base
from accpy_core.errors import CommandError, ConfigError, ManifestError, SourceError, UsageError
from accpy_core.lock import flocked


def test_flocked_makes_a_second_process_wait(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    holder = (
        "import sys, time\nfrom pathlib import Path\nfrom accpy_core.lock import flocked\n"
        "with flocked(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(1.0)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder, str(lock)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    start = time.monotonic()
    with flocked(lock, "the test's lock"):
        waited = time.monotonic() - start
    assert proc.wait() == 0
    assert waited > 0.3
    with flocked(lock):  # free again, and re-entrant across blocks
        pass


#: literal addresses, names and garbage that a collector address may be
ADDRESSES = [
    "10.0.0.1:8514", "127.0.0.1:9", "[::1]:8514", "[2001:db8::5]:1", "[fe80::1%eth0]:8514",
    "acc-py-usage.cern.ch:8514", "localhost:8514", "10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536",
    "::1:8514", "[::1]", "[]:8514", ":8514", "1.2.3:8514", "[1.2.3.4]:8514", "[zz::1]:8514",
    "name:port", "host:+80", "300.1.1.1:80", "01.2.3.4:80", "[1::2::3]:80", "99.1.1.1:80",
]  # fmt: skip


def _hook_function(name: str) -> Callable[..., Any]:
    """One function of the usage hook (recipes/sitecustomize.py.in, rendered into every base),
    on its own: the hook keeps a stdlib-only, import-free copy of the address parser."""
    from accpy_builder.inject import render, template_values
    from accpy_manifest import BaseSpec, PbsAsset, Site

    hook = PROJECT / "recipes" / "sitecustomize.py.in"
    base = BaseSpec("2020.11", 3, "3.7.9", PbsAsset("1", "c.tar.zst", "0" * 64), ())
    site = Site(index_url="https://x.example/simple/", usage_collector="h:1", install_root="/")
    text = render(hook.read_text(), template_values(base, site), hook)
    (node,) = (n for n in ast.parse(text).body if getattr(n, "name", "") == name)
    space: dict[str, Any] = {}
    exec(compile(ast.Module([node], []), str(hook), "exec"), space)
    return space[name]  # type: ignore[no-any-return]


@pytest.mark.parametrize("value", ADDRESSES)
def test_the_hook_reads_a_literal_address_as_accpy_core_does(value: str) -> None:
    hook_address = _hook_function("_acc_py_address")
    try:
        parsed = parse_address(value)
    except ConfigError:
        parsed = None
    found = hook_address(value)
    if found is not None and found[2]:  # the hook checks an IPv6 address with inet_pton
        try:
            socket.inet_pton(socket.AF_INET6, found[0])
        except OSError:
            found = None
    if parsed is None or parsed.named:
        assert found is None
    else:
        assert found == (parsed.host, parsed.port, parsed.kind == "ipv6")


def test_artifact_names_come_from_one_stem(tmp_path: Path) -> None:
    stem = names.tarball_stem("2023.06", "manylinux_2_28_x86_64")
    assert names.installer_name(stem) == "acc-py-base-2023.06-manylinux_2_28_x86_64-installer.sh"
    assert names.sbom_file_name(stem) == stem + ".cdx.json"
    assert names.checksum_name(names.tarball_name(stem, "tar.zst")) == stem + ".tar.zst.sha256"
    for name in (names.installer_name(stem), names.sbom_file_name(stem), stem + ".tar.gz"):
        assert names.stem_of(name) == stem
    with pytest.raises(ValueError, match="not the name"):
        names.stem_of("x.whl")


def test_one_finder_of_a_built_base_and_one_error(tmp_path: Path) -> None:
    assert find_built_base(tmp_path, "2023.06") is None
    assert "make base VERSION=2023.06" in str(missing_base(tmp_path, "2023.06"))
    for plat in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64"):
        (tmp_path / names.tarball_name(names.tarball_stem("2023.06", plat))).write_bytes(b"")
    with pytest.raises(UsageError, match=r"several builds of base 2023\.06.*all but one"):
        find_built_base(tmp_path, "2023.06")
    built = find_built_base(tmp_path, "2023.06", "manylinux_2_17_x86_64")
    assert built is not None and built.stem.endswith("manylinux_2_17_x86_64")
    with pytest.raises(SourceError, match=r"-installer\.sh is missing beside"):
        built.require(built.tarball, built.installer)


def test_the_one_subprocess_wrapper_logs_to_a_file_and_probes(tmp_path: Path) -> None:
    """accpy_images.engine runs buildah through accpy_core.proc: a build's log in a file, a
    container's command whose exit code is the caller's, a probe."""
    log = tmp_path / "build.log"
    script = "import sys; print('step 1'); print('boom', file=sys.stderr); sys.exit(3)"
    with pytest.raises(CommandError, match=r"(?s)whole output: .*build\.log.*code 3:.*boom"):
        proc.run([sys.executable, "-c", script], what="the build", log_to=log)
    assert log.read_text().split() == ["step", "1", "boom"]
    assert proc.run([sys.executable, "-c", "print('x')"], log_to=log) == ""
    assert log.read_text() == "x\n"
    done = proc.complete([sys.executable, "-c", "import sys; sys.exit(7)"], check=False)
    assert done.returncode == 7
    assert proc.succeeds([sys.executable, "-c", "pass"])
    assert not proc.succeeds([sys.executable, "-c", "raise SystemExit(1)"])


def test_plans_are_made_from_options_not_from_argparse(tmp_path: Path) -> None:
    from accpy_builder.cli import build_parser
    from accpy_builder.plan import AdoptSource, BuildOptions, make_plan, make_release_plan

    args = build_parser().parse_args(
        ["base", "2023.06", "--manifest", str(PROJECT / "versions.yaml"), "--interpreter", "auto",
         "--platform", "manylinux_2_17_x86_64", "--dist-dir", str(tmp_path / "d")]
    )  # fmt: skip
    options = BuildOptions.from_args(args)
    assert options.interpreter == "auto" and options.site_ca == () and options.cache_dir is None
    plan = make_plan("2023.06", options)
    assert plan.source == AdoptSource(None) and plan.platform == "manylinux_2_17_x86_64"
    assert plan.dist_dir == tmp_path / "d" and plan.manifest_path == PROJECT / "versions.yaml"
    with pytest.raises(ManifestError, match="PLATFORM='musllinux_1_2_x86_64' is not a tag"):
        make_plan("2023.06", dataclasses.replace(options, platform="musllinux_1_2_x86_64"))
    with pytest.raises(UsageError, match=r"no interactive release 1999\.01"):
        make_release_plan("1999.01", options, build_base=lambda p: tmp_path)


def test_the_builds_run_their_stages_in_the_one_order() -> None:
    """build.py and interactive/build.py name their stages as stages.py lists them, in order."""
    from accpy_builder import stages

    for module, table in (("build.py", stages.BASE_STAGES),
                          ("interactive/build.py", stages.RELEASE_STAGES)):  # fmt: skip
        tree = ast.parse((PROJECT / "src" / "accpy_builder" / module).read_text())
        called = [
            n.args[1].value for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "stage"
            and isinstance(n.args[1], ast.Constant)
        ]  # fmt: skip
        assert called == [s.name for s in table], module
    assert stages.number(stages.BASE_STAGES, "pack") == len(stages.BASE_STAGES) == 8

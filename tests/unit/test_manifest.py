"""Stage 1: versions.yaml is read, validated and turned into frozen plan objects.

Every bad manifest must fail with one ManifestError ``<path>:<line>: <what>; <fix>``.
The texts are small edits of tests/data/manifests/minimal.yaml, so each test shows one mistake.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from accpy_core.errors import ManifestError
from accpy_manifest import (
    DEFAULT_PLATFORM,
    PBS_GITHUB,
    Manifest,
    get_base,
    load_manifest,
    python_from_asset,
)

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLES = PROJECT / "tests" / "data" / "manifests"
MINIMAL = (EXAMPLES / "minimal.yaml").read_text()
BASE_ENTRY = MINIMAL[MINIMAL.index('  - version: "2023.06"') :]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} not in the test text"
    return hits[nth - 1]


def edit(old: str, new: str, text: str = MINIMAL) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def load(tmp_path: Path, text: str) -> Manifest:
    path = tmp_path / "versions.yaml"
    path.write_text(text)
    return load_manifest(path)


def error(tmp_path: Path, text: str, line: int) -> str:
    """Load ``text``; return the error message after the ``<path>:<line>: `` it must start with."""
    path = tmp_path / "versions.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: "), message
    assert "; " in message  # what is wrong; how to fix it
    return message.removeprefix(f"{path}:{line}: ")


# -- the real versions.yaml ---------------------------------------------------------------------


def test_real_versions_yaml_has_the_five_bases() -> None:
    m = load_manifest(PROJECT / "versions.yaml")
    got = {b.version: (b.python, b.status, b.end_of_life) for b in m.bases}
    assert got == {
        "2020.11": ("3.7.9", "deprecated", dt.date(2024, 12, 31)),
        "2021.12": ("3.9.25", "deprecated", dt.date(2026, 6, 30)),
        "2023.06": ("3.11.4", "pro", None),
        "2024.12": ("3.13.0", "supported", None),
        "2026.01": ("3.14.1", "supported", None),
    }
    assert m.site.index_url == "https://acc-py-repo.cern.ch/repository/vr-py-releases/simple/"
    assert m.site.install_root == "/acc/local/share/python/acc-py"
    assert m.site.pbs_mirror == PBS_GITHUB
    for base in m.bases:
        assert base.platform == DEFAULT_PLATFORM
        assert python_from_asset(base.interpreter.asset) == base.python
        assert [p.name for p in base.packages][:3] == ["pip", "numpy", "scipy"]
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for p in base.packages for h in p.hashes)
    legacy = get_base(m, "2020.11").interpreter
    assert legacy.flavor == "full"
    assert legacy.sha256 == "c6d6256d13e929e77e7ee6e53470fe63ad19d173fee6d56bb1b2dbda67081543"
    assert get_base(m, "2023.06").interpreter.flavor == "install_only"
    numpy37 = next(p for p in get_base(m, "2020.11").packages if p.name == "numpy")
    assert numpy37.version == "1.19.4"
    assert len(numpy37.hashes) == 2  # manylinux1 and manylinux2010 wheels


def test_get_base_unknown_version_suggests_and_lists_known() -> None:
    m = load_manifest(PROJECT / "versions.yaml")
    with pytest.raises(ManifestError) as info:
        get_base(m, "2023.6")
    message = str(info.value)
    assert "no base version '2023.6'" in message
    assert "did you mean '2023.06'?" in message
    assert "known versions: 2020.11, 2021.12, 2023.06, 2024.12, 2026.01" in message


# -- the example manifests ------------------------------------------------------------------------


def test_minimal_example_gets_the_defaults() -> None:
    m = load_manifest(EXAMPLES / "minimal.yaml")
    (base,) = m.bases
    assert (base.patch, base.platform, base.line) == (1, DEFAULT_PLATFORM, 8)
    assert m.site.pbs_mirror == PBS_GITHUB
    assert base.packages[1].requirement() == (
        "numpy==1.24.3 "
        "--hash=sha256:a1d3c026f57ceaad42f8231305d4653d5f05dc6332a730ae5c0bea3513de0950"
    )


def test_local_mirror_example_defaults_patch_and_normalised_names() -> None:
    m = load_manifest(EXAMPLES / "local-mirror.yaml")
    old, new = m.bases
    assert m.site.pbs_mirror == "file:///srv/pbs-mirror"
    assert m.site.usage_collector == "[::1]:8514"
    assert (old.patch, old.platform) == (3, "manylinux_2_17_x86_64")  # platform from defaults
    assert old.deprecated and old.end_of_life == dt.date(2026, 6, 30)
    assert new.platform == "manylinux_2_28_x86_64"  # its own platform beats defaults
    assert [p.name for p in old.packages] == ["pip", "numpy", "scipy", "typing-extensions"]


@pytest.mark.parametrize(
    ("name", "line", "expected"),
    [
        (
            "bad-typo-key.yaml",
            10,
            "unknown key 'pyhton' in the base entry at line 8; did you mean 'python'?",
        ),
        (
            "bad-python-mismatch.yaml",
            13,
            "base 2023.06: interpreter.asset is CPython 3.11.4, "
            "python is 3.11.5; make the asset and python (line 10) agree",
        ),
    ],
)
def test_bad_examples_fail_as_their_comments_say(name: str, line: int, expected: str) -> None:
    path = EXAMPLES / name
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert str(info.value) == f"{path}:{line}: {expected}"


# -- YAML level -----------------------------------------------------------------------------------


def test_yaml_syntax_error_points_at_the_line(tmp_path: Path) -> None:
    text = edit("    status: pro\n", "    status: pro: yes\n")
    msg = error(tmp_path, text, line_of(text, "status: pro: yes"))
    assert msg.startswith("invalid YAML: mapping values are not allowed here;")
    assert "fix the YAML syntax" in msg


def test_duplicate_mapping_key_gives_both_lines(tmp_path: Path) -> None:
    text = edit("    status: pro\n", "    status: pro\n    status: supported\n")
    first = line_of(text, "status: pro")
    msg = error(tmp_path, text, line_of(text, "status: supported"))
    assert f"duplicate key 'status' in the base entry at line 8 (first at line {first})" in msg
    assert msg.endswith("keep only one of them")


def test_duplicate_package_key_is_caught(tmp_path: Path) -> None:
    dup = '      numpy: {version: "1.24.4", hashes: ["sha256:' + "b" * 64 + '"]}\n'
    text = MINIMAL + dup
    msg = error(tmp_path, text, len(text.splitlines()))
    assert msg.startswith("duplicate key 'numpy' in base 2023.06: packages")


def test_package_names_that_normalise_alike_are_duplicates(tmp_path: Path) -> None:
    text = MINIMAL + '      NumPy: {version: "1.24.4", hashes: ["sha256:' + "b" * 64 + '"]}\n'
    msg = error(tmp_path, text, len(text.splitlines()))
    assert (
        msg
        == "base 2023.06: package 'NumPy' is pinned twice (as 'numpy'); keep one pin per package"
    )


def test_empty_file(tmp_path: Path) -> None:
    assert "the manifest is empty" in error(tmp_path, "# nothing yet\n", 1)


def test_missing_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "nope.yaml")


# -- unknown keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("bases:\n", "base:\n", "unknown key 'base' in the manifest; did you mean 'bases'?"),
        (
            "  index_url:",
            "  index-url:",
            "unknown key 'index-url' in site; did you mean 'index_url'?",
        ),
        ("    python:", "    pytohn:", "in the base entry at line 8; did you mean 'python'?"),
        ("      sha256:", "      sha265:", "in base 2023.06: interpreter; did you mean 'sha256'?"),
        ("pip: {version", "pip: {verison", "in base 2023.06: pip; did you mean 'version'?"),
        (
            "site:\n",
            "site:\n  colour: blue\n",
            "unknown key 'colour' in site; allowed keys: index_url,",
        ),
    ],
)
def test_unknown_key_at_every_level(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = edit(old, new)
    bad_key = new.rstrip().rsplit("\n", 1)[-1].split(":")[0].lstrip(" {")
    assert expected in error(tmp_path, text, line_of(text, bad_key + ":"))


# -- wrong types ----------------------------------------------------------------------------------


def test_patch_must_be_an_integer(tmp_path: Path) -> None:
    text = edit("    status: pro\n", '    status: pro\n    patch: "x"\n')
    msg = error(tmp_path, text, line_of(text, "patch:"))
    assert msg == "base 2023.06: patch 'x' is a string; write a whole number, e.g. patch: 2"


def test_patch_below_one(tmp_path: Path) -> None:
    text = edit("    status: pro\n", "    status: pro\n    patch: 0\n")
    assert "patch 0 is below 1" in error(tmp_path, text, line_of(text, "patch:"))


def test_packages_must_be_a_mapping(tmp_path: Path) -> None:
    text = MINIMAL[: MINIMAL.index("    packages:")] + "    packages:\n      - numpy\n"
    msg = error(tmp_path, text, line_of(text, "- numpy"))
    assert msg.startswith("base 2023.06: packages must be a mapping, not a list;")
    assert "name: {version: ..., hashes: [...]}" in msg


def test_hashes_must_be_a_list(tmp_path: Path) -> None:
    text = edit('hashes: ["sha256:a1d3', 'hashes: "sha256:a1d3').replace('de0950"]}', 'de0950"}')
    msg = error(tmp_path, text, line_of(text, "numpy:"))
    assert msg.startswith("base 2023.06: numpy hashes must be a non-empty list, not a string;")


def test_site_must_be_a_mapping(tmp_path: Path) -> None:
    text = "site: acc-py\n" + MINIMAL[MINIMAL.index("bases:") :]
    assert "site must be a mapping, not a string" in error(tmp_path, text, 1)


def test_end_of_life_must_be_a_date(tmp_path: Path) -> None:
    text = edit("    status: pro\n", "    status: pro\n    end_of_life: soon\n")
    msg = error(tmp_path, text, line_of(text, "end_of_life"))
    assert msg.startswith(
        "base 2023.06: end_of_life 'soon' is not a date; write a date as YYYY-MM-DD"
    )


# -- missing fields -------------------------------------------------------------------------------


def test_missing_python_names_it_at_the_entry_line(tmp_path: Path) -> None:
    text = edit("    python: 3.11.4\n", "")
    msg = error(tmp_path, text, line_of(text, '- version: "2023.06"'))
    assert msg == "the base entry at line 8 is missing the required key 'python'; add 'python:'"


def test_missing_site_key_points_at_the_site_mapping(tmp_path: Path) -> None:
    text = edit("  install_root: /acc/local/share/python/acc-py\n", "")
    msg = error(tmp_path, text, line_of(text, "index_url"))
    assert msg == "site is missing the required key 'install_root'; add 'install_root:'"


@pytest.mark.parametrize("package", ["pip", "numpy", "scipy"])
def test_missing_required_package(tmp_path: Path, package: str) -> None:
    lines = [
        ln for ln in MINIMAL.splitlines(keepends=True) if not ln.startswith(f"      {package}:")
    ]
    text = "".join(lines)
    msg = error(tmp_path, text, line_of(text, "packages:") + 1)
    assert msg.startswith(
        f"base 2023.06: packages has no '{package}' pin; add {package}: {{version:"
    )


def test_empty_value_is_reported(tmp_path: Path) -> None:
    text = edit("    python: 3.11.4\n", "    python:\n")
    assert "base 2023.06: python is empty; give it a value" in error(tmp_path, text, 10)


# -- bad version strings and hashes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'version: "2023.06"',
            'version: "2023.6"',
            "base version '2023.6' is not valid; write YYYY.MM",
        ),
        ('version: "2023.06"', 'version: "2023.13"', "base version '2023.13' is not valid"),
        ("python: 3.11.4", "python: 3.11", "base 2023.06: python '3.11' is not valid; write X.Y.Z"),
        (
            'numpy: {version: "1.24.3"',
            'numpy: {version: "1.24.x"',
            "base 2023.06: numpy version '1.24.x' is not a PEP 440 version; write an exact version",
        ),
        (
            "sha256: e26247302bc8e9083a43ce9e8dd94905b40d464745b1603041f7bc9a93c65d05",
            "sha256: e26247302bc8",
            "interpreter.sha256 'e26247302bc8' is not valid; write the 64 lowercase hex digits",
        ),
        (
            '"sha256:a1d3c026',
            '"md5:a1d3c026',
            "hash 'md5:a1d3c026f57ceaad42f8231305d4653d5f05dc6332a730ae5c0bea3513de0950' "
            "is not sha256:<64 hex digits>",
        ),
        ('tag: "20230726"', 'tag: "2023-07-26"', "interpreter.tag '2023-07-26' is not valid"),
        (
            "    status: pro\n",
            "    status: pro\n    platform: manylinux2014_x86_64\n",
            "platform 'manylinux2014_x86_64' is not valid; write manylinux_<major>_<minor>_x86_64",
        ),
        ("status: pro", "status: prod", "base 2023.06: unknown status 'prod'; did you mean 'pro'?"),
    ],
)
def test_bad_values(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = edit(old, new)
    changed = new.strip().splitlines()[-1][:16]
    assert expected in error(tmp_path, text, line_of(text, changed))


def test_unquoted_base_version_keeps_its_text(tmp_path: Path) -> None:
    """YAML reads 2023.10 as the float 2023.1; the manifest keeps what was written."""
    text = edit('version: "2023.06"', "version: 2023.10")
    assert load(tmp_path, text).bases[0].version == "2023.10"


# -- interpreter asset ----------------------------------------------------------------------------


def test_python_must_match_legacy_asset_name(tmp_path: Path) -> None:
    text = (
        edit("python: 3.11.4", "python: 3.7.8")
        .replace('"20230726"', '"20200822"')
        .replace(
            "cpython-3.11.4+20230726-x86_64-unknown-linux-gnu-install_only.tar.gz",
            "cpython-3.7.9-x86_64-unknown-linux-gnu-pgo-20200823T0036.tar.zst",
        )
    )
    msg = error(tmp_path, text, line_of(text, "asset:"))
    assert msg == (
        "base 2023.06: interpreter.asset is CPython 3.7.9, python is 3.7.8; "
        f"make the asset and python (line {line_of(text, 'python:')}) agree"
    )


def test_asset_tag_must_match_tag(tmp_path: Path) -> None:
    text = edit('tag: "20230726"', 'tag: "20230727"')
    msg = error(tmp_path, text, line_of(text, "tag:"))
    assert "interpreter.tag '20230727' differs from the asset's tag '20230726'" in msg


@pytest.mark.parametrize(
    ("asset", "expected"),
    [
        ("python-3.11.4.tar.gz", "is not a PBS asset name"),
        ("cpython-3.11.4+20230726-x86_64_v3-unknown-linux-gnu-install_only.tar.gz", "baseline"),
        ("cpython-3.11.4+20230726-x86_64-unknown-linux-musl-install_only.tar.gz", "baseline"),
        (
            "cpython-3.11.4+20230726-x86_64-unknown-linux-gnu-debug-full.tar.gz",
            "unsupported layout",
        ),
    ],
)
def test_asset_names(tmp_path: Path, asset: str, expected: str) -> None:
    text = edit("cpython-3.11.4+20230726-x86_64-unknown-linux-gnu-install_only.tar.gz", asset)
    assert expected in error(tmp_path, text, line_of(text, "asset:"))


def test_python_from_asset() -> None:
    assert (
        python_from_asset("cpython-3.11.4+20230726-x86_64-unknown-linux-gnu-install_only.tar.gz")
        == "3.11.4"
    )
    assert (
        python_from_asset("cpython-3.7.9-x86_64-unknown-linux-gnu-pgo-20200823T0036.tar.zst")
        == "3.7.9"
    )
    assert python_from_asset("Python-3.11.4.tgz") is None


# -- across bases ---------------------------------------------------------------------------------


def test_duplicate_base_version_gives_both_lines(tmp_path: Path) -> None:
    text = MINIMAL + edit("status: pro", "status: supported", BASE_ENTRY)
    first = line_of(text, '- version: "2023.06"')
    second = line_of(text, '- version: "2023.06"', nth=2)
    msg = error(tmp_path, text, second)
    assert msg == (
        f"base version '2023.06' is declared twice (lines {first} and {second}); "
        "use patch: N for a patch release, or remove one"
    )


def test_two_pro_bases(tmp_path: Path) -> None:
    text = MINIMAL + edit('"2023.06"', '"2024.06"', BASE_ENTRY)
    second = line_of(text, '"2024.06"')
    msg = error(tmp_path, text, second)
    assert msg == (
        f"more than one base has status 'pro' (2023.06 at line 8, 2024.06 at line {second}); "
        "keep exactly one 'pro' and mark the others 'supported'"
    )


def test_deprecated_needs_end_of_life(tmp_path: Path) -> None:
    text = edit("status: pro", "status: deprecated")
    msg = error(tmp_path, text, 8)
    assert msg == (
        "base 2023.06 is deprecated but has no end_of_life; add e.g. end_of_life: 2026-12-31"
    )
    ok = edit("status: pro", "status: deprecated\n    end_of_life: 2027-12-31")
    assert load(tmp_path, ok).bases[0].end_of_life == dt.date(2027, 12, 31)


# -- site -----------------------------------------------------------------------------------------

INDEX = "https://acc-py-repo.cern.ch/repository/vr-py-releases/simple/"
COLLECTOR = '"acc-py-usage.cern.ch:8514"'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (INDEX, "http://acc-py-repo.cern.ch/simple/", "must be a https:// URL; plain http://"),
        (INDEX, "acc-py-repo.cern.ch/simple/", "must be a https:// URL"),
        (COLLECTOR, '"acc-py-usage.cern.ch"', "has no port in 1-65535; write host:port"),
        (COLLECTOR, '"acc-py-usage.cern.ch:70000"', "has no port in 1-65535"),
        (COLLECTOR, '"10.0.0.300:8514"', "host '10.0.0.300' is not valid"),
        (COLLECTOR, '"[::zz]:8514"', "host '[::zz]' is not valid"),
        (COLLECTOR, '"bad_host!:8514"', "host 'bad_host!' is not valid"),
        (
            "/acc/local/share/python/acc-py",
            "acc/local",
            "site.install_root 'acc/local' is not an absolute",
        ),
    ],
)
def test_bad_site_values(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = edit(old, new)
    assert expected in error(tmp_path, text, line_of(text, new))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (INDEX, "http://127.0.0.1:8080/simple/"),
        (INDEX, "http://localhost/simple/"),
        (COLLECTOR, '"127.0.0.1:8514"'),
        (COLLECTOR, "'[2001:db8::1]:8514'"),
    ],
)
def test_good_site_values(tmp_path: Path, old: str, new: str) -> None:
    site = load(tmp_path, edit(old, new)).site
    assert new.strip("'\"") in (site.index_url, site.usage_collector)


def test_pbs_mirror_default_and_file_url(tmp_path: Path) -> None:
    text = edit("  install_root:", "  pbs_mirror: file:///srv/pbs\n  install_root:")
    assert load(tmp_path, text).site.pbs_mirror == "file:///srv/pbs"
    bad = edit("  install_root:", "  pbs_mirror: ftp://mirror/pbs\n  install_root:")
    assert "site.pbs_mirror 'ftp://mirror/pbs' must be a https:// or file:// URL" in error(
        tmp_path, bad, line_of(bad, "  pbs_mirror:")
    )


# -- the interactive environment ----------------------------------------------------------------

INTERACTIVE = """interactive:
  - release: "2025.03"
    base: "2023.06"
    status: pro
    packages:
      ipython: ""
      Matplotlib: ">= 3.8, <4"
      accpy-control: ""
"""


def test_interactive_releases_are_read() -> None:
    (release,) = load_manifest(PROJECT / "versions.yaml").interactive
    assert release.base in [b.version for b in load_manifest(PROJECT / "versions.yaml").bases]
    names = {w.name for w in release.packages}
    assert {"ipython", "jupyterlab", "matplotlib", "pandas", "pyqt6", "h5py"} <= names
    assert not names & {"numpy", "scipy", "pip"}


def test_interactive_entry_normalises_names_and_constraints(tmp_path: Path) -> None:
    (release,) = load(tmp_path, MINIMAL + INTERACTIVE).interactive
    assert (release.release, release.base, release.status) == ("2025.03", "2023.06", "pro")
    assert [w.requirement() for w in release.packages] == [
        "ipython", "matplotlib>=3.8,<4", "accpy-control",
    ]  # fmt: skip
    assert load(tmp_path, MINIMAL).interactive == ()


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        (
            'base: "2023.06"',
            'base: "2024.12"',
            "base:",
            "base '2024.12' is not declared under bases",
        ),
        ('      ipython: ""', '      numpy: ""', "numpy", "numpy comes from the base"),
        ('">= 3.8, <4"', '"3.8+"', "Matplotlib", "constraint '3.8+' is not a PEP 440 specifier"),
        (
            "status: pro\n    packages",
            "status: beta\n    packages",
            "beta",
            "unknown status 'beta'",
        ),
        ('release: "2025.03"', 'release: "2025.3"', "release:", "interactive release '2025.3'"),
        ("    packages:\n      ipython", "    packagez:\n      ipython", "packagez", "unknown key"),
    ],
)
def test_interactive_mistakes_name_the_line(
    tmp_path: Path, old: str, new: str, needle: str, expected: str
) -> None:
    text = MINIMAL + INTERACTIVE.replace(old, new)
    message = error(tmp_path, text, line_of(text, needle, text.count(needle)))  # the last one
    assert expected in message, message


def test_two_pro_interactive_releases(tmp_path: Path) -> None:
    second = INTERACTIVE.split("\n", 1)[1].replace('"2025.03"', '"2025.09"')
    text = MINIMAL + INTERACTIVE + second
    message = error(tmp_path, text, line_of(text, "- release:", 2))
    assert "more than one interactive release has status 'pro'" in message

"""ACC-PY.json through its one definition, accpy_core.metadata: written, read back, read from
an earlier version of this project (schema 1), refused when newer, and every error.

``tests/data/acc-py-json-schema-1/2023.06/ACC-PY.json`` is the real file of a base built by
this project at commit 41b2476 (``make base VERSION=2023.06 INTERPRETER=auto PLATFORM=auto``),
before the schema had a ``kind``: what every base installed today carries.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from acc_py_install.install import candidate_of_tarball, candidate_of_tree
from acc_py_install.tarball import check_metadata, peek
from conftest import PROJECT, base_tarball, every_python, python_exe

from acc_py._base import read_base
from accpy_builder.metadata import BUILDER, interactive_metadata
from accpy_core import metadata as m
from accpy_core.errors import MetadataError
from accpy_core.layout import parse_tarball_name
from accpy_core.metadata import (
    FIELDS,
    SCHEMA,
    Metadata,
    fields,
    new_metadata,
    parse_metadata,
    read_metadata,
    write_metadata,
)
from accpy_core.names import METADATA_NAME

SCHEMA_1 = PROJECT / "tests" / "data" / "acc-py-json-schema-1" / "2023.06"
PLATFORM = "manylinux_2_36_x86_64"  # the platform the schema-1 base was built for


def base(**extra: object) -> Metadata:
    values: dict[str, object] = {
        "version": "2023.06", "patch": 2, "release": "2023.06.2", "python": "3.11.7",
        "platform": "manylinux_2_28_x86_64", "status": "pro", "end_of_life": None,
        "source_date_epoch": 1685577600,
        "packages": [{"name": "numpy", "version": "1.24.3", "wheel": "n.whl", "sha256": "ab"}],
        "site": {"index_url": "https://index.example/simple/", "usage_collector": None,
                 "install_root": "/acc/local/share/python/acc-py"},
        "bases": [{"version": "2023.06", "patch": 2, "python": "3.11.7", "status": "pro",
                   "end_of_life": None, "platform": "manylinux_2_28_x86_64"}],
        "builder": {"name": "acc-py-base-builder", "version": "0.1.0"},
    }  # fmt: skip
    values.update(extra)
    return new_metadata("base", **values)


def written(tmp_path: Path, data: object) -> Path:
    (tmp_path / METADATA_NAME).write_text(json.dumps(data))
    return tmp_path


# ---------------------------------------------------------------------------- round trip


def test_round_trip(tmp_path: Path) -> None:
    meta = base()
    path = write_metadata(tmp_path, meta)
    assert path == str(tmp_path / METADATA_NAME)
    assert (tmp_path / METADATA_NAME).stat().st_mode & 0o777 == 0o644
    again = read_metadata(tmp_path)
    assert again == meta and again.path == path
    assert again.to_dict() == meta.to_dict()
    text = (tmp_path / METADATA_NAME).read_text()
    assert text == meta.dumps() and text.endswith("}\n")
    data = json.loads(text)
    assert (data["schema"], data["schema_minor"], data["kind"]) == (SCHEMA, 0, "base")
    assert list(data) == sorted(data)  # deterministic
    assert again.site.index_url == "https://index.example/simple/"
    assert again.packages[0].name == "numpy" and again.bases[0].patch == 2


def test_every_written_file_has_its_kind_and_only_its_kinds_fields() -> None:
    release = new_metadata(
        "interactive", version="2025.03", patch=0, python="3.11.7", platform="p",
        base="2023.06", base_release="2023.06.2", requested=["numpy"], index_url=None,
    )  # fmt: skip
    data = release.to_dict()
    assert data["kind"] == "interactive" and data["name"] == "acc-py-interactive"
    assert "site" not in data and "bases" not in data and data["requested"] == ["numpy"]
    assert release.site.usage_collector is None  # a field of the other kind: its empty value
    assert "base" not in base().to_dict() and base().name == "acc-py-base"
    with pytest.raises(MetadataError, match='kind is "app"'):
        new_metadata("app", version="1", patch=0, python="3", platform="p")


def test_the_writer_cannot_write_what_the_reader_refuses() -> None:
    with pytest.raises(MetadataError, match="python is missing"):
        new_metadata("base", version="2023.06", patch=0, platform="p")
    with pytest.raises(MetadataError, match=r"packages\[0\].version is 1, not a string"):
        base(packages=[{"name": "numpy", "version": 1}])


def test_the_builders_two_writers_are_one(tmp_path: Path) -> None:
    """The interactive build writes through the same definition as the base build: a release
    on the schema-1 base, written and read back, is one the installer takes by its name."""
    on = read_metadata(SCHEMA_1)
    release = interactive_metadata(
        release="2025.03", patch=1, base=on, status="pro", end_of_life=None,
        source_date_epoch=1735689600, requested=["numpy"], index_url=None,
        packages=[{"name": "numpy", "version": "1.26.4", "wheel": "n.whl", "sha256": "ab"}],
    )  # fmt: skip
    write_metadata(tmp_path, release)
    again = read_metadata(tmp_path)
    assert again == release and again.kind == "interactive" and again.builder.to_dict() == BUILDER
    assert (again.base, again.base_release, again.python) == ("2023.06", "2023.06.1", on.python)
    name = parse_tarball_name(f"acc-py-interactive-2025.03-{PLATFORM}.tar.gz")
    assert check_metadata("t", name, again) == 1
    with pytest.raises(MetadataError, match="named like a tarball of a base"):
        check_metadata("t", parse_tarball_name(f"acc-py-base-2025.03-{PLATFORM}.tar.gz"), again)


# ----------------------------------------------------------------------- older and newer


def test_reads_the_schema_1_file_of_an_earlier_build() -> None:
    """The fixture: a real ACC-PY.json of the project before schema 2 (no kind)."""
    raw = json.loads((SCHEMA_1 / METADATA_NAME).read_text())
    assert raw["schema"] == 1 and "kind" not in raw  # what the fixture is
    meta = read_metadata(SCHEMA_1)
    assert (meta.schema, meta.kind, meta.name) == (1, "base", "acc-py-base")
    assert (meta.version, meta.patch, meta.release) == ("2023.06", 1, "2023.06.1")
    assert meta.python.startswith("3.11.") and meta.platform == PLATFORM
    assert meta.interpreter["kind"] == "adopt" and meta.bundled_libraries
    assert {p.name for p in meta.packages} == {"numpy", "pip", "scipy"}
    assert [b.version for b in meta.bases][:2] == ["2020.11", "2021.12"]
    assert meta.site.install_root == "/acc/local/share/python/acc-py"
    # written again, it is a schema-2 file that says what it is, and reads back the same
    again = parse_metadata(meta.dumps(), "again")
    assert again.to_dict() == meta.to_dict() and again.schema == SCHEMA


def test_acc_py_reads_a_schema_1_base(tmp_path: Path) -> None:
    shutil.copy2(SCHEMA_1 / METADATA_NAME, tmp_path / METADATA_NAME)
    found = read_base(str(tmp_path))
    assert (found.version, found.patch, found.status) == ("2023.06", 1, "pro")
    assert [b.version for b in found.bases][-1] == "2026.01"


def test_the_installer_and_the_images_read_a_schema_1_tarball(tmp_path: Path) -> None:
    """The tarball-reading paths: acc-py-install's peek and candidate, and the image plan's
    find_base, on a tarball whose ACC-PY.json is the schema-1 fixture."""
    from accpy_images.plan import find_base

    stem = f"acc-py-base-2023.06-{PLATFORM}"
    tarball = base_tarball(
        tmp_path / f"{stem}.tar.gz", "2023.06", (SCHEMA_1 / METADATA_NAME).read_bytes()
    )
    peeked = peek(tarball, "2023.06")
    assert (peeked.metadata.kind, peeked.metadata.patch) == ("base", 1)
    cand = candidate_of_tarball(tarball)
    assert (cand.name.kind, cand.release) == ("base", "2023.06.1")
    for beside in ("-installer.sh", "-installer.sh.sha256", ".cdx.json"):
        (tmp_path / f"{stem}{beside}").write_text("")
    found = find_base(tmp_path, "2023.06")
    assert found is not None
    assert (found.version, found.patch, found.platform) == ("2023.06", 1, PLATFORM)
    assert found.python.startswith("3.11.") and found.source_date_epoch > 0
    # and a staged tree (what the self-extractor hands over)
    tree = tmp_path / "staged" / "2023.06"
    tree.mkdir(parents=True)
    shutil.copy2(SCHEMA_1 / METADATA_NAME, tree / METADATA_NAME)
    (tree / "ACC-PY.RECORD").write_text("")
    assert candidate_of_tree(tree).release == "2023.06.1"


def test_a_newer_schema_is_refused_with_what_to_do(tmp_path: Path) -> None:
    data = {**base().to_dict(), "schema": SCHEMA + 1}
    with pytest.raises(MetadataError) as err:
        read_metadata(written(tmp_path, data))
    assert str(tmp_path / METADATA_NAME) in str(err.value)
    assert f"schema {SCHEMA + 1}, newer than this tool reads" in str(err.value)
    assert "newer acc-py-install" in str(err.value)


def test_a_newer_minor_and_unknown_keys_are_read(tmp_path: Path) -> None:
    data = {**base().to_dict(), "schema_minor": 7, "future": {"x": 1}}
    data["site"] = {**data["site"], "mirror": "https://m.example"}
    meta = read_metadata(written(tmp_path, data))
    assert meta == base() and meta.schema_minor == 7
    assert "future" not in meta.to_dict() and not hasattr(meta, "future")


# ---------------------------------------------------------------------------- every error


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": None}, "kind is missing"),
        ({"kind": "app"}, 'kind is "app", not one of base, interactive'),
        ({"version": None}, "version is missing"),
        ({"patch": "2"}, 'patch is "2", not an integer'),
        ({"patch": True}, "patch is true, not an integer"),
        ({"patch": -1}, "patch is -1, not a patch number"),
        ({"end_of_life": 2024}, "end_of_life is 2024, not a string or null"),
        ({"bundled_libraries": ["a", 1]}, "bundled_libraries is .*, not an array of strings"),
        ({"interpreter": []}, "interpreter is \\[\\], not an object"),
        ({"packages": {}}, "packages is {}, not an array"),
        ({"packages": [{"version": "1"}]}, r"packages\[0\].name is missing"),
        ({"site": "x"}, 'site is "x", not an object'),
        ({"schema": "2"}, 'schema is "2", not a schema number'),
    ],
)
def test_each_mistake_is_a_metadata_error_naming_the_file(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    data = base().to_dict()
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(MetadataError, match=message) as err:
        read_metadata(written(tmp_path, data))
    assert str(err.value).startswith(str(tmp_path / METADATA_NAME))


def test_missing_unreadable_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match=r"does not exist; is .* an Acc-Py base tree"):
        read_metadata(tmp_path)
    with pytest.raises(MetadataError, match=r"^no base here$"):
        read_metadata(tmp_path, missing="no base here")
    (tmp_path / METADATA_NAME).mkdir()
    with pytest.raises(MetadataError, match="cannot read"):
        read_metadata(tmp_path)
    (tmp_path / METADATA_NAME).rmdir()
    (tmp_path / METADATA_NAME).write_text("{")
    with pytest.raises(MetadataError, match="is not valid JSON"):
        read_metadata(tmp_path)
    (tmp_path / METADATA_NAME).write_text("[1]")
    with pytest.raises(MetadataError, match="is not a JSON object"):
        read_metadata(tmp_path)
    with pytest.raises(MetadataError, match=r"^t\.tar\.gz: x is not valid JSON"):
        parse_metadata(b"\xff", "t.tar.gz: x")


# ----------------------------------------------------------------------------- the format


def test_every_field_says_since_when_and_what() -> None:
    for f in [*FIELDS, *(f for rows in m.RECORDS.values() for f in rows)]:
        assert f.since in ("1", "2") and f.description.endswith((".", ")"))
        base_type = f.type.rstrip("?").removesuffix("[]")
        assert base_type in ("string", "integer", "strings", "object", *m.RECORDS), f
    names = [f.name for f in fields("base")]
    assert names[:3] == ["schema", "schema_minor", "kind"] and "requested" not in names
    assert {f.name for f in fields()} == {f.name for f in FIELDS}
    assert [f.name for f in FIELDS if f.since == "2"] == ["schema_minor", "kind"]


def test_the_json_schema_is_of_this_definition() -> None:
    """The committed JSON Schema (docs/generate.py --check keeps it current) lists every key,
    and what the writer writes has every key it requires, of the types it says."""
    schema = json.loads((PROJECT / "docs" / "reference" / "acc-py-json.schema.json").read_text())
    assert set(schema["properties"]) == {f.name for f in FIELDS}
    assert set(schema["$defs"]) == set(m.RECORDS)
    data = base().to_dict()
    assert set(schema["required"]) <= set(data)
    json_types = {str: "string", int: "integer", list: "array", dict: "object", type(None): "null"}
    for key, value in data.items():
        rule = schema["properties"][key]
        allowed = rule.get("type", "object")  # a $ref: a record, an object
        assert json_types[type(value)] in ([allowed] if isinstance(allowed, str) else allowed)
    assert data["kind"] in schema["properties"]["kind"]["enum"]


def test_the_reader_stays_light() -> None:
    """acc-py venv imports it: nothing but json, os and the core's light modules."""
    import subprocess
    import sys

    probe = (
        "import json, os, sys; before = set(sys.modules)\n"
        "import accpy_core.metadata\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", probe], env={"PYTHONPATH": str(PROJECT / "src")},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    imported = set(proc.stdout.split()) - {"__future__"}
    assert imported == {
        "accpy_core", "accpy_core.errors", "accpy_core.metadata", "accpy_core.names",
    }  # fmt: skip


@pytest.mark.parametrize("minor", every_python())
def test_on_every_python_a_base_ships(minor: str, tmp_path: Path) -> None:
    """It ships in every base: the schema-1 fixture read, written again and read back, and a
    newer schema refused, on CPython 3.7 to 3.13."""
    import subprocess

    probe = (
        "import sys\n"
        "from accpy_core.errors import MetadataError\n"
        "from accpy_core.metadata import parse_metadata, read_metadata, write_metadata\n"
        "meta = read_metadata(sys.argv[1])\n"
        "write_metadata(sys.argv[2], meta)\n"
        "again = read_metadata(sys.argv[2])\n"
        "assert again == meta and again.kind == 'base' and again.schema == 2, again\n"
        "try:\n"
        "    parse_metadata('{\"schema\": 9}', 'x')\n"
        "except MetadataError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        [str(python_exe(minor)), "-c", probe, str(SCHEMA_1), str(tmp_path)],
        env={"PYTHONPATH": str(PROJECT / "src")}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("x is of schema 9, newer than this tool reads")

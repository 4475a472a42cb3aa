"""``ACC-PY.json``: what a base or an interactive release is. The one definition of the file.

Every base tree and every interactive release carries it at its top. The builder writes it
(:func:`write_metadata`); everything else reads it through :func:`read_metadata` (a tree's
file) or :func:`parse_metadata` (its bytes, e.g. from a tarball): the installer, ``acc-py``,
the image builder, the builder itself. The format is documented field by field, each with the
schema it appeared in, in ``docs/reference/acc-py-json.md`` and ``acc-py-json.schema.json``
(JSON Schema), both generated from :data:`FIELDS` by ``docs/generate.py``.

The schema:

- ``schema`` (an integer, the major version) changes when a reader of the previous one would
  misread a file: a reader refuses a file of a newer major, with what to do;
- ``schema_minor`` changes when fields are added that an older reader may ignore; a reader
  ignores every key it does not know;
- a reader of schema N reads files of schema N-1 (schema 1: the files written before there was
  a ``kind``; it defaults to ``"base"``).

Light on purpose, like :mod:`accpy_core.names`: it imports only :mod:`json`, :mod:`os` and the
core's names and errors, so that ``acc-py venv`` reads its base through it at no cost (no
``dataclasses``, no ``typing`` at run time). Standard library only, Python 3.7+.
"""

from __future__ import annotations

import json
import os

from .errors import MetadataError
from .names import BASE_KIND, INTERACTIVE_KIND, KINDS, METADATA_NAME

#: typing.TYPE_CHECKING without importing typing at run time (mypy takes it as True)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

#: the schema this module writes, and the newest major it reads
SCHEMA = 2
SCHEMA_MINOR = 0
#: the oldest schema it reads (N-1)
OLDEST_SCHEMA = 1
#: what every kind is called in ``name``
NAMES = {BASE_KIND: "acc-py-base", INTERACTIVE_KIND: "acc-py-interactive"}
_BOTH = KINDS


class Field:
    """One key of the file: its JSON ``type`` (``string``, ``integer``, ``string?`` for a
    string or null, ``integer?``, ``strings`` for an array of strings, ``object`` for one of
    free form, the name of a record of :data:`RECORDS`, or ``NAME[]`` for an array of them),
    the schema it appeared in (``since``), the kinds that carry it, and whether a reader needs
    it (``required``; the others take their empty value when missing)."""

    __slots__ = ("description", "kinds", "name", "required", "since", "type")

    def __init__(
        self,
        name: str,
        type: str,
        since: str,
        description: str,
        *,
        kinds: tuple[str, ...] = _BOTH,
        required: bool = False,
    ) -> None:
        self.name = name
        self.type = type
        self.since = since
        self.description = description
        self.kinds = kinds
        self.required = required

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.type!r}, since {self.since})"


_B, _I = (BASE_KIND,), (INTERACTIVE_KIND,)

#: the keys of the file, in the order the reference lists them
FIELDS = (
    Field("schema", "integer", "1", "The schema's major version: 2. Missing in some files of "
          "schema 1. A reader refuses a file of a newer major than its own.", required=True),
    Field("schema_minor", "integer", "2", "The schema's minor version: fields added that an "
          "older reader of the same major may ignore."),
    Field("kind", "string", "2", '`"base"` or `"interactive"` (an interactive release). '
          "Schema 1 wrote it in interactive releases only: a file of schema 1 without it "
          "is a base.", required=True),
    Field("name", "string", "1", '`"acc-py-base"` or `"acc-py-interactive"`.'),
    Field("version", "string", "1", "The version (`2023.06`; of an interactive release, its "
          "release `2025.03`).", required=True),
    Field("patch", "integer", "1", "The patch number (0, 1, ...): the installed tree is "
          "`._<version>.<patch>`.", required=True),
    Field("release", "string", "1", "`<version>.<patch>`."),
    Field("python", "string", "1", "The CPython version, X.Y.Z.", required=True),
    Field("platform", "string", "1", "The platform tag the tree runs on "
          "(`manylinux_2_28_x86_64`): the one its tarball is named with.", required=True),
    Field("status", "string", "1", "versions.yaml's status: `pro`, `supported`, `deprecated`, "
          "`eol`, ..."),
    Field("end_of_life", "string?", "1", "The end of life, an ISO date, or null."),
    Field("source_date_epoch", "integer?", "1", "The build's SOURCE_DATE_EPOCH: every file's "
          "time and the SBOM's."),
    Field("builder", "builder", "1", "What wrote the file."),
    Field("declared_platform", "string", "1", "The platform versions.yaml declares (the "
          "`platform` may be more precise).", kinds=_B),
    Field("interpreter", "object", "1", "Where the interpreter came from: `kind` "
          '(`"pbs"`: a python-build-standalone asset, with its `url` and `sha256`; '
          '`"adopt"`: an install of this machine, with its `prefix`), as the builder '
          "recorded it.", kinds=_B),
    Field("packages", "package[]", "1", "The packages installed into the tree, by name.",
          kinds=_BOTH),
    Field("bundled_libraries", "strings", "1", "The shared libraries copied into the base "
          "beside the interpreter (by file name).", kinds=_B),
    Field("site", "site", "1", "The site's settings the base was built with.", kinds=_B),
    Field("bases", "base[]", "1", "Every base of the manifest, as the builder knew them "
          "(`acc-py init` and `init-ci` choose among them).", kinds=_B),
    Field("base", "string", "1", "The base version the release runs on.", kinds=_I),
    Field("base_release", "string?", "1", "The base's `<version>.<patch>` it was built on.",
          kinds=_I),
    Field("requested", "strings", "1", "The requirements the release was locked from.",
          kinds=_I),
    Field("index_url", "string?", "1", "The index the release was locked against.", kinds=_I),
)  # fmt: skip

#: the records (JSON objects of known keys) the fields above hold
RECORDS = {
    "builder": (
        Field("name", "string", "1", "`acc-py-base-builder`."),
        Field("version", "string", "1", "Its version."),
    ),
    "package": (
        Field("name", "string", "1", "The distribution's name.", required=True),
        Field("version", "string", "1", "Its version.", required=True),
        Field("wheel", "string", "1", "The file name of the wheel installed."),
        Field("sha256", "string", "1", "The wheel's sha256."),
    ),
    "site": (
        Field("index_url", "string?", "1", "The site's package index (pip.conf's)."),
        Field("usage_collector", "string?", "1", "The usage collector, HOST:PORT."),
        Field("install_root", "string?", "1", "The install root of the site's bases."),
    ),
    "base": (
        Field("version", "string", "1", "Its version.", required=True),
        Field("patch", "integer?", "1", "Its patch number."),
        Field("python", "string", "1", "Its CPython, X.Y.Z."),
        Field("status", "string", "1", "Its status."),
        Field("end_of_life", "string?", "1", "Its end of life, an ISO date, or null."),
        Field("platform", "string", "1", "Its platform tag."),
    ),
}


_FIELD = {f.name: f for f in FIELDS}


def fields(kind: str | None = None) -> Iterator[Field]:
    """The fields of the file (of one ``kind``), for the reference and the JSON Schema."""
    return (f for f in FIELDS if kind is None or kind in f.kinds)


class Record:
    """A JSON object of known keys (a :data:`RECORDS` entry); its fields as attributes."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._values!r})"

    def to_dict(self) -> dict[str, Any]:
        return {k: _dump(v) for k, v in self._values.items()}


class Metadata(Record):
    """One ``ACC-PY.json``. Every field of :data:`FIELDS` that its kind carries is an
    attribute (a missing optional one: its empty value); records are :class:`Record`\\ s.

    ``path``: where it was read from (for messages), or None."""

    __slots__ = ("path",)

    if TYPE_CHECKING:  # what mypy knows of the attributes :meth:`Record.__getattr__` serves
        schema: int
        schema_minor: int
        kind: str
        name: str
        version: str
        patch: int
        release: str
        python: str
        platform: str
        status: str
        end_of_life: str | None
        source_date_epoch: int | None
        builder: Record
        declared_platform: str
        interpreter: dict[str, Any]
        packages: list[Record]
        bundled_libraries: list[str]
        site: Record
        bases: list[Record]
        base: str
        base_release: str | None
        requested: list[str]
        index_url: str | None

    def __init__(self, values: dict[str, Any], path: str | None = None) -> None:
        super().__init__(values)
        self.path = path

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            pass
        field = _FIELD.get(name)  # a field of the other kind: its empty value
        if field is None:
            raise AttributeError(name)
        return _empty(field.type)

    @property
    def is_base(self) -> bool:
        return self.kind == BASE_KIND

    def to_dict(self) -> dict[str, Any]:
        """The file's content: every field of the kind, at the current schema."""
        data = super().to_dict()
        data["schema"], data["schema_minor"] = SCHEMA, SCHEMA_MINOR
        return data

    def dumps(self) -> str:
        """The file's text: deterministic (sorted keys, no clock), for reproducible builds."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


_SCALARS = ("string", "integer")
_ARTICLE = {"string": "a string", "integer": "an integer"}


def _empty(type_: str) -> Any:
    """The value of a missing optional field of ``type_``."""
    if type_.endswith("?"):
        return None
    if type_.endswith("[]") or type_ == "strings":
        return []
    if type_ in RECORDS:
        return _record(type_, {}, "")
    return {"string": "", "integer": 0, "object": {}}[type_]


def _is(value: Any, scalar: str) -> bool:
    if scalar == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def _value(field: Field, value: Any, where: str) -> Any:
    """``value`` as ``field`` holds it; MetadataError naming ``where`` if it is not."""
    type_ = field.type
    bad = f"{where}{field.name} is {json.dumps(value)}"
    if type_.endswith("?"):
        if value is None or _is(value, type_[:-1]):
            return value
        raise MetadataError(f"{bad}, not {_ARTICLE[type_[:-1]]} or null")
    if type_ in _SCALARS:
        if _is(value, type_):
            return value
        raise MetadataError(f"{bad}, not {_ARTICLE[type_]}")
    if type_ == "strings":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise MetadataError(f"{bad}, not an array of strings")
    if type_ == "object":
        if isinstance(value, dict):
            return dict(value)
        raise MetadataError(f"{bad}, not an object")
    if type_.endswith("[]"):
        if not isinstance(value, list):
            raise MetadataError(f"{bad}, not an array")
        return [
            _record(type_[:-2], row, f"{where}{field.name}[{i}].") for i, row in enumerate(value)
        ]
    return _record(type_, value, f"{where}{field.name}.")


def _values(known: tuple[Field, ...] | Iterator[Field], data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MetadataError(f"{where.rstrip('.') or 'it'} is {json.dumps(data)}, not an object")
    values = {}
    for field in known:
        if field.name in data:
            values[field.name] = _value(field, data[field.name], where)
        elif field.required:
            raise MetadataError(f"{where}{field.name} is missing")
        else:
            values[field.name] = _empty(field.type)
    return values  # a key not in ``known``: of a newer minor, ignored


def _record(name: str, data: Any, where: str) -> Record:
    return Record(_values(RECORDS[name], data, where))


def _hint(where: str) -> str:
    return f"{where}: " if where else ""


def from_dict(data: Any, where: str = "") -> Metadata:
    """The :class:`Metadata` of a parsed ``ACC-PY.json`` (``where``: its path, for messages).
    MetadataError for a newer schema or a missing or mistyped field."""
    name = where or METADATA_NAME
    if not isinstance(data, dict):
        raise MetadataError(f"{name} is not a JSON object; rebuild or reinstall it")
    schema = data.get("schema", OLDEST_SCHEMA)
    if not _is(schema, "integer") or schema < OLDEST_SCHEMA:
        raise MetadataError(f"{name}: schema is {json.dumps(schema)}, not a schema number")
    if schema > SCHEMA:
        raise MetadataError(
            f"{name} is of schema {schema}, newer than this tool reads (up to {SCHEMA}); use "
            "the tools of the Acc-Py that built it (a newer acc-py-install, acc-py, builder)"
        )
    kind = data.get("kind", BASE_KIND) if schema == 1 else data.get("kind")
    if kind not in KINDS:
        what = "is missing" if kind is None else f"is {json.dumps(kind)}"
        raise MetadataError(
            f"{name}: kind {what}, not one of {', '.join(KINDS)}; rebuild or reinstall it"
        )
    try:
        values = _values(fields(kind), {**data, "schema": schema, "kind": kind}, "")
    except MetadataError as exc:
        raise MetadataError(f"{name}: {exc}; rebuild or reinstall it") from None
    if values["patch"] < 0:
        raise MetadataError(f"{name}: patch is {values['patch']}, not a patch number (0, 1, ...)")
    if not values["name"]:
        values["name"] = NAMES[kind]
    return Metadata(values, where or None)


def parse_metadata(text: str | bytes, where: str) -> Metadata:
    """The :class:`Metadata` in ``text`` (the bytes of an ``ACC-PY.json``, e.g. from a tarball;
    ``where``: what it came from, for messages)."""
    try:
        data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
    except ValueError as exc:
        raise MetadataError(f"{where} is not valid JSON ({exc}); rebuild or reinstall it") from exc
    return from_dict(data, where)


def path_of(tree: str | os.PathLike[str]) -> str:
    """The ``ACC-PY.json`` of ``tree``."""
    return os.path.join(os.fspath(tree), METADATA_NAME)


def read_metadata(tree: str | os.PathLike[str], *, missing: str | None = None) -> Metadata:
    """The :class:`Metadata` of the base or release tree ``tree`` (``missing``: the message
    when it has no ``ACC-PY.json``). MetadataError for every problem, naming the file."""
    path = path_of(tree)
    try:
        with open(path, "rb") as fh:
            text = fh.read()
    except FileNotFoundError as exc:
        raise MetadataError(
            missing or f"{path} does not exist; is {os.fspath(tree)} an Acc-Py base tree?"
        ) from exc
    except OSError as exc:
        raise MetadataError(f"cannot read {path}: {exc.strerror}; check its permissions") from exc
    return parse_metadata(text, path)


def new_metadata(kind: str, **values: Any) -> Metadata:
    """A new :class:`Metadata` of ``kind`` at the current schema, checked as a reader checks
    it (the writer cannot write what the reader refuses)."""
    data = {**values, "schema": SCHEMA, "schema_minor": SCHEMA_MINOR, "kind": kind}
    data.setdefault("name", NAMES.get(kind, ""))
    return from_dict(data, f"the {kind}'s {METADATA_NAME}")


def write_metadata(tree: str | os.PathLike[str], metadata: Metadata) -> str:
    """Write ``metadata`` as ``tree``'s ``ACC-PY.json`` (mode 0644); return its path."""
    path = path_of(tree)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(metadata.dumps())
    os.chmod(path, 0o644)
    return path

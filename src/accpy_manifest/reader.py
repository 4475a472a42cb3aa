"""Read versions.yaml, validate it, turn it into the frozen objects of :mod:`accpy_manifest.model`.

The YAML is composed into nodes (never loaded into dicts) so that every value keeps its line.
Each mistake raises one :class:`ManifestError` whose message is a single line:
``<path>:<line>: <what is wrong>; <how to fix it>``.

Scalars that must be strings (versions, tags, hashes) are read from their raw text: YAML 1.1 would
turn ``2020.10`` into the float ``2020.1`` and ``20230726`` into an int, and that is never what the
author meant. Nothing here touches the network: host names are checked for form, not resolved.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import NoReturn, cast
from urllib.parse import urlsplit

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from accpy_core.collector import LOOPBACK_HOSTS, parse_address
from accpy_core.errors import ConfigError, ManifestError
from accpy_core.platforms import manylinux_x86_64
from accpy_core.versions import DEPRECATED, STATUSES, VERSION_PATTERN

from .model import (
    DEFAULT_PLATFORM,
    PBS_GITHUB,
    BaseSpec,
    CaCertificate,
    ImageSite,
    InteractiveSpec,
    Manifest,
    OsImage,
    PackagePin,
    PbsAsset,
    Site,
    Wanted,
)

__all__ = [
    "FROM_THE_BASE",
    "OS_FAMILIES",
    "REQUIRED_PACKAGES",
    "get_base",
    "load_manifest",
    "python_from_asset",
    "read_ca_certificate",
]

REQUIRED_PACKAGES = ("pip", "numpy", "scipy")

# key -> required?
_TOP_KEYS = {"site": True, "defaults": False, "bases": True, "interactive": False}
_SITE_KEYS = {
    "index_url": True,
    "usage_collector": True,
    "install_root": True,
    "pbs_mirror": False,
    "images": False,
    "ca_certificates": False,
}
_IMAGES_KEYS = {"registry": True, "os": True}
_OS_KEYS = {"from": True, "family": True}
#: the package-list families of accpy_images/packages.yaml
OS_FAMILIES = ("el", "debian")
_OS_NAME = re.compile(r"[a-z][a-z0-9]*")
_REGISTRY = re.compile(r"[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*")
_DEFAULTS_KEYS = {"platform": False}
_BASE_KEYS = {
    "version": True,
    "patch": False,
    "status": True,
    "end_of_life": False,
    "python": True,
    "platform": False,
    "interpreter": True,
    "packages": True,
}
_INTERPRETER_KEYS = {"tag": True, "asset": True, "sha256": True}
_RELEASE_KEYS = {
    "release": True,
    "patch": False,
    "base": True,
    "status": True,
    "end_of_life": False,
    "packages": True,
}
#: what the base brings: an interactive release never installs these a second time
FROM_THE_BASE = ("numpy", "scipy", "pip")
_PIN_KEYS = {"version": True, "hashes": True}

_BASE_VERSION = re.compile(VERSION_PATTERN)
_PYTHON = re.compile(r"\d+\.\d+\.\d+")
_PBS_TAG = re.compile(r"\d{8}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PKG_NAME = re.compile(r"[A-Z0-9]([A-Z0-9._-]*[A-Z0-9])?", re.IGNORECASE)
# cpython-3.11.4+20230726-x86_64-unknown-linux-gnu-install_only.tar.gz
# cpython-3.7.9-x86_64-unknown-linux-gnu-pgo-20200823T0036.tar.zst (before tags went in the name)
_ASSET = re.compile(r"cpython-(?P<python>\d+\.\d+\.\d+)(?:\+(?P<tag>\d{8}))?-(?P<rest>.+)")
_INSTALL_ONLY = ("-install_only.tar.gz", "-install_only_stripped.tar.gz")
_EXAMPLE_ASSET = "cpython-3.11.4+20230726-x86_64-unknown-linux-gnu-install_only.tar.gz"

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def python_from_asset(asset: str) -> str | None:
    """The CPython version in a PBS asset name (``"3.11.4"``), or None if it is not a PBS name."""
    m = _ASSET.fullmatch(asset)
    return m["python"] if m else None


def load_manifest(path: Path) -> Manifest:
    """Read and validate ``path``; raise :class:`ManifestError` on the first mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc}); check the path") from exc
    return _Reader(path).manifest(text)


_PEM_CERT = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?"
)


def read_ca_certificate(path: Path, line: int = 0) -> CaCertificate:
    """A site CA file: one or more PEM certificates, nothing else (no private key), that OpenSSL
    loads. Raises ConfigError naming the file and what to give instead."""
    import ssl

    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot read the CA certificate ({exc}); give a PEM file"
        ) from exc
    if "PRIVATE KEY" in text:
        raise ConfigError(
            f"{path} holds a private key: give the CA's certificate only (never its key)"
        )
    certificates = _PEM_CERT.findall(text)
    if not certificates:
        raise ConfigError(
            f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); convert a DER file "
            "with `openssl x509 -inform der -in CA.crt -out CA.pem`"
        )
    pem = "".join(c if c.endswith("\n") else c + "\n" for c in certificates).replace("\r", "")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{path}: OpenSSL cannot load the certificate ({exc})") from exc
    return CaCertificate(path, pem, line)


def get_base(manifest: Manifest, version: str) -> BaseSpec:
    """The base ``version`` declares; an unknown one names the known ones."""
    for base in manifest.bases:
        if base.version == version:
            return base
    known = manifest.versions()
    close = difflib.get_close_matches(version, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ManifestError(
        f"{manifest.path}: no base version {version!r}; "
        f"{hint}known versions: {', '.join(known) or '(none)'}"
    )


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return {_NULL: "empty", _INT: "an integer", _STR: "a string"}.get(node.tag, "a scalar")


def _suggest(value: str, choices: Iterable[str], what: str) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(value, choices, n=1)
    return f"did you mean {close[0]!r}?" if close else f"{what}: {', '.join(choices)}"


class _Reader:
    """Walks the composed node tree of one manifest file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.constructor = yaml.constructor.SafeConstructor()

    def fail(self, at: yaml.Node | int, what: str, fix: str) -> NoReturn:
        line = at if isinstance(at, int) else _line(at)
        raise ManifestError(" ".join(f"{self.path}:{line}: {what}; {fix}".split()))

    # -- generic node helpers -------------------------------------------------------------

    def pairs(
        self, node: yaml.Node, where: str, fix: str = "write 'key: value' lines"
    ) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of a mapping; PyYAML accepts duplicate keys, we don't."""
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{where} must be a mapping, not {_kind(node)}", fix)
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _NULL:
                self.fail(key_node, f"{where} has a key that is not a name", "use plain names")
            key = str(key_node.value)
            if key in seen:
                what = f"duplicate key {key!r} in {where} (first at line {seen[key]})"
                self.fail(key_node, what, "keep only one of them")
            seen[key] = _line(key_node)
            yield key, key_node, value_node

    def fields(self, node: yaml.Node, where: str, allowed: dict[str, bool]) -> dict[str, yaml.Node]:
        """A mapping with a fixed key set: unknown keys and missing required keys are errors."""
        found: dict[str, yaml.Node] = {}
        for key, key_node, value_node in self.pairs(node, where):
            if key not in allowed:
                fix = _suggest(key, allowed, "allowed keys")
                self.fail(key_node, f"unknown key {key!r} in {where}", fix)
            found[key] = value_node
        for key, required in allowed.items():
            if required and key not in found:
                self.fail(node, f"{where} is missing the required key {key!r}", f"add '{key}:'")
        return found

    def text(self, node: yaml.Node, where: str) -> str:
        """The raw text of a scalar (see the module docstring)."""
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"{where} must be a string, not {_kind(node)}", "write one value")
        if node.tag == _NULL:
            self.fail(node, f"{where} is empty", "give it a value")
        return str(node.value)

    def matching(self, node: yaml.Node, where: str, pattern: re.Pattern[str], fix: str) -> str:
        value = self.text(node, where)
        if not pattern.fullmatch(value):
            self.fail(node, f"{where} {value!r} is not valid", fix)
        return value

    # -- the manifest ---------------------------------------------------------------------

    def manifest(self, text: str) -> Manifest:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "syntax error"
            line = int(mark.line) + 1 if mark else 1
            self.fail(line, f"invalid YAML: {problem}", "fix the YAML syntax on this line")
        except yaml.YAMLError as exc:
            self.fail(1, f"invalid YAML: {exc}", "fix the YAML syntax")
        if root is None:
            self.fail(1, "the manifest is empty", "add 'site:' and 'bases:' (see versions.yaml)")
        top = self.fields(root, "the manifest", _TOP_KEYS)
        site = self.site(top["site"])
        platform = DEFAULT_PLATFORM
        if "defaults" in top:
            defaults = self.fields(top["defaults"], "defaults", _DEFAULTS_KEYS)
            if "platform" in defaults:
                platform = self.platform(defaults["platform"], "defaults.platform")
        bases_node = top["bases"]
        if not isinstance(bases_node, yaml.SequenceNode) or not bases_node.value:
            what = f"bases must be a non-empty list, not {_kind(bases_node)}"
            self.fail(bases_node, what, "write one '- version: ...' entry per base")
        bases = tuple(self.base(node, platform) for node in bases_node.value)
        self.check_together(bases)
        releases: tuple[InteractiveSpec, ...] = ()
        if "interactive" in top:
            releases = self.interactive(top["interactive"], bases)
        return Manifest(path=self.path, site=site, bases=bases, interactive=releases)

    # -- the interactive environment -------------------------------------------------------

    def interactive(
        self, node: yaml.Node, bases: tuple[BaseSpec, ...]
    ) -> tuple[InteractiveSpec, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            what = f"interactive must be a non-empty list, not {_kind(node)}"
            self.fail(node, what, "write one '- release: ...' entry per release")
        releases = tuple(self.release(n, bases) for n in node.value)
        rows = [(r.release, r.line, r.status) for r in releases]
        self.one_each(rows, "interactive release", "remove one", "keep exactly one 'pro'")
        return releases

    def release(self, node: yaml.Node, bases: tuple[BaseSpec, ...]) -> InteractiveSpec:
        f = self.fields(node, f"the interactive entry at line {_line(node)}", _RELEASE_KEYS)
        fix = 'write YYYY.MM in quotes, e.g. release: "2025.03"'
        release = self.matching(f["release"], "interactive release", _BASE_VERSION, fix)
        where = f"interactive {release}"
        base = self.text(f["base"], f"{where}: base")
        known = [b.version for b in bases]
        if base not in known:
            fix = _suggest(base, known, "declared bases")
            self.fail(f["base"], f"{where}: base {base!r} is not declared under bases", fix)
        status, eol = self.status(f, node, where)
        return InteractiveSpec(
            release=release,
            patch=self.patch(f, where),
            base=base,
            status=status,
            packages=self.wanted(f["packages"], where),
            end_of_life=eol,
            line=_line(node),
        )

    def package_entries(
        self, node: yaml.Node, where: str, fix: str, entry: str = "entry"
    ) -> Iterator[tuple[str, str, yaml.Node, yaml.Node]]:
        """(canonical name, key, key node, value node) of a packages mapping: valid names, each
        once (names that normalise alike are the same package)."""
        seen: set[str] = set()
        for key, key_node, value_node in self.pairs(node, f"{where}: packages", fix):
            if not _PKG_NAME.fullmatch(key):
                what = f"{where}: {key!r} is not a valid package name"
                self.fail(key_node, what, "use the project name as on PyPI")
            name = canonicalize_name(key)
            if name in seen:
                twice = "pinned" if entry == "pin" else "listed"
                what = f"{where}: package {key!r} is {twice} twice (as {name!r})"
                self.fail(key_node, what, f"keep one {entry} per package")
            seen.add(name)
            yield name, key, key_node, value_node

    def status(
        self, f: dict[str, yaml.Node], node: yaml.Node, where: str
    ) -> tuple[str, dt.date | None]:
        """The status and end_of_life of a base or release entry (deprecated needs the date)."""
        status = self.text(f["status"], f"{where}: status")
        if status not in STATUSES:
            fix = _suggest(status, STATUSES, "use one of")
            self.fail(f["status"], f"{where}: unknown status {status!r}", fix)
        eol = self.end_of_life(f["end_of_life"], where) if "end_of_life" in f else None
        if status == DEPRECATED and eol is None:
            fix = "add e.g. end_of_life: 2026-12-31"
            self.fail(node, f"{where} is deprecated but has no end_of_life", fix)
        return status, eol

    def wanted(self, node: yaml.Node, where: str) -> tuple[Wanted, ...]:
        found: dict[str, Wanted] = {}
        fix = "write 'name: \"\"' or 'name: \">=1.2\"' lines"
        for name, key, key_node, value_node in self.package_entries(node, where, fix):
            if name in FROM_THE_BASE:
                what = f"{where}: {key} comes from the base, which pins it"
                self.fail(key_node, what, f"remove {key}: it is never installed twice")
            spec = "" if value_node.tag == _NULL else self.text(value_node, f"{where}: {key}")
            try:
                SpecifierSet(spec)
            except InvalidSpecifier:
                what = f"{where}: {key} constraint {spec!r} is not a PEP 440 specifier"
                self.fail(value_node, what, 'write e.g. ">=2.0,<3" or "" for any version')
            found[name] = Wanted(name, spec.replace(" ", ""))
        if not found:
            self.fail(node, f"{where}: packages is empty", "list the packages users expect")
        return tuple(found.values())

    def site(self, node: yaml.Node) -> Site:
        f = self.fields(node, "site", _SITE_KEYS)
        index_url = self.url(f["index_url"], "site.index_url", schemes=("https",))
        collector = self.usage_collector(f["usage_collector"])
        root = self.text(f["install_root"], "site.install_root")
        posix = PurePosixPath(root)
        if not posix.is_absolute() or ".." in posix.parts:
            what = f"site.install_root {root!r} is not an absolute path"
            self.fail(f["install_root"], what, "write e.g. /acc/local/share/python/acc-py")
        mirror = PBS_GITHUB
        if "pbs_mirror" in f:
            mirror = self.url(f["pbs_mirror"], "site.pbs_mirror", schemes=("https", "file"))
        images = self.images(f["images"]) if "images" in f else None
        cas = self.ca_certificates(f["ca_certificates"]) if "ca_certificates" in f else ()
        return Site(index_url, collector, root, mirror, images, cas)

    def ca_certificates(self, node: yaml.Node) -> tuple[CaCertificate, ...]:
        """``site.ca_certificates``: PEM files, relative to the manifest's directory."""
        fix = "list PEM files relative to versions.yaml, e.g. '- ca/site-root-ca.pem'"
        if not isinstance(node, yaml.SequenceNode):
            self.fail(node, f"site.ca_certificates must be a list, not {_kind(node)}", fix)
        out = []
        for item in node.value:
            rel = self.text(item, "site.ca_certificates entry")
            path = self.path.parent / rel
            try:
                out.append(read_ca_certificate(path, _line(item)))
            except ConfigError as exc:
                raise ManifestError(
                    f"{self.path}:{_line(item)}: site.ca_certificates: {exc}"
                ) from None
        return tuple(out)

    def images(self, node: yaml.Node) -> ImageSite:
        f = self.fields(node, "site.images", _IMAGES_KEYS)
        fix = "write host[:port][/path], e.g. registry.cern.ch/acc"
        registry = self.matching(f["registry"], "site.images.registry", _REGISTRY, fix)
        if not isinstance(f["os"], yaml.MappingNode) or not f["os"].value:
            what = f"site.images.os must be a non-empty mapping, not {_kind(f['os'])}"
            self.fail(f["os"], what, "write e.g. 'el9: {from: <image>, family: el}'")
        systems = []
        for name, key, value in self.pairs(f["os"], "site.images.os"):
            fix = "use lower-case letters and digits, e.g. el9"
            if not _OS_NAME.fullmatch(name):
                self.fail(key, f"site.images.os name {name!r} is not valid", fix)
            where = f"site.images.os.{name}"
            entry = self.fields(value, where, _OS_KEYS)
            ref = self.text(entry["from"], f"{where}.from")
            family = self.text(entry["family"], f"{where}.family")
            if family not in OS_FAMILIES:
                fix = _suggest(family, OS_FAMILIES, "families")
                self.fail(entry["family"], f"{where}.family {family!r} is not known", fix)
            systems.append(OsImage(name, ref, family, _line(key)))
        return ImageSite(registry, tuple(systems))

    def url(self, node: yaml.Node, where: str, schemes: tuple[str, ...]) -> str:
        value = self.text(node, where)
        parts = urlsplit(value)
        loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
        if parts.scheme not in schemes and not loopback:
            what = f"{where} {value!r} must be a {' or '.join(s + '://' for s in schemes)} URL"
            self.fail(node, what, "plain http:// is allowed only for localhost/127.0.0.1")
        if parts.scheme != "file" and not parts.hostname:
            self.fail(node, f"{where} {value!r} has no host", "write scheme://host/path")
        return value

    def usage_collector(self, node: yaml.Node) -> str:
        value = self.text(node, "site.usage_collector")
        try:
            parse_address(value, "site.usage_collector")
        except ConfigError as exc:
            what, _, fix = str(exc).partition("; ")
            self.fail(node, what, fix)
        return value

    def platform(self, node: yaml.Node, where: str) -> str:
        value = self.text(node, where)
        plat = manylinux_x86_64(value)
        if plat is None or plat.canonical != value:
            fix = "write manylinux_<major>_<minor>_x86_64, e.g. manylinux_2_28_x86_64"
            self.fail(node, f"{where} {value!r} is not valid", fix)
        return value

    def patch(self, f: dict[str, yaml.Node], where: str) -> int:
        """``patch: N`` of a base or an interactive release (1 when absent)."""
        if "patch" not in f:
            return 1
        patch_node = f["patch"]
        if patch_node.tag != _INT:
            what = f"{where}: patch {patch_node.value!r} is {_kind(patch_node)}"
            self.fail(patch_node, what, "write a whole number, e.g. patch: 2")
        patch = cast(int, self.constructor.construct_object(patch_node))
        if patch < 1:
            self.fail(patch_node, f"{where}: patch {patch} is below 1", "patches count from 1")
        return patch

    def base(self, node: yaml.Node, default_platform: str) -> BaseSpec:
        f = self.fields(node, f"the base entry at line {_line(node)}", _BASE_KEYS)
        fix = 'write YYYY.MM in quotes, e.g. version: "2023.06"'
        version = self.matching(f["version"], "base version", _BASE_VERSION, fix)
        where = f"base {version}"
        patch = self.patch(f, where)
        status, eol = self.status(f, node, where)
        python = self.matching(f["python"], f"{where}: python", _PYTHON, "write X.Y.Z, e.g. 3.11.4")
        platform = default_platform
        if "platform" in f:
            platform = self.platform(f["platform"], f"{where}: platform")
        return BaseSpec(
            version=version,
            patch=patch,
            python=python,
            interpreter=self.interpreter(f["interpreter"], where, python, _line(f["python"])),
            packages=self.packages(f["packages"], where),
            platform=platform,
            status=status,  # one of accpy_core.versions.STATUSES
            end_of_life=eol,
            line=_line(node),
        )

    def end_of_life(self, node: yaml.Node, where: str) -> dt.date:
        value: object = None
        if node.tag == _TIMESTAMP:
            value = self.constructor.construct_object(node)
        elif node.tag == _STR:
            with contextlib.suppress(ValueError):
                value = dt.date.fromisoformat(str(node.value))
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            fix = "write a date as YYYY-MM-DD, e.g. end_of_life: 2026-12-31"
            self.fail(node, f"{where}: end_of_life {node.value!r} is not a date", fix)
        return value

    def interpreter(self, node: yaml.Node, where: str, python: str, python_line: int) -> PbsAsset:
        f = self.fields(node, f"{where}: interpreter", _INTERPRETER_KEYS)
        fix = 'write the PBS release tag in quotes, e.g. tag: "20230726"'
        tag = self.matching(f["tag"], f"{where}: interpreter.tag", _PBS_TAG, fix)
        at = f["asset"]
        asset = self.text(at, f"{where}: interpreter.asset")
        m = _ASSET.fullmatch(asset)
        if m is None or "/" in asset:
            fix = "use a python-build-standalone file name, e.g. " + _EXAMPLE_ASSET
            self.fail(at, f"{where}: interpreter.asset {asset!r} is not a PBS asset name", fix)
        rest = m["rest"]
        if not rest.startswith("x86_64-unknown-linux-gnu-") or "freethreaded" in rest:
            what = f"{where}: interpreter.asset {asset!r} is not a baseline x86_64 glibc build"
            self.fail(at, what, "pick x86_64-unknown-linux-gnu (not v2/v3, musl, freethreaded)")
        if not rest.endswith(_INSTALL_ONLY) and not asset.endswith(".tar.zst"):
            what = f"{where}: interpreter.asset {asset!r} has an unsupported layout"
            self.fail(at, what, "use an install_only[_stripped] .tar.gz or a full .tar.zst")
        if m["python"] != python:
            what = f"{where}: interpreter.asset is CPython {m['python']}, python is {python}"
            self.fail(at, what, f"make the asset and python (line {python_line}) agree")
        if m["tag"] is not None and m["tag"] != tag:
            what = f"{where}: interpreter.tag {tag!r} differs from the asset's tag {m['tag']!r}"
            self.fail(f["tag"], what, "use the release tag that is in the asset name")
        fix = "write the 64 lowercase hex digits of the asset's sha256"
        sha = self.matching(f["sha256"], f"{where}: interpreter.sha256", _SHA256, fix)
        return PbsAsset(tag=tag, asset=asset, sha256=sha)

    def packages(self, node: yaml.Node, where: str) -> tuple[PackagePin, ...]:
        pins: dict[str, PackagePin] = {}
        fix = "write 'name: {version: ..., hashes: [...]}' lines"
        for name, _key, _key_node, value_node in self.package_entries(node, where, fix, "pin"):
            pins[name] = self.pin(value_node, f"{where}: {name}", name)
        for required in REQUIRED_PACKAGES:
            if required not in pins:
                fix = f"add {required}: {{version: ..., hashes: [...]}}"
                self.fail(node, f"{where}: packages has no {required!r} pin", fix)
        return tuple(pins.values())

    def pin(self, node: yaml.Node, where: str, name: str) -> PackagePin:
        f = self.fields(node, where, _PIN_KEYS)
        version = self.text(f["version"], f"{where} version")
        try:
            Version(version)
        except InvalidVersion:
            what = f"{where} version {version!r} is not a PEP 440 version"
            self.fail(f["version"], what, 'write an exact version in quotes, e.g. "1.24.3"')
        hashes_node = f["hashes"]
        if not isinstance(hashes_node, yaml.SequenceNode) or not hashes_node.value:
            what = f"{where} hashes must be a non-empty list, not {_kind(hashes_node)}"
            self.fail(hashes_node, what, 'write hashes: ["sha256:<64 hex>", ...]')
        hashes: list[str] = []
        for item in hashes_node.value:
            value = self.text(item, f"{where} hash")
            algo, _, digest = value.partition(":")
            if algo != "sha256" or not _SHA256.fullmatch(digest):
                what = f"{where} hash {value!r} is not sha256:<64 hex digits>"
                self.fail(item, what, "copy each wheel's sha256 from PyPI as sha256:<hex>")
            if value in hashes:
                self.fail(item, f"{where} hash {value!r} is listed twice", "remove the duplicate")
            hashes.append(value)
        return PackagePin(name=name, version=version, hashes=tuple(hashes))

    def check_together(self, bases: tuple[BaseSpec, ...]) -> None:
        self.one_each(
            [(b.version, b.line, b.status) for b in bases],
            "base version",
            "use patch: N for a patch release, or remove one",
            "keep exactly one 'pro' and mark the others 'supported'",
        )

    def one_each(
        self, rows: list[tuple[str, int, str]], noun: str, twice_fix: str, pro_fix: str
    ) -> None:
        """Each (version, line, status) of ``rows`` declared once, and at most one pro."""
        first: dict[str, int] = {}
        for version, line, _ in rows:
            if version in first:
                what = f"{noun} {version!r} is declared twice (lines {first[version]} and {line})"
                self.fail(line, what, twice_fix)
            first[version] = line
        pro = [(v, line) for v, line, status in rows if status == "pro"]
        if len(pro) > 1:
            which = ", ".join(f"{v} at line {line}" for v, line in pro)
            what = f"more than one {noun.removesuffix(' version')} has status 'pro' ({which})"
            self.fail(pro[1][1], what, pro_fix)

"""packages.yaml: the OS packages of every image variant, per OS family, read once."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from accpy_core.errors import ConfigError, UsageError
from accpy_core.images import FEATURES


@dataclass(frozen=True)
class Java:
    name: str  # "openjdk17"
    packages: tuple[str, ...]
    home: str  # JAVA_HOME


@dataclass(frozen=True)
class Family:
    """One OS family's package manager and its lists (see packages.yaml)."""

    name: str
    manager: str
    cache: tuple[str, ...]
    install: str  # with {packages}
    query: str
    purl_type: str
    purl_namespace: str
    java: dict[str, Java]
    features: dict[str, tuple[str, ...]]
    #: where the OS takes a CA of its own (one PEM certificate per file, named *{ca_suffix})
    #: and the command that rebuilds its trust store from them
    ca_anchors: str = ""
    ca_suffix: str = ".crt"
    ca_update: str = ""

    def install_command(self, packages: tuple[str, ...]) -> str:
        return self.install.format(packages=" ".join(sorted(packages)))

    def java_named(self, name: str) -> Java:
        if name not in self.java:
            known = ", ".join(sorted(self.java)) or "none"
            raise UsageError(
                f"JAVA={name} is not packaged for the {self.name} family; choose from {known} "
                "(src/accpy_images/packages.yaml)"
            )
        return self.java[name]


def _fail(what: str) -> ConfigError:
    return ConfigError(f"src/accpy_images/packages.yaml: {what}; fix the file")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(f"{where} must be a list of names")
    return tuple(value)


def _family(name: str, d: Any) -> Family:
    if not isinstance(d, dict):
        raise _fail(f"families.{name} must be a mapping")
    try:
        features = {f: _strings(d["features"].get(f, []), f"{name}.features.{f}") for f in FEATURES}
        unknown = set(d["features"]) - set(FEATURES)
        if unknown:
            raise _fail(f"{name}.features has unknown {sorted(unknown)}; use {FEATURES}")
        java = {
            j: Java(j, _strings(v["packages"], f"{name}.java.{j}"), str(v["home"]))
            for j, v in d.get("java", {}).items()
        }
        return Family(
            name=name,
            manager=str(d["manager"]),
            cache=_strings(d.get("cache", []), f"{name}.cache"),
            install=str(d["install"]),
            query=str(d["query"]),
            purl_type=str(d["purl"]["type"]),
            purl_namespace=str(d["purl"]["namespace"]),
            java=java,
            features=features,
            ca_anchors=str(d["trust"]["anchors"]),
            ca_suffix=str(d["trust"]["suffix"]),
            ca_update=str(d["trust"]["update"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise _fail(f"families.{name} lacks or misuses {exc}") from exc


def load_families(text: str | None = None) -> dict[str, Family]:
    """Every family of packages.yaml (``text``: another file's content, for tests)."""
    if text is None:
        text = resources.files("accpy_images").joinpath("packages.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("families"), dict):
        raise _fail("it must hold a 'families:' mapping")
    return {name: _family(name, d) for name, d in data["families"].items()}

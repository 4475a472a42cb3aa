"""The committed GitLab CI templates as data: YAML with GitLab's ``!reference`` tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATES = Path(__file__).resolve().parent.parent / "ci-templates"


class _Loader(yaml.SafeLoader):
    pass


def _reference(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    return {"!reference": loader.construct_sequence(node)}  # type: ignore[arg-type]


_Loader.add_constructor("!reference", _reference)


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
    assert isinstance(data, dict), path
    return data


def load_templates(name: str = "jobs") -> dict[str, Any]:
    """ci-templates/v2/<name>.gitlab-ci.yml as committed (the hidden jobs by default)."""
    return load(TEMPLATES / "v2" / f"{name}.gitlab-ci.yml")


def expand(data: dict[str, Any], lines: list[Any]) -> list[str]:
    """A job's script lines with GitLab's ``!reference [job, key]`` resolved (in ``data``)."""
    out: list[str] = []
    for line in lines:
        if isinstance(line, dict) and "!reference" in line:
            job, key = line["!reference"]
            out += expand(data, data[job][key])
        elif isinstance(line, list):
            out += expand(data, line)
        else:
            out.append(line)
    return out

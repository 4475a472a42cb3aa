"""Pins with hashes, from a package index: which files of ``name==version`` a target installs,
and their sha256, read from the index's JSON API (PEP 691), never typed by hand.

:func:`lock_requirements` makes a ``--require-hashes`` requirements file that holds for several
Pythons at once: uv resolves the requirements for each of them (binary only, on the target
platform), and every pin gets the hashes of the wheels that one of those Pythons installs, with
a marker when it is not for all of them. The CI templates' tools are locked this way.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from accpy_core.errors import PackagesError
from accpy_core.proc import clean_env, run

from .packages import find_uv, target_tags, uv_platform
from .trust import ssl_context, tool_env

log = logging.getLogger(__name__)

PYPI = "https://pypi.org/simple/"
_JSON = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class IndexFile:
    """One file of a project on an index."""

    filename: str
    sha256: str
    url: str = ""  # where the index serves it


def index_files(client: httpx.Client, index_url: str, name: str) -> list[IndexFile]:
    """Every file of project ``name`` that ``index_url`` lists (yanked ones left out)."""
    url = f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"
    try:
        response = client.get(url, headers={"Accept": _JSON})
    except httpx.HTTPError as exc:
        raise PackagesError(f"cannot read {url}: {exc}") from exc
    if response.status_code != 200:
        raise PackagesError(f"{url}: HTTP {response.status_code}; is {name} on this index?")
    if not response.headers.get("content-type", "").startswith(_JSON):
        raise PackagesError(f"{url} does not answer in PEP 691 JSON: use an index that does")
    out = []
    for item in response.json().get("files", []):
        digest = item.get("hashes", {}).get("sha256")
        if digest and not item.get("yanked"):
            out.append(IndexFile(item["filename"], digest, urljoin(url, item.get("url", ""))))
    return out


def wheel_hashes(files: Iterable[IndexFile], version: str, tags: set[str]) -> list[str]:
    """The sha256 of every wheel of ``version`` among ``files`` that ``tags`` accept."""
    want = canonicalize_version(version)
    found = []
    for f in files:
        try:
            _name, v, _build, wheel_tags = parse_wheel_filename(f.filename)
        except InvalidWheelFilename:
            continue  # an sdist: never installed, binary only
        if canonicalize_version(v) == want and {str(t) for t in wheel_tags} & tags:
            found.append(f.sha256)
    return sorted(found)


def resolve(
    requirements: str, python: str, platform: str, index_url: str, env: dict[str, str]
) -> dict[str, str]:
    """``{name: version}``: uv's resolution of ``requirements`` for ``python`` on ``platform``."""
    uv = find_uv()
    if uv is None:
        raise PackagesError("uv is not installed in the builder's environment; reinstall it")
    with tempfile.TemporaryDirectory(prefix="acc-py-pins-") as tmp:
        source = Path(tmp) / "requirements.in"
        source.write_text(requirements)
        out = run(
            [
                uv, "pip", "compile", str(source), "--python-version", python,
                "--python-platform", uv_platform(platform), "--only-binary", ":all:",
                "--no-header", "--no-annotate", "--quiet", "--no-config",
                "--index-url", index_url,
            ],
            env=env, what=f"uv pip compile (Python {python})",
        )  # fmt: skip
    pins: dict[str, str] = {}
    for raw in out.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.split(";")[0].strip()
    return pins


def lock_requirements(
    requirements: str,
    pythons: Sequence[str],
    platform: str,
    *,
    index_url: str = PYPI,
    cafile: Path | None = None,
    header: Sequence[str] = (),
) -> str:
    """A ``--require-hashes`` requirements file of ``requirements`` for every one of
    ``pythons`` (``"3.11"``) on ``platform``; ``header``: its comment lines."""
    env = clean_env(tool_env(cafile))
    per_python = {p: resolve(requirements, p, platform, index_url, env) for p in pythons}
    pins: dict[tuple[str, str], list[str]] = {}
    for python, resolved in per_python.items():
        for name, version in resolved.items():
            pins.setdefault((name, version), []).append(python)
    lines = [*(f"# {h}" if h else "#" for h in header)]
    with httpx.Client(timeout=60, verify=ssl_context(cafile), follow_redirects=True) as client:
        files: dict[str, list[IndexFile]] = {}
        for (name, version), for_pythons in sorted(pins.items()):
            if name not in files:
                files[name] = index_files(client, index_url, name)
            tags = {str(t) for p in for_pythons for t in target_tags(p, platform)}
            hashes = wheel_hashes(files[name], version, tags)
            if not hashes:
                raise PackagesError(
                    f"{name}=={version}: no wheel for Python {', '.join(for_pythons)} on "
                    f"{platform} on {index_url}"
                )
            marker = ""
            if len(for_pythons) < len(pythons):
                marker = " ; " + " or ".join(f'python_version == "{p}"' for p in for_pythons)
            lines.append(f"{name}=={version}{marker} \\")
            lines += [f"    --hash=sha256:{h} \\" for h in hashes[:-1]]
            lines.append(f"    --hash=sha256:{hashes[-1]}")
    log.info("locked %d pins for Python %s", len(pins), ", ".join(pythons))
    return "\n".join(lines) + "\n"

"""What changed between two releases, two bases, or a release and its predecessor.

A *snapshot* is what users get: a base's pinned packages (versions.yaml), or an interactive
release's locked packages plus its base's. :func:`compare` lists the packages added, removed,
upgraded and downgraded, and a change of base or Python; :func:`render` writes that as text,
Markdown (the releases' CHANGELOG.md) or JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from packaging.version import Version

from accpy_core.errors import UsageError
from accpy_core.versions import version_key
from accpy_manifest import BaseSpec, Manifest, get_base

from .lock import lock_path, read_lock

Format = Literal["text", "markdown", "json"]
FORMATS = ("text", "markdown", "json")


@dataclass(frozen=True)
class Snapshot:
    kind: str  # "base" or "interactive"
    name: str  # "2025.03"
    base: str
    python: str
    packages: dict[str, str] = field(compare=False)  # name -> version

    @property
    def title(self) -> str:
        what = "base" if self.kind == "base" else "interactive release"
        return f"{what} {self.name}"


@dataclass(frozen=True)
class Change:
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Diff:
    old: Snapshot
    new: Snapshot
    added: tuple[Change, ...]
    removed: tuple[Change, ...]
    upgraded: tuple[Change, ...]
    downgraded: tuple[Change, ...]

    @property
    def base_changed(self) -> bool:
        return self.old.base != self.new.base

    @property
    def python_changed(self) -> bool:
        return self.old.python != self.new.python


def _base_snapshot(base: BaseSpec) -> Snapshot:
    pins = {p.name: p.version for p in base.packages}
    return Snapshot("base", base.version, base.version, base.python, pins)


def snapshot(manifest: Manifest, name: str) -> Snapshot:
    """``name``: ``2025.03`` (a release, else a base), ``base:V`` or ``interactive:V``."""
    kind, _, version = name.rpartition(":")
    releases = {r.release: r for r in manifest.interactive}
    bases = {b.version: b for b in manifest.bases}
    if kind not in ("", "base", "interactive"):
        raise UsageError(f"{name!r}: write VERSION, base:VERSION or interactive:VERSION")
    if kind == "interactive" or (not kind and version in releases):
        if version not in releases:
            raise UsageError(f"no interactive release {version} in {manifest.path}")
        spec = releases[version]
        base = get_base(manifest, spec.base)
        locked = read_lock(lock_path(manifest, version))
        packages = {p.name: p.version for p in base.packages}
        packages.update({p.name: p.version for p in locked.packages})
        return Snapshot("interactive", version, base.version, base.python, packages)
    if version not in bases:
        known = ", ".join([*releases, *bases])
        raise UsageError(f"{name!r} is neither a base nor an interactive release; known: {known}")
    return _base_snapshot(bases[version])


class NoPredecessor(UsageError):
    """The first release (or base) declared: there is nothing before it."""


def predecessor(manifest: Manifest, name: str) -> str:
    """The release (or base) declared just before ``name``, by version."""
    new = snapshot(manifest, name)
    pool = (
        [r.release for r in manifest.interactive]
        if new.kind == "interactive"
        else [b.version for b in manifest.bases]
    )
    older = sorted((v for v in pool if version_key(v) < version_key(new.name)), key=version_key)
    if not older:
        raise NoPredecessor(f"{new.title} has no predecessor in {manifest.path}")
    return f"{new.kind}:{older[-1]}"


def compare(old: Snapshot, new: Snapshot) -> Diff:
    def changes(names: set[str]) -> tuple[Change, ...]:
        return tuple(Change(n, old.packages.get(n), new.packages.get(n)) for n in sorted(names))

    both = set(old.packages) & set(new.packages)
    up = {n for n in both if Version(new.packages[n]) > Version(old.packages[n])}
    down = {n for n in both if Version(new.packages[n]) < Version(old.packages[n])}
    return Diff(
        old=old,
        new=new,
        added=changes(set(new.packages) - set(old.packages)),
        removed=changes(set(old.packages) - set(new.packages)),
        upgraded=changes(up),
        downgraded=changes(down),
    )


def _sections(d: Diff) -> list[tuple[str, list[str]]]:
    rows: list[tuple[str, list[str]]] = []
    if d.base_changed or d.python_changed:
        rows.append(
            (
                "Base",
                [f"base {d.old.base} -> {d.new.base}, Python {d.old.python} -> {d.new.python}"],
            )
        )
    rows.append(("Added", [f"{c.name} {c.new}" for c in d.added]))
    rows.append(("Removed", [f"{c.name} {c.old}" for c in d.removed]))
    rows.append(("Upgraded", [f"{c.name} {c.old} -> {c.new}" for c in d.upgraded]))
    rows.append(("Downgraded", [f"{c.name} {c.old} -> {c.new}" for c in d.downgraded]))
    return [(title, lines) for title, lines in rows if lines]


def render(d: Diff, fmt: Format) -> str:
    if fmt == "json":
        data = {
            "old": {k: v for k, v in asdict(d.old).items() if k != "packages"},
            "new": {k: v for k, v in asdict(d.new).items() if k != "packages"},
            "base_changed": d.base_changed,
            "python_changed": d.python_changed,
            **{
                kind: [asdict(c) for c in getattr(d, kind)]
                for kind in ("added", "removed", "upgraded", "downgraded")
            },
        }
        return json.dumps(data, indent=2) + "\n"
    sections = _sections(d)
    if fmt == "markdown":
        out = [f"# {d.new.title[0].upper()}{d.new.title[1:]}", "", f"Changes since {d.old.title}."]
        for title, lines in sections:
            out += ["", f"## {title}", "", *(f"- {line.replace(' -> ', ' → ')}" for line in lines)]
        if not sections:
            out += ["", "No changes."]
        return "\n".join(out) + "\n"
    out = [f"{d.old.title} -> {d.new.title}"]
    for title, lines in sections:
        out += [f"{title}:", *(f"  {line}" for line in lines)]
    if not sections:
        out.append("no changes")
    return "\n".join(out) + "\n"

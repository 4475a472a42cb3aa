"""``acc-py venv --recreate PATH``: rebuild a venv on the current base, keep what it had.

1. Record what the venv's own site-packages hold (the base's packages are not reinstalled):
   ``name==version`` for each distribution, ``-e <dir>`` for editable projects (PEP 610
   ``direct_url.json`` with ``dir_info.editable``), ``name @ url`` for other direct URLs.
2. Move the venv aside (a rename in the same directory: same filesystem, nothing copied).
3. Write a new venv at PATH on the current base and ``pip install`` the record there, in one
   resolution, from the site's index (the new venv's pip.conf).
4. Any failure (or Ctrl-C): delete the new venv and rename the old one back, as it was.
5. Report the packages whose version changed, as seen from inside the venv (base included).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import Any, Dict, Optional, Tuple

from accpy_core.errors import AccPyError, CommandError, RefusedError
from accpy_core.proc import clean_env, run

from . import venv as _venv
from ._base import Base, normalize_name

#: what a distribution's direct_url.json (PEP 610) holds
DirectUrl = Dict[str, Any]
#: {normalized name: (name, version, "venv" or "base")}
View = Dict[str, Tuple[str, str, str]]
#: (normalized name, name, version, direct_url.json or None)
Dist = Tuple[str, str, str, Optional[DirectUrl]]


def _metadata(path: str) -> tuple[str | None, str | None]:
    """Name and Version of a METADATA / PKG-INFO file (the headers before the body)."""
    name = version = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key == "Name":
                    name = value.strip()
                elif sep and key == "Version":
                    version = value.strip()
    except OSError:
        pass
    return name, version


def _direct_url(dist_info: str) -> DirectUrl | None:
    try:
        with open(os.path.join(dist_info, "direct_url.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def site_packages(env_dir: str) -> list[str]:
    lib = os.path.join(env_dir, "lib")
    found = []
    if os.path.isdir(lib):
        for entry in sorted(os.listdir(lib)):
            sp = os.path.join(lib, entry, "site-packages")
            if entry.startswith("python") and os.path.isdir(sp):
                found.append(sp)
    return found


def scan(site: str) -> list[Dist]:
    """The distributions of a site-packages directory."""
    out: list[Dist] = []
    if not os.path.isdir(site):
        return out
    for entry in sorted(os.listdir(site)):
        full = os.path.join(site, entry)
        direct = None
        if entry.endswith(".dist-info"):
            name, version = _metadata(os.path.join(full, "METADATA"))
            direct = _direct_url(full)
        elif entry.endswith(".egg-info"):
            meta = os.path.join(full, "PKG-INFO") if os.path.isdir(full) else full
            name, version = _metadata(meta)
        else:
            continue
        if name and version:
            out.append((normalize_name(name), name, version, direct))
    return out


def requirement(name: str, version: str, direct: DirectUrl | None) -> str:
    """The line that reinstalls a distribution as it was installed."""
    if direct and direct.get("url"):
        url = direct["url"]
        info = direct.get("dir_info")
        if info is not None and info.get("editable"):
            from urllib.parse import unquote, urlparse

            return "-e " + unquote(urlparse(url).path)
        vcs = direct.get("vcs_info")
        if vcs:
            return f"{name} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id')}"
        return f"{name} @ {url}"
    return f"{name}=={version}"


def view(env_dir: str, base_purelib: str | None) -> View:
    """What the venv sees: its own packages first, then the base's."""
    seen: View = {}
    for sp in site_packages(env_dir):
        for key, name, version, _ in scan(sp):
            seen.setdefault(key, (name, version, "venv"))
    if base_purelib:
        for key, name, version, _ in scan(base_purelib):
            seen.setdefault(key, (name, version, "base"))
    return seen


def _old_base_purelib(cfg: dict[str, str]) -> str | None:
    home = cfg.get("home")
    version = cfg.get("version", "")
    minor = ".".join(version.split(".")[:2])
    if not home or not minor:
        return None
    return os.path.join(os.path.dirname(home), "lib", "python" + minor, "site-packages")


def _prompt(cfg: dict[str, str]) -> str | None:
    value = cfg.get("prompt")
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def amend(exc: BaseException, note: str) -> str:
    """``exc``'s message with ``note`` after its first line (a command's output stays below)."""
    head, sep, tail = str(exc).partition("\n")
    colon = ":" if sep and head.endswith(":") else ""
    return f"{head[: len(head) - len(colon)]}; {note}{colon}{sep}{tail}"


def recreate(base: Base, path: str, prompt: str | None = None) -> int:
    env_dir = os.path.abspath(path)
    if not _venv.is_venv(env_dir):
        raise RefusedError(
            f"{env_dir} is not a venv (no pyvenv.cfg); create one with: acc-py venv {path}"
        )
    cfg = _venv.read_cfg(env_dir)
    if prompt is None:
        prompt = _prompt(cfg)
    reqs = []
    for sp in site_packages(env_dir):
        for _key, name, version, direct in scan(sp):
            reqs.append(requirement(name, version, direct))
    before = view(env_dir, _old_base_purelib(cfg))

    parent = os.path.dirname(env_dir)
    aside_dir = tempfile.mkdtemp(prefix=f".{os.path.basename(env_dir)}.old-", dir=parent)
    aside = os.path.join(aside_dir, "venv")
    os.rename(env_dir, aside)
    try:
        _venv.create(base, env_dir, prompt=prompt)
        if reqs:
            req_file = os.path.join(aside_dir, "requirements.txt")
            with open(req_file, "w", encoding="utf-8") as f:
                f.write("\n".join(reqs) + "\n")
            python = os.path.join(env_dir, "bin", "python")
            run(
                [python, "-m", "pip", "install", "--quiet", "-r", req_file],
                env=clean_env(user=True),
                what=f"reinstalling {len(reqs)} package(s) into the recreated venv",
            )
    except BaseException as exc:
        try:
            if os.path.lexists(env_dir):  # the failed new venv: out of the way in one rename
                os.rename(env_dir, os.path.join(aside_dir, "failed"))
            os.rename(aside, env_dir)
        except OSError as restore:
            raise CommandError(
                amend(
                    exc,
                    f"and the old venv could not be put back ({restore}): it is intact in "
                    f"{aside}, move it to {env_dir} by hand",
                )
            ) from None
        shutil.rmtree(aside_dir, ignore_errors=True)
        if isinstance(exc, AccPyError):
            raise CommandError(
                amend(exc, f"the old venv {env_dir} is restored as it was")
            ) from None
        raise
    shutil.rmtree(aside_dir, ignore_errors=True)
    _report(base, env_dir, reqs, before)
    return 0


def _report(base: Base, env_dir: str, reqs: list[str], before: View) -> None:
    after = view(env_dir, base.purelib)
    editable = sum(1 for r in reqs if r.startswith("-e "))
    out = [
        f"Recreated {env_dir} on Acc-Py base {base.version} (Python {base.python_full}): "
        f"reinstalled {len(reqs)} package(s), {editable} editable"
    ]
    changed = []
    for key in sorted(set(before) | set(after)):
        old = before.get(key)
        new = after.get(key)
        if old and new and old[1] != new[1]:
            note = " (from the base)" if new[2] == "base" else ""
            changed.append(f"  {new[0]} {old[1]} -> {new[1]}{note}")
        elif old and not new:
            changed.append(f"  {old[0]} {old[1]} -> (gone)")
    out.append("changed:" if changed else "no package changed version")
    out.extend(changed)
    sys.stdout.write("\n".join(out) + "\n")

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
import os
import shutil
import sys
import tempfile

from . import venv as _venv
from ._base import AccPyError, CommandError, RefusedError, clean_env, normalize_name, run


def _metadata(path):
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


def site_packages(env_dir):
    lib = os.path.join(env_dir, "lib")
    found = []
    if os.path.isdir(lib):
        for entry in sorted(os.listdir(lib)):
            sp = os.path.join(lib, entry, "site-packages")
            if entry.startswith("python") and os.path.isdir(sp):
                found.append(sp)
    return found


def scan(site):
    """[(normalized name, name, version, direct_url dict or None)] of a site-packages dir."""
    import json

    out = []
    if not os.path.isdir(site):
        return out
    for entry in sorted(os.listdir(site)):
        full = os.path.join(site, entry)
        direct = None
        if entry.endswith(".dist-info"):
            name, version = _metadata(os.path.join(full, "METADATA"))
            try:
                with open(os.path.join(full, "direct_url.json"), encoding="utf-8") as f:
                    direct = json.load(f)
            except (OSError, ValueError):
                direct = None
        elif entry.endswith(".egg-info"):
            meta = os.path.join(full, "PKG-INFO") if os.path.isdir(full) else full
            name, version = _metadata(meta)
        else:
            continue
        if name and version:
            out.append((normalize_name(name), name, version, direct))
    return out


def requirement(name, version, direct):
    """The line that reinstalls a distribution as it was installed."""
    if direct and direct.get("url"):
        url = direct["url"]
        info = direct.get("dir_info")
        if info is not None and info.get("editable"):
            from urllib.parse import unquote, urlparse

            return "-e " + unquote(urlparse(url).path)
        vcs = direct.get("vcs_info")
        if vcs:
            return "%s @ %s+%s@%s" % (name, vcs.get("vcs", "git"), url, vcs.get("commit_id"))
        return "%s @ %s" % (name, url)
    return "%s==%s" % (name, version)


def view(env_dir, base_purelib):
    """{normalized name: (name, version, where)} as the venv sees it: its own packages first."""
    seen = {}
    for sp in site_packages(env_dir):
        for key, name, version, _ in scan(sp):
            seen.setdefault(key, (name, version, "venv"))
    if base_purelib:
        for key, name, version, _ in scan(base_purelib):
            seen.setdefault(key, (name, version, "base"))
    return seen


def _old_base_purelib(env_dir, cfg):
    home = cfg.get("home")
    version = cfg.get("version", "")
    minor = ".".join(version.split(".")[:2])
    if not home or not minor:
        return None
    return os.path.join(os.path.dirname(home), "lib", "python" + minor, "site-packages")


def _prompt(cfg):
    value = cfg.get("prompt")
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def recreate(base, path, prompt=None, verbose=False):
    env_dir = os.path.abspath(path)
    if not _venv.is_venv(env_dir):
        raise RefusedError("%s is not a venv (no pyvenv.cfg); create one with: acc-py venv %s"
                           % (env_dir, path))
    cfg = _venv.read_cfg(env_dir)
    if prompt is None:
        prompt = _prompt(cfg)
    reqs = []
    for sp in site_packages(env_dir):
        for _key, name, version, direct in scan(sp):
            reqs.append(requirement(name, version, direct))
    before = view(env_dir, _old_base_purelib(env_dir, cfg))

    parent = os.path.dirname(env_dir)
    aside_dir = tempfile.mkdtemp(prefix=".%s.old-" % os.path.basename(env_dir), dir=parent)
    aside = os.path.join(aside_dir, "venv")
    os.rename(env_dir, aside)
    try:
        _venv.create(base, env_dir, prompt=prompt)
        if reqs:
            req_file = os.path.join(aside_dir, "requirements.txt")
            with open(req_file, "w", encoding="utf-8") as f:
                f.write("\n".join(reqs) + "\n")
            python = os.path.join(env_dir, "bin", "python")
            run([python, "-m", "pip", "install", "--quiet", "-r", req_file],
                "reinstalling %d package(s) into the recreated venv" % len(reqs), verbose,
                env=clean_env())
    except BaseException as exc:
        try:
            if os.path.lexists(env_dir):  # the failed new venv: out of the way in one rename
                os.rename(env_dir, os.path.join(aside_dir, "failed"))
            os.rename(aside, env_dir)
        except OSError as restore:
            raise CommandError(
                "%s; and the old venv could not be put back (%s): it is intact in %s, move it "
                "to %s by hand" % (exc, restore, aside, env_dir)) from None
        shutil.rmtree(aside_dir, ignore_errors=True)
        if isinstance(exc, AccPyError):
            raise CommandError(
                "%s; the old venv %s is restored as it was" % (exc, env_dir)) from None
        raise
    shutil.rmtree(aside_dir, ignore_errors=True)

    after = view(env_dir, base.purelib)
    editable = sum(1 for r in reqs if r.startswith("-e "))
    out = ["Recreated %s on Acc-Py base %s (Python %s): reinstalled %d package(s), %d editable"
           % (env_dir, base.version, base.python_full, len(reqs), editable)]
    changed = []
    for key in sorted(set(before) | set(after)):
        old = before.get(key)
        new = after.get(key)
        if old and new and old[1] != new[1]:
            note = " (from the base)" if new[2] == "base" else ""
            changed.append("  %s %s -> %s%s" % (new[0], old[1], new[1], note))
        elif old and not new:
            changed.append("  %s %s -> (gone)" % (old[0], old[1]))
    out.append("changed:" if changed else "no package changed version")
    out.extend(changed)
    sys.stdout.write("\n".join(out) + "\n")
    return 0

"""Stage 4: the pinned wheels, installed into the tree (bytecode is :mod:`.bytecode`'s job).

* :func:`fill_wheelhouse` downloads every pinned wheel (``--require-hashes``, binary only, for the
  *target* Python and platform) into ``<cache>/wheels``. The wheelhouse is filled from PyPI, or
  from ``index_url`` when given, never from the site index configured for users, and never from
  this machine's pip configuration (``clean_env`` sets ``PIP_CONFIG_FILE=/dev/null`` and drops
  ``PIP_*``). Once filled it works offline: a hit needs no network at all.
* :func:`install_packages` installs them offline (``--no-index --find-links``, hashes checked)
  into the target interpreter's own site-packages, with uv, or with pip run from its own wheel.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from accpy_core.errors import CommandError, ConfigError, PackagesError
from accpy_core.lock import flocked
from accpy_core.platforms import manylinux_x86_64, parse_platform
from accpy_core.proc import clean_env, run
from accpy_core.record import sha256_file
from accpy_manifest import PackagePin

from .trust import tool_env

log = logging.getLogger(__name__)

_INDEX_FILE = ".sha256-index.json"
_LOCK_FILE = ".lock"

Installer = Literal["auto", "uv", "pip"]


@dataclass(frozen=True)
class InstalledPackage:
    """One wheel installed into the tree."""

    name: str
    version: str
    wheel: str  # the wheel's file name
    sha256: str  # hex digest of the wheel file
    scripts: tuple[str, ...] = ()  # console scripts written to bin/ (absolute shebangs)


# --------------------------------------------------------------------------- target tags


def _abi(python_version: str) -> str:
    major, minor = _version_tuple(python_version)
    return f"cp{major}{minor}m" if (major, minor) < (3, 8) else f"cp{major}{minor}"


def _version_tuple(python_version: str) -> tuple[int, int]:
    parts = python_version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise PackagesError(
            f"bad Python version {python_version!r}: expected e.g. '3.11'"
        ) from None


def manylinux_platforms(platform: str) -> list[str]:
    """Every platform tag a ``platform`` system accepts, most preferred first."""
    plat = parse_platform(platform, PackagesError)
    if plat.family != "manylinux" or plat.libc is None or plat.libc[0] != 2:
        raise PackagesError(
            f"cannot fetch wheels for platform {platform!r}: expected a manylinux tag such as "
            "manylinux_2_28_x86_64 (set 'platform' in versions.yaml)"
        )
    return plat.accepted()


def uv_platform(platform: str) -> str:
    """``manylinux_2_28_x86_64`` -> ``x86_64-manylinux_2_28`` (uv's --python-platform)."""
    plat = manylinux_x86_64(platform)
    if plat is None or plat.libc is None:
        raise ConfigError(f"platform {platform!r} is not manylinux_X_Y_x86_64")
    return f"x86_64-manylinux_{plat.libc[0]}_{plat.libc[1]}"


def target_tags(python_version: str, platform: str) -> list[Tag]:
    """The tags a CPython ``python_version`` on ``platform`` accepts, as pip computes them."""
    version = _version_tuple(python_version)
    platforms = manylinux_platforms(platform)
    tags = list(cpython_tags(version, abis=[_abi(python_version)], platforms=platforms))
    interpreter = f"cp{version[0]}{version[1]}"
    tags += compatible_tags(version, interpreter=interpreter, platforms=platforms)
    return tags


# --------------------------------------------------------------------------- the wheelhouse


def _locked(wheelhouse: Path) -> contextlib.AbstractContextManager[None]:
    wheelhouse.mkdir(parents=True, exist_ok=True)
    return flocked(wheelhouse / _LOCK_FILE, str(wheelhouse))


class _HashIndex:
    """``wheel file name -> sha256``, kept next to the wheels; re-hashed when size/mtime change."""

    def __init__(self, wheelhouse: Path) -> None:
        self.path = wheelhouse / _INDEX_FILE
        self.dirty = False
        try:
            data = json.loads(self.path.read_text())
            self.entries: dict[str, dict[str, object]] = (
                data["wheels"] if isinstance(data, dict) and data.get("version") == 1 else {}
            )
        except (OSError, ValueError, KeyError):
            self.entries = {}

    def sha256(self, wheel: Path) -> str:
        st = wheel.stat()
        entry = self.entries.get(wheel.name)
        if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            return str(entry["sha256"])
        sha = sha256_file(wheel)
        self.entries[wheel.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
        self.dirty = True
        return sha

    def save(self) -> None:
        if not self.dirty:
            return
        present = {p.name for p in self.path.parent.glob("*.whl")}
        data = {
            "version": 1,
            "wheels": {k: self.entries[k] for k in sorted(present & set(self.entries))},
        }
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.path)
        self.dirty = False


def _candidates(wheelhouse: Path, pin: PackagePin) -> Iterator[tuple[Path, frozenset[Tag]]]:
    name, version = canonicalize_name(pin.name), canonicalize_version(pin.version)
    for wheel in sorted(wheelhouse.glob("*.whl")):
        try:
            w_name, w_version, _, w_tags = parse_wheel_filename(wheel.name)
        except InvalidWheelFilename:
            continue
        if w_name == name and canonicalize_version(w_version) == version:
            yield wheel, w_tags


def _find_wheel(
    wheelhouse: Path, pin: PackagePin, tags: Sequence[Tag], index: _HashIndex
) -> Path | None:
    """The most preferred wheel of ``pin`` present whose tags fit and whose hash is pinned."""
    allowed = {h.removeprefix("sha256:").lower() for h in pin.hashes if h.startswith("sha256:")}
    rank = {tag: i for i, tag in enumerate(tags)}
    best: tuple[int, Path] | None = None
    for wheel, w_tags in _candidates(wheelhouse, pin):
        score = min((rank[t] for t in w_tags if t in rank), default=None)
        if score is None or (best is not None and score >= best[0]):
            continue
        if index.sha256(wheel) in allowed:
            best = (score, wheel)
    return best[1] if best else None


def _requirements(pins: Sequence[PackagePin], directory: Path) -> Path:
    reqs = directory / "requirements.txt"
    reqs.write_text("".join(pin.requirement() + "\n" for pin in pins))
    return reqs


_REPIN = "re-pin its hashes in versions.yaml"


def _explain(output: str, pins: Sequence[PackagePin], where: str, repin: str = _REPIN) -> str:
    """One line naming the package that failed and how to fix it."""
    by_name = {canonicalize_name(p.name): p for p in pins}

    def pin_in(line: str) -> PackagePin | None:
        m = re.search(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        return by_name.get(canonicalize_name(m[1])) if m else None

    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "Expected sha256" in line or "hash mismatch" in line.lower():
            context = " ".join(lines[max(0, i - 2) : i + 3])
            pin = pin_in(context)
            got = re.search(r"Got\s+([0-9a-f]{64})", context)
            label = f"{pin.name}=={pin.version}" if pin else "a pinned package"
            found = f" (it has sha256:{got[1]})" if got else ""
            return (
                f"{label}: the wheel from {where} matches none of the pinned hashes{found}; {repin}"
            )
        if "No matching distribution" in line or "Could not find a version" in line:
            pin = pin_in(line)
            label = f"{pin.name}=={pin.version}" if pin else line.strip()
            return (
                f"{label}: no wheel on {where} for this Python and platform; "
                "re-pin it in versions.yaml to a version that ships one"
            )
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "unknown error")
    return f"downloading wheels from {where} failed: {last}"


def fill_wheelhouse(
    pins: Sequence[PackagePin],
    *,
    python_version: str,
    platform: str,
    cache_dir: Path,
    index_url: str | None = None,
    repin: str = _REPIN,
    cafile: Path | None = None,
) -> Path:
    """Make ``cache_dir/wheels`` hold a fitting, hash-checked wheel of every pin; return it.

    When every pin already has one, return at once without touching the network. Otherwise run
    ``pip download`` with the builder's own interpreter for the target's tags. The wheels come from
    PyPI (or ``index_url``), never from the site index configured for users or this machine's pip
    configuration.
    """
    wheelhouse = cache_dir / "wheels"
    tags = target_tags(python_version, platform)
    with _locked(wheelhouse):
        index = _HashIndex(wheelhouse)
        missing = [p for p in pins if _find_wheel(wheelhouse, p, tags, index) is None]
        if not missing:
            index.save()
            log.info("wheelhouse %s: all %d pinned wheels present", wheelhouse, len(pins))
            return wheelhouse
        for pin in missing:
            if not any(h.startswith("sha256:") for h in pin.hashes):
                raise PackagesError(
                    f"{pin.name}=={pin.version} has no sha256 hash; pin it in versions.yaml"
                )
        where = index_url or "PyPI"
        log.info("downloading %s from %s", ", ".join(p.name for p in missing), where)
        cmd: list[str] = [sys.executable, "-m", "pip", "download", "--only-binary=:all:"]
        cmd += ["--no-deps", "--require-hashes", "--no-cache-dir", "--progress-bar", "off"]
        cmd += ["--python-version", python_version, "--implementation", "cp"]
        cmd += ["--abi", _abi(python_version)]
        for plat in manylinux_platforms(platform):
            cmd += ["--platform", plat]
        cmd += ["-d", str(wheelhouse)]
        if index_url:
            cmd += ["--index-url", index_url]
        if cafile:
            cmd += ["--cert", str(cafile)]
        with tempfile.TemporaryDirectory(prefix="reqs-", dir=wheelhouse) as tmp:
            cmd += ["-r", str(_requirements(missing, Path(tmp)))]
            try:
                run(cmd, env=clean_env(tool_env(cafile)), what="pip download")
            except CommandError as exc:
                log.debug("%s", exc)
                raise PackagesError(_explain(str(exc), missing, where, repin)) from exc
        still = [p for p in missing if _find_wheel(wheelhouse, p, tags, index) is None]
        index.save()
        if still:
            names = ", ".join(f"{p.name}=={p.version}" for p in still)
            raise PackagesError(
                f"{names}: pip downloaded no wheel that fits cp{python_version} on {platform}; "
                "re-pin it in versions.yaml"
            )
    return wheelhouse


def locked_wheels(
    wheelhouse: Path, pins: Sequence[PackagePin], python_version: str, platform: str
) -> dict[PackagePin, tuple[Path, str]]:
    """The wheel of each pin an installer takes from ``wheelhouse`` (the most preferred one
    that fits and whose hash is pinned), with its sha256."""
    tags = target_tags(python_version, platform)
    out: dict[PackagePin, tuple[Path, str]] = {}
    with _locked(wheelhouse):
        index = _HashIndex(wheelhouse)
        for pin in pins:
            wheel = _find_wheel(wheelhouse, pin, tags, index)
            if wheel is None:
                raise PackagesError(f"{pin.name}=={pin.version}: no wheel in {wheelhouse}")
            out[pin] = (wheel, index.sha256(wheel))
        index.save()
    return out


# --------------------------------------------------------------------------- installing


@dataclass(frozen=True)
class _Target:
    version: tuple[int, int]
    site_dirs: tuple[Path, ...]
    scripts: Path
    stdlib: Path
    prefix: Path


def _inspect(python: Path) -> _Target:
    code = (
        "import json, sys, sysconfig; p = sysconfig.get_paths(); print(json.dumps(["
        "list(sys.version_info[:2]), p['purelib'], p['platlib'], p['scripts'], p['stdlib'],"
        " sys.prefix]))"
    )
    try:
        out = run([python, "-s", "-c", code], env=clean_env(), what=f"{python}")
    except CommandError as exc:
        raise PackagesError(f"cannot run the target interpreter {python}: {exc}") from exc
    version, purelib, platlib, scripts, stdlib, prefix = json.loads(out)
    sites = tuple(dict.fromkeys(Path(p) for p in (purelib, platlib)))
    return _Target(tuple(version), sites, Path(scripts), Path(stdlib), Path(prefix))


def _pip_version(wheel: Path) -> tuple[int, ...]:
    version = parse_wheel_filename(wheel.name)[1]
    return version.release


def find_uv() -> str | None:
    """The uv of the builder's environment (the uv wheel's), else one on PATH."""
    with contextlib.suppress(ImportError):
        from uv import find_uv_bin

        return str(find_uv_bin())
    return shutil.which("uv")


def _install_command(
    installer: Installer,
    *,
    python: Path,
    target: _Target,
    wheelhouse: Path,
    reqs: Path,
    wheels: dict[str, Path],
) -> list[str]:
    uv = find_uv()
    if installer == "auto":
        # uv supports CPython >= 3.6 (3.6-3.9 as "tier 2"); tested here on 3.7 to 3.13.
        installer = "uv" if uv and target.version >= (3, 6) else "pip"
    if installer == "uv":
        if not uv:
            raise PackagesError("uv is not installed in the builder's environment; reinstall it")
        # --python names a non-venv interpreter: uv installs into its own site-packages without
        # --system; --break-system-packages in case the tree is marked EXTERNALLY-MANAGED.
        return [
            uv, "pip", "install", "--python", str(python), "--no-config", "--no-cache",
            "--break-system-packages", "--link-mode", "copy", "--no-index",
            "--find-links", str(wheelhouse), "--require-hashes", "--no-compile",
            "-r", str(reqs),
        ]  # fmt: skip
    pip_wheel = wheels.get("pip")
    if pip_wheel is None:
        raise PackagesError(
            "installing without uv needs a pinned pip wheel; "
            "add pip to the packages in versions.yaml"
        )
    cmd = [str(python), "-s", f"{pip_wheel}/pip", "install", "--no-index", "--find-links"]
    cmd += [str(wheelhouse), "--require-hashes", "--no-compile", "--no-warn-script-location"]
    cmd += ["--no-cache-dir", "--disable-pip-version-check"]
    pip_version = _pip_version(pip_wheel)
    if pip_version >= (22, 1):
        cmd.append("--root-user-action=ignore")
    if pip_version >= (23, 0, 1):
        cmd.append("--break-system-packages")
    return [*cmd, "-r", str(reqs)]


def _dist_info(target: _Target, pin: PackagePin) -> Path | None:
    name, version = canonicalize_name(pin.name), canonicalize_version(pin.version)
    for site in target.site_dirs:
        for d in site.glob("*.dist-info"):
            d_name, _, d_version = d.name.removesuffix(".dist-info").partition("-")
            if canonicalize_name(d_name) == name and canonicalize_version(d_version) == version:
                return d
    return None


def _scripts(dist_info: Path, scripts_dir: Path) -> tuple[str, ...]:
    out: list[str] = []
    record = dist_info / "RECORD"
    for line in record.read_text().splitlines() if record.exists() else []:
        path = Path(os.path.normpath(dist_info.parent / line.split(",", 1)[0]))
        if path.parent == scripts_dir:
            out.append(path.name)
    return tuple(sorted(out))


def install_packages(
    python: Path,
    pins: Sequence[PackagePin],
    wheelhouse: Path,
    *,
    installer: Installer = "auto",
) -> list[InstalledPackage]:
    """Install ``pins`` offline from ``wheelhouse`` into ``python``'s own site-packages.

    ``python`` is the target tree's interpreter (a CPython install prefix, not a venv). uv does the
    work when it supports the target; otherwise pip is run from its own pinned wheel. No bytecode
    is compiled here (see :mod:`.bytecode`). Console scripts get absolute shebangs, which
    the relocate pass rewrites; they are listed in the result.
    """
    target = _inspect(python)
    index = _HashIndex(wheelhouse)
    wheels: dict[str, Path] = {}
    for pin in pins:
        found = _candidates(wheelhouse, pin)
        hashes = {h.removeprefix("sha256:").lower() for h in pin.hashes}
        match = next((w for w, _ in found if index.sha256(w) in hashes), None)
        if match is None:
            raise PackagesError(
                f"{pin.name}=={pin.version}: no wheel with a pinned hash in {wheelhouse}; "
                "fill the wheelhouse first (or re-pin it in versions.yaml)"
            )
        wheels[canonicalize_name(pin.name)] = match
    index.save()
    with tempfile.TemporaryDirectory(prefix="accpy-install-") as tmp:
        reqs = _requirements(pins, Path(tmp))
        cmd = _install_command(
            installer, python=python, target=target, wheelhouse=wheelhouse, reqs=reqs, wheels=wheels
        )
        log.info("installing %d packages into %s with %s", len(pins), python, Path(cmd[0]).name)
        start = time.monotonic()
        try:
            run(cmd, env=clean_env(), what=f"installing packages into {python}")
        except CommandError as exc:
            log.debug("%s", exc)
            raise PackagesError(
                _explain(str(exc), pins, str(wheelhouse)).replace(
                    "re-pin its hashes", "refill the wheelhouse or re-pin its hashes"
                )
            ) from exc
        log.info("installed in %.1f s", time.monotonic() - start)
    result: list[InstalledPackage] = []
    for pin in pins:
        dist_info = _dist_info(target, pin)
        if dist_info is None:
            raise PackagesError(f"{pin.name}=={pin.version} is not in {python}'s site-packages")
        tag_lines = (dist_info / "WHEEL").read_text().splitlines()
        installed_tags = {ln.split(":", 1)[1].strip() for ln in tag_lines if ln.startswith("Tag:")}
        wheel = wheels[canonicalize_name(pin.name)]
        for candidate, c_tags in _candidates(wheelhouse, pin):
            if {str(t) for t in c_tags} == installed_tags:
                wheel = candidate
                break
        scripts = _scripts(dist_info, target.scripts)
        if scripts:
            log.info("%s: console scripts with absolute shebangs: %s", pin.name, " ".join(scripts))
        result.append(
            InstalledPackage(pin.name, pin.version, wheel.name, index.sha256(wheel), scripts)
        )
    return result

"""What one build will do, frozen: a :class:`BuildPlan` (a base) or a :class:`ReleasePlan` (an
interactive release), the one home of the pipeline's plumbing.

:func:`accpy_manifest.load_manifest` turns versions.yaml into a :class:`~accpy_manifest.Manifest`
(read once); :func:`make_plan` and :func:`make_release_plan` combine it with the command line's
:class:`BuildOptions` into a plan. Nothing downstream reads YAML, dicts or argparse. The stages
that run a plan are :mod:`.stages`.
"""

from __future__ import annotations

import argparse
import calendar
import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from accpy_core.collector import LOOPBACK_HOSTS, parse_address
from accpy_core.dist import find_built_base
from accpy_core.errors import ConfigError, ManifestError, UsageError
from accpy_core.platforms import manylinux_x86_64
from accpy_manifest import (
    BaseSpec,
    InteractiveSpec,
    Manifest,
    Site,
    get_base,
    load_manifest,
    read_ca_certificate,
)

from . import trust
from .interactive.lock import Lock, check_lock, lock_path, read_lock
from .policy import policy_for


@dataclass(frozen=True)
class AdoptSource:
    """Adopt a CPython install prefix from this machine; ``prefix=None`` means find one."""

    prefix: Path | None


@dataclass(frozen=True)
class PbsSource:
    """Fetch the pinned python-build-standalone asset through ``mirror``."""

    mirror: str


@dataclass(frozen=True)
class BuildOptions:
    """The command line's choices for a build (``acc-py-build base`` and ``interactive``, and
    the site options of the other commands); None: versions.yaml's."""

    manifest: Path = Path("versions.yaml")
    interpreter: str | None = None  # "auto" or a prefix: adopt instead of PBS
    pbs_mirror: str | None = None
    platform: str | None = None  # a manylinux tag or "auto"
    index_url: str | None = None
    usage_collector: str | None = None
    site_ca: tuple[Path, ...] = ()
    cache_dir: Path | None = None
    work_dir: Path = Path("build")
    dist_dir: Path = Path("dist")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BuildOptions:
        """The options of a parsed command line (the ones its command has)."""
        given = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
        given["site_ca"] = tuple(given["site_ca"] or ())
        return cls(**{k: v for k, v in given.items() if v is not None})


@dataclass(frozen=True)
class BuildPlan:
    """Everything one ``make base`` run needs, resolved and validated."""

    base: BaseSpec
    site: Site  # with INDEX_URL= / USAGE_COLLECTOR= overrides applied
    source: AdoptSource | PbsSource
    platform: str  # a manylinux tag, or "auto" to compute the honest one
    manifest_path: Path
    cache_dir: Path
    work_dir: Path
    dist_dir: Path
    source_date_epoch: int
    #: every base of the manifest (ACC-PY.json lists them: acc-py init and init-ci read it)
    all_bases: tuple[BaseSpec, ...] = ()


@dataclass(frozen=True)
class ReleasePlan:
    """Everything one ``make interactive`` run needs, resolved and validated."""

    spec: InteractiveSpec
    base: BaseSpec
    lock: Lock
    manifest: Manifest
    base_tarball: Path  # the base's .tar.gz, which the release is built and checked on
    index_url: str  # where missing wheels are downloaded from
    cache_dir: Path
    work_dir: Path
    dist_dir: Path
    source_date_epoch: int
    cafile: Path | None = None  # what https downloads trust (the site's CA, .trust)


def default_cache_dir() -> Path:
    if os.environ.get("ACC_PY_BUILD_CACHE"):
        return Path(os.environ["ACC_PY_BUILD_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "acc-py-build"


def source_date_epoch(version: str) -> int:
    """$SOURCE_DATE_EPOCH, else midnight UTC on the first day of the version's month."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").strip():
        try:
            return int(os.environ["SOURCE_DATE_EPOCH"])
        except ValueError:
            raise ManifestError(
                f"SOURCE_DATE_EPOCH={os.environ['SOURCE_DATE_EPOCH']!r} is not an integer"
            ) from None
    year, month = (int(p) for p in version.split(".")[:2])
    return calendar.timegm(dt.date(year, month, 1).timetuple())


def index_url(value: str) -> str:
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if (parts.scheme != "https" and not loopback) or not parts.hostname:
        raise ManifestError(
            f"INDEX_URL={value!r} is not an https:// URL with a host (plain http:// only for "
            "127.0.0.1/localhost)"
        )
    return value


def _collector(value: str) -> str:
    try:
        parse_address(value, "USAGE_COLLECTOR")
    except ConfigError as exc:
        raise ManifestError(f"USAGE_COLLECTOR={value}: {exc}") from None
    return value


def overridden_site(site: Site, options: BuildOptions) -> Site:
    """The manifest's site settings with the command line's index URL, usage collector and
    site CAs applied."""
    if options.index_url:
        site = dataclasses.replace(site, index_url=index_url(options.index_url))
    if options.usage_collector:
        site = dataclasses.replace(site, usage_collector=_collector(options.usage_collector))
    if options.site_ca:
        cas = tuple(read_ca_certificate(path.absolute()) for path in options.site_ca)
        site = dataclasses.replace(site, ca_certificates=cas)
    return site


def _cache_dir(options: BuildOptions) -> Path:
    return (options.cache_dir or default_cache_dir()).absolute()


def make_plan(version: str, options: BuildOptions, manifest: Manifest | None = None) -> BuildPlan:
    """The plan of base ``version`` (``manifest``: versions.yaml read already)."""
    manifest = manifest or load_manifest(options.manifest.resolve())
    base = get_base(manifest, version)
    site = overridden_site(manifest.site, options)
    platform = options.platform or base.platform
    if platform != "auto":
        if manylinux_x86_64(platform) is None:
            raise ManifestError(
                f"PLATFORM={platform!r} is not a tag like manylinux_2_28_x86_64; or use auto"
            )
        policy_for(platform)  # a tag that auditwheel knows, or a ManifestError
    source: AdoptSource | PbsSource
    if options.interpreter:
        prefix = None if options.interpreter == "auto" else Path(options.interpreter)
        source = AdoptSource(prefix)
    else:
        mirror = options.pbs_mirror or os.environ.get("PBS_MIRROR") or site.pbs_mirror
        source = PbsSource(mirror)
    return BuildPlan(
        base=base,
        site=site,
        source=source,
        platform=platform,
        manifest_path=manifest.path.resolve(),
        cache_dir=_cache_dir(options),
        work_dir=options.work_dir.absolute(),
        dist_dir=options.dist_dir.absolute(),
        source_date_epoch=source_date_epoch(base.version),
        all_bases=manifest.bases,
    )


def release_of(manifest: Manifest, release: str) -> InteractiveSpec:
    spec = next((r for r in manifest.interactive if r.release == release), None)
    if spec is None:
        known = ", ".join(r.release for r in manifest.interactive) or "none"
        raise UsageError(f"{manifest.path} has no interactive release {release}; known: {known}")
    return spec


def make_release_plan(
    release: str,
    options: BuildOptions,
    build_base: Callable[[BuildPlan], Path],
    manifest: Manifest | None = None,
) -> ReleasePlan:
    """The plan of interactive release ``release``: its lock checked against versions.yaml,
    its base's tarball found in the dist directory, or made by ``build_base`` (given the
    base's plan, with the same options and manifest) when it is not there."""
    manifest = manifest or load_manifest(options.manifest.resolve())
    spec = release_of(manifest, release)
    base = get_base(manifest, spec.base)
    lock = read_lock(lock_path(manifest, spec.release))
    check_lock(lock, spec, base)
    dist_dir = options.dist_dir.absolute()
    platform = options.platform if options.platform not in (None, "auto") else None
    built = find_built_base(dist_dir, base.version, platform)
    tarball = built.tarball if built else build_base(make_plan(base.version, options, manifest))
    work_dir = options.work_dir.absolute()
    return ReleasePlan(
        spec=spec,
        base=base,
        lock=lock,
        manifest=manifest,
        base_tarball=tarball,
        index_url=index_url(options.index_url) if options.index_url else lock.index_url,
        cache_dir=_cache_dir(options),
        work_dir=work_dir,
        cafile=trust.ca_bundle(overridden_site(manifest.site, options).ca_pem, work_dir),
        dist_dir=dist_dir,
        source_date_epoch=source_date_epoch(spec.release),
    )

"""The pipeline: one base from a :class:`BuildPlan` to tarballs in ``dist/``.

It runs the stages of :data:`.stages.BASE_STAGES`, in that order; each stage is a module of its
own, this one only orders them.
"""

from __future__ import annotations

import ast
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accpy_sbom as sbom
from accpy_core import record
from accpy_core.errors import SourceError
from accpy_core.names import SBOM_NAME, sbom_file_name, tarball_stem
from accpy_core.proc import clean_env, run
from accpy_manifest import PBS_GITHUB

from . import (
    bytecode,
    checks,
    hostpaths,
    inject,
    metadata,
    pack,
    packages,
    relocate,
    selfextract,
    trust,
)
from .interpreter import adopt as adopt_source
from .interpreter import pbs as pbs_source
from .metadata import PackageRecord
from .pack import PackResult
from .plan import AdoptSource, BuildPlan
from .policy import policy_for
from .stages import BASE_STAGES as STAGES
from .stages import stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    tree: Path
    platform: str
    python_version: str
    artifacts: PackResult
    installer: Path  # the self-extracting installer


def build_prefix(tree: Path, minor: str) -> str:
    """The ``--prefix`` the interpreter was configured with, read from its sysconfigdata."""
    stdlib = tree / "lib" / f"python{minor}"
    for path in sorted(stdlib.glob("_sysconfigdata*.py")):
        text = path.read_text(encoding="utf-8")
        _, sep, body = text.partition("build_time_vars = ")
        if sep:
            variables = ast.literal_eval(body.strip())
            return str(variables["prefix"])
    raise SourceError(f"{stdlib}: no _sysconfigdata*.py; this does not look like a CPython tree")


_SMOKE = (
    "import platform, sys, sysconfig; "
    "v = '%d.%d.%d' % sys.version_info[:3]; "
    "assert platform.python_version().startswith(v), platform.python_version(); "
    "assert sysconfig.get_config_var('prefix') == sys.prefix, sysconfig.get_config_var('prefix'); "
    "print(v)"
)


def _python_version(python: Path) -> str:
    """Run the relocated interpreter once; its version strings and sysconfig must agree."""
    out = run([python, "-I", "-c", _SMOKE], env=clean_env(), what=f"{python} (smoke test)")
    return out.strip()


def _obtain(
    plan: BuildPlan, tree: Path, scratch: Path, progress: bool
) -> tuple[str, dict[str, Any]]:
    """Put the interpreter at ``tree``; return its build prefix and provenance."""
    minor = plan.base.python_minor
    if isinstance(plan.source, AdoptSource):
        adopted = adopt_source.adopt(plan.source.prefix, minor, tree)
        origin = adopted.origin
        return origin.build_prefix, {
            "kind": "adopt",
            "prefix": str(origin.prefix),
            "version": origin.version,
        }
    asset = plan.base.interpreter
    cafile = trust.ca_bundle(plan.site.ca_pem, plan.work_dir)
    got = pbs_source.obtain_pbs(
        asset, plan.source.mirror, plan.cache_dir, scratch, progress=progress, cafile=cafile
    )
    shutil.move(got.prefix, tree)
    return build_prefix(tree, minor), {
        "kind": "pbs",
        "tag": asset.tag,
        "asset": asset.asset,
        "url": asset.url(PBS_GITHUB),
        "mirror": plan.source.mirror,
        "sha256": got.sha256,
    }


def build(plan: BuildPlan, *, progress: bool = False) -> BuildResult:
    base = plan.base
    minor = base.python_minor
    work = plan.work_dir.resolve() / base.version
    if work.exists():
        shutil.rmtree(work)
    tree = work / "tree"
    scratch = work / "unpack"
    scratch.mkdir(parents=True)
    wheel_platform = plan.platform if plan.platform != "auto" else base.platform
    policy = policy_for(wheel_platform)

    kind = type(plan.source).__name__.removesuffix("Source").lower()
    with stage(STAGES, "interpreter", kind):
        old_prefix, provenance = _obtain(plan, tree, scratch, progress)
        shutil.rmtree(scratch)
    with stage(STAGES, "relocate"):
        moved = relocate.relocate(
            tree,
            old_prefix=old_prefix,
            policy=policy,
            scrub_binaries=isinstance(plan.source, AdoptSource),
        )
        tcl = hostpaths.bundle_tcl_libraries(tree)
        python = tree / "bin" / f"python{minor}"
        python_version = _python_version(python)
        if not python_version.startswith(minor + "."):
            raise SourceError(f"the interpreter is CPython {python_version}, base needs {minor}")
        log.info(
            "      CPython %s; bundled %d libraries%s", python_version, len(moved.bundled),
            f", Tcl/Tk's {' and '.join(tcl)}" if tcl else "",
        )  # fmt: skip
    with stage(STAGES, "packages"):
        wheelhouse = packages.fill_wheelhouse(
            base.packages,
            python_version=minor,
            platform=wheel_platform,
            cache_dir=plan.cache_dir,
        )
        installed = packages.install_packages(python, base.packages, wheelhouse)
        relocate.fix_shebangs(tree)
        # fail fast: every ELF is final now, and this is the check most likely to refuse
        report = checks.check_elves(tree, plan.platform)
    with stage(STAGES, "inject"):
        values = inject.template_values(base, plan.site, report.platform)
        inject.inject(tree, values, minor)
    with stage(STAGES, "bytecode"):
        bytecode.compile_bytecode(python, tree, minor)
        bytecode.make_sourceless(tree, minor)
    with stage(STAGES, "checks"):
        forbidden = [str(plan.work_dir.resolve()), str(work)]
        if isinstance(plan.source, AdoptSource):
            forbidden.append(old_prefix)
        checks.check_modes_and_links(tree)
        checks.check_no_build_paths(tree, forbidden)
    with stage(STAGES, "metadata"):
        meta = metadata.base_metadata(
            plan=plan,
            python_version=python_version,
            platform=report.platform,
            interpreter=provenance,
            packages=[PackageRecord(p.name, p.version, p.wheel, p.sha256) for p in installed],
            bundled=moved.bundled,
        )
        metadata.write(tree, meta)
        sbom_text = sbom.dumps(sbom.base_bom(meta))
        (tree / SBOM_NAME).write_text(sbom_text, encoding="utf-8")
        record.write_record(tree)
    with stage(STAGES, "pack"):
        stem = tarball_stem(base.version, report.platform)
        artifacts = pack.pack(
            tree,
            top=base.version,
            dist_dir=plan.dist_dir,
            stem=stem,
            source_date_epoch=plan.source_date_epoch,
        )
        installer = selfextract.write_installer(artifacts.tar_gz, dist_dir=plan.dist_dir, stem=stem)
        (plan.dist_dir / sbom_file_name(stem)).write_text(sbom_text, encoding="utf-8")
    log.info("built %s, .tar.zst and %s", artifacts.tar_gz.name, installer.name)
    return BuildResult(tree, report.platform, python_version, artifacts, installer)

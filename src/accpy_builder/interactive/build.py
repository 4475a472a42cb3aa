"""The pipeline of an interactive release: its lock, on its base, to a tarball in ``dist/``.

Its lock checked (:mod:`..plan`), it runs the stages of :data:`..stages.RELEASE_STAGES`: the
base (its tarball, unpacked where the release will find it), wheels, install (uv,
``--require-hashes``, offline; the scripts), inject, bytecode, checks, metadata (CHANGELOG.md
too) and pack. The stages the bases have are theirs
(:mod:`..packages`, :mod:`..bytecode`, :mod:`..checks`, :mod:`..pack`); this module orders them
for a tree that holds packages only.

The release tree::

    ACC-PY.json  ACC-PY.RECORD  ACC-PY.cdx.json (the SBOM)  ACC-PY.lock  CHANGELOG.md
    setup.sh  setup.csh
    bin/                     the packages' scripts (ipython, jupyter, ...)
    lib/pythonX.Y/site-packages/
    share/jupyter/ etc/jupyter/ ...  what the wheels bring

It is built in ``<work>/root/``, laid out like an install root (``root/base/<base>`` holds the
unpacked base), so that it is tested exactly as it will run. Nothing in it is absolute: a script
starts ``<root>/base/<base>/bin/pythonX.Y`` found from its own physical path (the release and
its base share a root), with the variables that make the base's hook add the release's
site-packages; setup.sh finds itself. The tree works in whatever root it is installed in.
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import accpy_sbom as sbom
from accpy_core import record
from accpy_core.archive import safe_extract
from accpy_core.errors import CheckError, CommandError, MetadataError, PackagesError
from accpy_core.layout import BASE_AREA, INTERACTIVE_KIND
from accpy_core.metadata import Metadata, read_metadata
from accpy_core.names import SBOM_NAME, sbom_file_name, tarball_stem
from accpy_core.proc import clean_env, run
from accpy_manifest import BaseSpec, InteractiveSpec, Manifest, PackagePin

from .. import bytecode, checks, inject, metadata, pack, packages, relocate
from ..pack import PackResult
from ..plan import ReleasePlan
from ..stages import RELEASE_STAGES as STAGES
from ..stages import stage
from . import diff
from .lock import Lock

log = logging.getLogger(__name__)

#: inside a release: the lock it was built from, and what changed since its predecessor
LOCK_NAME = "ACC-PY.lock"
CHANGELOG_NAME = "CHANGELOG.md"

#: a script's start in a release's bin/: a /bin/sh trampoline (the file stays a Python script)
#: that finds the release from its own physical path, exports what makes the base's hook add
#: the release's site-packages, and runs the base's Python of the same root on itself
_TRAMPOLINE = """\
#!/bin/sh
''':'
r=$(realpath -- "$0") || exit 1
t=${{r%/*/*}}
ACC_PY_INTERACTIVE=$t ACC_PY_INTERACTIVE_BASE={base} ACC_PY_INTERACTIVE_VERSION={release}
export ACC_PY_INTERACTIVE ACC_PY_INTERACTIVE_BASE ACC_PY_INTERACTIVE_VERSION
exec "${{t%/*}}/{area}/{base}/bin/python{minor}" {flags}"$0" "$@"
' '''
"""


@dataclass(frozen=True)
class ReleaseResult:
    tree: Path
    root: Path  # the work root: root/base/<base> and root/<release>
    platform: str
    artifacts: PackResult


def pins(lock: Lock) -> list[PackagePin]:
    return [PackagePin(p.name, p.version, p.hashes) for p in lock.packages]


def unpack_base(tarball: Path, root: Path, base: BaseSpec) -> tuple[Path, Metadata]:
    """The base's tarball unpacked as ``root/base/<version>``, and its ACC-PY.json, which must
    be of the base versions.yaml declares."""
    area = root / BASE_AREA
    safe_extract(tarball, area, strict=True)
    tree = area / base.version
    meta = read_metadata(tree)
    if meta.version != base.version or not meta.python.startswith(base.python_minor + "."):
        raise MetadataError(
            f"{tarball} holds base {meta.version} (CPython {meta.python}), not "
            f"{base.version} (CPython {base.python}); build the base again: make base "
            f"VERSION={base.version}"
        )
    return tree, meta


def install(python: Path, tree: Path, lock: Lock, wheelhouse: Path, uv_cache: Path) -> None:
    """Install every locked package into ``tree`` (a prefix: ``tree/lib/pythonX.Y/...``) with
    uv, offline, each wheel checked against the lock's hashes, without bytecode.

    ``uv_cache``: uv's cache, where it keeps the wheels unpacked. The files are hard links into
    it (a warm cache writes no package file again; uv copies when the cache is on another file
    system): nothing writes to a file of the tree in place afterwards (the stages that change a
    file rename a new one over it), and the packer stores each as a file of its own."""
    uv = packages.find_uv()
    if uv is None:
        raise PackagesError("uv is not installed in the builder's environment; reinstall it")
    reqs = tree.parent / f".{tree.name}.requirements.txt"
    reqs.write_text(lock.requirements())
    argv = [
        uv, "pip", "install", "--python", str(python), "--prefix", str(tree),
        "--no-config", "--cache-dir", str(uv_cache), "--offline", "--no-index",
        "--find-links", str(wheelhouse),
        "--require-hashes", "--no-deps", "--link-mode", "hardlink", "--no-compile",
        "--break-system-packages", "-r", str(reqs),
    ]  # fmt: skip
    try:
        run(argv, env=clean_env(), what=f"uv pip install (interactive {lock.release})")
    except CommandError as exc:
        raise PackagesError(_explain(str(exc), lock)) from exc
    finally:
        reqs.unlink()
    (tree / ".lock").unlink(missing_ok=True)  # uv's lock of the environment it installed into


def relock(lock: Lock) -> str:
    """How to fix a lock whose hashes the index no longer matches."""
    return (
        f"the index changed since {lock.path.name} was made: lock again (make interactive-lock "
        f"RELEASE={lock.release}) and review the diff"
    )


def _explain(output: str, lock: Lock) -> str:
    m = re.search(r"[Hh]ash mismatch for `?([A-Za-z0-9._-]+)", output)
    if m:
        return f"{m[1]}: the wheel on the index matches none of the hashes in {lock.path}; " + (
            relock(lock)
        )
    last = next((ln.strip() for ln in reversed(output.splitlines()) if ln.strip()), "")
    return f"installing the lock of {lock.release} failed: {last}"


def fix_scripts(tree: Path, spec: InteractiveSpec, base: BaseSpec) -> list[Path]:
    """The scripts' absolute shebangs become the release's trampoline (dist-info RECORDs kept
    true); anything else uv put in bin/ that names the build's paths is refused by the checks."""

    def shebang(python: str, flags: str) -> str:
        return _TRAMPOLINE.format(
            base=base.version, release=spec.release, area=BASE_AREA,
            minor=base.python_minor, flags=flags,
        )  # fmt: skip

    return relocate.fix_shebangs(tree, trampoline=shebang)


def changelog(manifest: Manifest, spec: InteractiveSpec) -> str:
    """CHANGELOG.md: the release against its predecessor, or against its base for the first."""
    new = diff.snapshot(manifest, f"interactive:{spec.release}")
    try:
        old = diff.snapshot(manifest, diff.predecessor(manifest, f"interactive:{spec.release}"))
    except diff.NoPredecessor:
        old = diff.snapshot(manifest, f"base:{spec.base}")
    return diff.render(diff.compare(old, new), "markdown")


def template_values(spec: InteractiveSpec, base: BaseSpec, platform: str) -> dict[str, str]:
    return {
        "VERSION": spec.release,
        "PATCH": str(spec.patch),
        "BASE_VERSION": base.version,
        "PYTHON_VERSION": base.python_minor,
        "PYTHON_FULL_VERSION": base.python,
        "STATUS": spec.status,
        "END_OF_LIFE": spec.end_of_life.isoformat() if spec.end_of_life else "",
        "PLATFORM": platform,
    }


def release_metadata(
    plan: ReleasePlan, base_meta: Metadata, installed: list[dict[str, str]]
) -> Metadata:
    """The release's ``ACC-PY.json``, on the base ``base_meta`` describes."""
    spec = plan.spec
    return metadata.interactive_metadata(
        release=spec.release,
        patch=spec.patch,
        base=base_meta,
        status=spec.status,
        end_of_life=spec.end_of_life.isoformat() if spec.end_of_life else None,
        source_date_epoch=plan.source_date_epoch,
        requested=plan.lock.requested,
        index_url=plan.lock.index_url,
        packages=installed,
    )


def _installed(wheelhouse: Path, lock: Lock, platform: str, minor: str) -> list[dict[str, str]]:
    """Each locked package with the wheel that was installed (the most preferred fitting one
    whose hash the lock holds: the one uv chose)."""
    found = packages.locked_wheels(wheelhouse, pins(lock), minor, platform)
    return [
        {"name": pin.name, "version": pin.version, "wheel": wheel.name, "sha256": sha}
        for pin, (wheel, sha) in sorted(found.items(), key=lambda item: item[0].name)
    ]


def build_release(plan: ReleasePlan) -> ReleaseResult:
    spec, base = plan.spec, plan.base
    minor = base.python_minor
    work = plan.work_dir.resolve() / f"interactive-{spec.release}"
    if work.exists():
        shutil.rmtree(work)
    root = work / "root"
    tree = root / spec.release
    with stage(STAGES, "base"):
        base_tree, base_meta = unpack_base(plan.base_tarball, root, base)
        platform = base_meta.platform
        python = base_tree / "bin" / f"python{minor}"
        tree.mkdir(parents=True)
    with stage(STAGES, "wheels"):
        wheelhouse = packages.fill_wheelhouse(
            pins(plan.lock), python_version=minor, platform=platform,
            cache_dir=plan.cache_dir, index_url=plan.index_url,
            repin=relock(plan.lock), cafile=plan.cafile,
        )  # fmt: skip
    with stage(STAGES, "install"):
        install(python, tree, plan.lock, wheelhouse, plan.cache_dir / "uv")
        scripts = fix_scripts(tree, spec, base)
        log.info("      %d packages, %d scripts", len(plan.lock.packages), len(scripts))
    with stage(STAGES, "inject"):
        values = template_values(spec, base, platform)
        inject.inject(tree, values, minor, payload=inject.INTERACTIVE_PAYLOAD)
        shutil.copyfile(plan.lock.path, tree / LOCK_NAME)
        (tree / CHANGELOG_NAME).write_text(changelog(plan.manifest, spec), encoding="utf-8")
    with stage(STAGES, "bytecode"):
        bytecode.compile_bytecode(python, tree, minor)
    with stage(STAGES, "checks"):
        checks.check_modes_and_links(tree)
        checks.check_no_build_paths(tree, [str(plan.work_dir.resolve()), str(work)])
        checks.check_elves(tree, platform)
        smoke(python, tree, spec, base)
    with stage(STAGES, "metadata"):
        meta = release_metadata(plan, base_meta, _installed(wheelhouse, plan.lock, platform, minor))
        metadata.write(tree, meta)
        bom = sbom.base_bom(meta, name="acc-py-interactive")
        sbom_text = sbom.dumps(bom)
        (tree / SBOM_NAME).write_text(sbom_text, encoding="utf-8")
        record.write_record(tree)
    with stage(STAGES, "pack"):
        stem = tarball_stem(spec.release, platform, INTERACTIVE_KIND)
        artifacts = pack.pack(
            tree,
            top=spec.release,
            dist_dir=plan.dist_dir,
            stem=stem,
            source_date_epoch=plan.source_date_epoch,
        )
        (plan.dist_dir / sbom_file_name(stem)).write_text(sbom_text, encoding="utf-8")
    log.info("built %s and .tar.zst", artifacts.tar_gz.name)
    return ReleaseResult(tree, root, platform, artifacts)


_SMOKE = """\
import importlib, sys
names = sys.argv[1:]
for name in names:
    importlib.import_module(name)
numpy = sys.modules.get("numpy")
print(len(names), numpy.__file__ if numpy else "")
"""


def smoke(python: Path, tree: Path, spec: InteractiveSpec, base: BaseSpec) -> None:
    """Import every top-level module of the release from its base's Python, as setup.sh
    activates it: a release that does not import is not packed."""
    modules = _top_level_modules(tree, base.python_minor)
    env = clean_env(
        {
            "ACC_PY_INTERACTIVE": str(tree),
            "ACC_PY_INTERACTIVE_BASE": base.version,
            "ACC_PY_NO_USAGE_LOG": "1",
            "MPLBACKEND": "Agg",
            "QT_QPA_PLATFORM": "offscreen",
        }
    )
    try:
        run([python, "-B", "-c", _SMOKE, *modules], env=env, what=f"importing {spec.release}")
    except CommandError as exc:
        raise CheckError(
            f"interactive {spec.release} does not import on base {base.version}: {exc}"
        ) from exc


def _top_level_modules(tree: Path, minor: str) -> list[str]:
    """The importable top-level names of the release's packages, from their dist-info
    top_level.txt (packages without one: their RECORD's top directories)."""
    site = tree / "lib" / f"python{minor}" / "site-packages"
    names: set[str] = set()
    for info in sorted(site.glob("*.dist-info")):
        top = info / "top_level.txt"
        if top.is_file():
            names.update(ln.strip() for ln in top.read_text().splitlines() if ln.strip())
            continue
        for line in (info / "RECORD").read_text().splitlines():
            path = line.split(",", 1)[0]
            head, sep, _ = path.partition("/")
            if sep and head != ".." and not head.endswith((".dist-info", ".data")):
                names.add(head)
            elif not sep and path.endswith(".py"):
                names.add(path.removesuffix(".py"))
    return sorted(
        n for n in names if n.isidentifier() and not n.startswith("_") and _present(site, n)
    )


def _present(site: Path, name: str) -> bool:
    return (
        (site / name / "__init__.py").is_file()
        or (site / f"{name}.py").is_file()
        or any(site.glob(f"{name}.*.so"))
    )

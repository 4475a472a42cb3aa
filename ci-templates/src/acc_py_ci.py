"""acc_py_ci: what the Acc-Py GitLab CI templates' jobs decide about a project.

Written into every job as ``.acc-py-ci/acc_py_ci.py`` (the templates carry it) and run by the
job's base Python (3.7 or newer), with nothing but the standard library and the packaging and
TOML parsers that pip vendors (the base's pip is always there). Commands:

- ``wheel DIST``: the one wheel of DIST that this interpreter installs (its path), logged with
  its sha256; refuses none, or wheels of several versions.
- ``requirements test|docs TARGET REPORT OUT``: the requirements of the extras and dependency
  groups (PEP 735) to install for the tests or the docs, chosen by ACC_PY_TEST_EXTRAS /
  ACC_PY_TEST_GROUPS (ACC_PY_DOCS_...): "auto" (the default) picks the usual names the project
  declares, "none" none, else a comma-separated list, which must exist. REPORT is pip's
  ``--report`` of installing TARGET (the project's name, extras and requirements, whatever its
  build backend); the groups come from TARGET's pyproject.toml.
- ``installed WHEEL REPORT``: that pip installed WHEEL itself (by path), not a file of an index.
- ``tests PROJECT WHEEL SITE COPY``: copies PROJECT to COPY without the package's sources, and
  prints the arguments for pytest run there: the locations pytest's own configuration gives
  (testpaths), else tests/, test/ or testing/, else the installed package; a location inside the
  package is taken from SITE, where the wheel is installed.
- ``pure-wheel WHEEL``: exit 0 when WHEEL is a pure Python wheel.
- ``check-wheels FLOOR WHEEL...``: every native wheel within the manylinux floor (auditwheel
  show) and with no run path leading out of the wheel.
- ``publish``: the tag is the version of everything in dist/, the credentials are set; prints
  the repository's upload URL (PYPI_REPOSITORY: a name of the site's, or a URL).
- ``python-versions``: PYTHON_VERSIONS names bases that exist.
- ``ca-bundle``: the certificates the base's pip trusts (the host's and the site's), for twine.

Every refusal is one line starting with ERROR: and says what to change.
"""

from __future__ import annotations

import configparser
import glob
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from typing import Any

try:  # the public packages when the environment has them, else those pip vendors
    from packaging.requirements import Requirement
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover - depends on the job's environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.tags import sys_tags
    from pip._vendor.packaging.utils import (
        canonicalize_name,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from pip._vendor.packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    from pip._vendor import tomli as tomllib

#: the site's repositories by name (generated from versions.yaml)
REPOSITORIES = {"@REPOSITORY_NAME@": "@UPLOAD_URL@"}
#: the Python of every base, for PYTHON_VERSIONS (generated from versions.yaml)
BASE_PYTHONS = "@BASE_PYTHONS@".split(",")  # noqa: SIM905 (a template: rendered into a list)
#: the names "auto" looks for, in this order
AUTO = {
    "test": ("test", "tests", "testing"),
    "docs": ("doc", "docs", "documentation"),
}
#: what "auto" also takes for the tests when none of the above is a group
AUTO_TEST_FALLBACK_GROUP = "dev"
LEGACY_GLIBC = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class Refused(Exception):
    """What the job must not go on with: one line, what to change."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- the wheel


def pick_wheel(dist: str) -> str:
    wheels = sorted(glob.glob(os.path.join(dist, "*.whl")))
    versions = {parse_wheel_filename(os.path.basename(w))[:2] for w in wheels}
    if len(versions) > 1:
        found = ", ".join(f"{n} {v}" for n, v in sorted(versions))
        raise Refused(f"{dist}/ holds wheels of several projects or versions ({found}): keep one")
    rank = {str(tag): i for i, tag in enumerate(sys_tags())}
    best = None
    for wheel in wheels:
        tags = parse_wheel_filename(os.path.basename(wheel))[3]
        score = min((rank[str(t)] for t in tags if str(t) in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, wheel)
    if best is None:
        names = ", ".join(os.path.basename(w) for w in wheels) or "none"
        raise Refused(
            f"no wheel in {dist}/ installs on Python {sys.version.split()[0]} (found: {names}): "
            "run this job after build_wheel for this base"
        )
    log(f"the wheel under test: {best[1]} sha256 {sha256(best[1])}")
    return best[1]


def pure_wheel(wheel: str) -> bool:
    tags = parse_wheel_filename(os.path.basename(wheel))[3]
    return all(t.abi == "none" and t.platform == "any" for t in tags)


def installed(wheel: str, report: str) -> None:
    """pip installed ``wheel`` itself: its report names the file, by path."""
    with open(report, encoding="utf-8") as f:
        items = json.load(f)["install"]
    want = os.path.realpath(wheel)
    for item in items:
        url = item.get("download_info", {}).get("url", "")
        if url.startswith("file://") and os.path.realpath(url[len("file://") :]) == want:
            meta = item["metadata"]
            log(f"installed {meta['name']} {meta['version']} from {wheel} (sha256 {sha256(wheel)})")
            return
    raise Refused(f"pip did not install {wheel} itself: install the file by its path")


# ----------------------------------------------------------------------------- requirements


def pyproject(project: str) -> dict[str, Any]:
    path = os.path.join(project, "pyproject.toml")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return tomllib.loads(f.read())  # loads: old tomli's load takes text, new ones bytes


def resolve_group(groups: dict[str, Any], name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """PEP 735: the requirements of group ``name``, its include-group entries expanded."""
    table = {canonicalize_name(k): v for k, v in groups.items()}
    key = canonicalize_name(name)
    if key in seen:
        raise Refused(f"[dependency-groups] {name} includes itself (via {' -> '.join(seen)})")
    out = []
    for entry in table[key]:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict) and set(entry) == {"include-group"}:
            out += resolve_group(groups, entry["include-group"], (*seen, key))
        else:
            raise Refused(
                f"[dependency-groups] {name}: {entry!r} is neither a requirement "
                "nor an include-group"
            )
    return out


def choose(kind: str, what: str, declared: list[str], variable: str) -> list[str]:
    """The names to take: ``variable``'s, or "auto"'s pick among ``declared``."""
    value = os.environ.get(variable, "auto").strip() or "auto"
    canonical = {canonicalize_name(d): d for d in declared}
    if value == "none":
        return []
    if value == "auto":
        names = [n for n in AUTO[kind] if n in canonical]
        if (
            not names
            and kind == "test"
            and what == "groups"
            and AUTO_TEST_FALLBACK_GROUP in canonical
        ):
            names = [AUTO_TEST_FALLBACK_GROUP]
        return [canonical[n] for n in names[:1]]
    wanted = [w.strip() for w in value.split(",") if w.strip()]
    missing = [w for w in wanted if canonicalize_name(w) not in canonical]
    if missing:
        have = ", ".join(declared) or "none"
        raise Refused(
            f"{variable}={value}: the project declares no {what} {', '.join(missing)} "
            f"(it has: {have}); set {variable} to some of them, or to none"
        )
    return [canonical[canonicalize_name(w)] for w in wanted]


def requirements(kind: str, target: str, report: str, out: str) -> None:
    with open(report, encoding="utf-8") as f:
        items = json.load(f)["install"]
    top = next((i for i in items if i.get("is_direct") and i.get("requested")), None)
    if top is None:
        raise Refused(f"{report} names no project installed from {target}")
    meta = top["metadata"]
    prefix = "ACC_PY_TEST" if kind == "test" else "ACC_PY_DOCS"
    extras = choose(kind, "extras", list(meta.get("provides_extra") or []), prefix + "_EXTRAS")
    project = target if os.path.isdir(target) else os.environ.get("CI_PROJECT_DIR", ".")
    groups_table = pyproject(project).get("dependency-groups", {})
    groups = choose(kind, "groups", list(groups_table), prefix + "_GROUPS")
    lines = []
    environment = {"extra": ""}
    for line in meta.get("requires_dist") or []:
        requirement = Requirement(line)
        if requirement.marker is None:
            continue  # installed with the project already
        for extra in extras:
            if requirement.marker.evaluate({**environment, "extra": extra}) and not (
                requirement.marker.evaluate(environment)
            ):
                requirement.marker = None  # evaluated here, for this environment
                lines.append(str(requirement))
                break
    for group in groups:
        lines += resolve_group(groups_table, group)
    chose = [
        f"extras {', '.join(extras)}" if extras else "",
        f"groups {', '.join(groups)}" if groups else "",
    ]
    said = " and ".join(c for c in chose if c) or "no extra and no dependency group"
    log(
        f"{kind} requirements of {meta['name']} {meta['version']}: {said} "
        f"({len(lines)} requirements)"
    )
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


# ----------------------------------------------------------------------------- the tests

CONFIGS = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
ROOT_TEST_DIRS = ("tests", "test", "testing")
NOT_COPIED = (".git", ".acc-py-ci", ".gitlab-ci-local", "dist", "build", ".tox", ".nox", ".venv")


def pytest_config(project: str) -> tuple[str | None, list[str]]:
    """(the file pytest takes its configuration from, its testpaths), as pytest finds them."""
    for name in CONFIGS:
        path = os.path.join(project, name)
        if not os.path.isfile(path):
            continue
        if name == "pyproject.toml":
            tool = pyproject(project).get("tool", {})
            section = tool.get("pytest", {})
            if isinstance(section, dict) and "ini_options" in section:
                section = section["ini_options"]
            if "pytest" not in tool:
                continue
            paths = section.get("testpaths", [])
            return path, [paths] if isinstance(paths, str) else list(paths)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path, encoding="utf-8")
        section_name = {"setup.cfg": "tool:pytest"}.get(name, "pytest")
        if name in ("pytest.ini", ".pytest.ini") or parser.has_section(section_name):
            value = parser.get(section_name, "testpaths", fallback="")
            return path, value.split()
    return None, []


def top_level(wheel: str) -> list[str]:
    """What the wheel puts at the top of site-packages: packages and modules."""
    names = set()
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            head = member.split("/", 1)[0]
            if head.endswith((".dist-info", ".data")):
                continue
            names.add(head[:-3] if head.endswith(".py") and "/" not in member else head)
    return sorted(names)


def has_tests(directory: str) -> bool:
    for _root, _dirs, files in os.walk(directory):
        if any(re.match(r"(test_.*|.*_test)\.py$", f) for f in files):
            return True
    return False


def tests(project: str, wheel: str, site: str, copy: str) -> list[str]:
    tops = top_level(wheel)
    config, paths = pytest_config(project)
    source_roots = [
        r for r in ("src", "") if any(os.path.exists(os.path.join(project, r, t)) for t in tops)
    ]

    def ignore(directory: str, names: list[str]) -> list[str]:
        rel = os.path.relpath(directory, project)
        dropped = [n for n in names if rel == "." and n in NOT_COPIED]
        for root in source_roots:
            if rel == (root or "."):
                dropped += [n for n in names if n in tops or (n.endswith(".py") and n[:-3] in tops)]
        return dropped + [n for n in names if n.endswith(".egg-info")]

    if os.path.exists(copy):
        shutil.rmtree(copy)
    shutil.copytree(project, copy, symlinks=True, ignore=ignore)
    where = []
    for pattern in paths:
        matched = sorted(glob.glob(os.path.join(project, pattern))) or [
            os.path.join(project, pattern)
        ]
        where += [os.path.relpath(m, project) for m in matched]
    if not where:
        where = [d for d in ROOT_TEST_DIRS if os.path.isdir(os.path.join(project, d))]
    if not where:
        where = [
            t
            for t in tops
            if os.path.isdir(os.path.join(site, t)) and has_tests(os.path.join(site, t))
        ]
    if not where:
        raise Refused(
            "found no tests: no testpaths in pytest's configuration, no tests/, test/ or testing/ "
            "and none in the package; set ACC_PY_TEST_PATHS"
        )
    args = []
    for rel in os.environ.get("ACC_PY_TEST_PATHS", "").split() or where:
        parts = posixpath.normpath(rel).split("/")
        if parts[0] == "src" and len(parts) > 1 and parts[1] in tops:
            parts = parts[1:]
        if parts[0] in tops or (parts[0].endswith(".py") and parts[0][:-3] in tops):
            args.append(os.path.join(site, *parts))  # inside the package: the installed one
        else:
            args.append(os.path.join(copy, *parts))
    if config is not None:
        config = os.path.join(copy, os.path.relpath(config, project))
    else:  # none: pytest's defaults, not a configuration found beside the installed package
        config = os.path.join(copy, ".acc-py-ci-pytest.ini")
        with open(config, "w", encoding="utf-8") as f:
            f.write("[pytest]\n")
    options = ["--rootdir", copy, "-c", config]
    log(
        "the tests: "
        + " ".join(os.path.relpath(a, copy) if a.startswith(copy) else a for a in args)
    )
    return [*options, *args]


# ----------------------------------------------------------------------------- the wheels' checks


def glibc(tag: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_x86_64", tag)
    if m:
        return LEGACY_GLIBC[m.group(1)]
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", tag)
    return (int(m.group(1)), int(m.group(2))) if m else None


def run_paths(wheel: str) -> list[str]:
    """``member: RPATH/RUNPATH entry`` of every ELF file of ``wheel`` whose run path leads out of
    the wheel (anything but $ORIGIN-relative paths that stay inside)."""
    import io

    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    bad = []
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            data = zf.read(member) if not member.endswith("/") else b""
            if data[:4] != b"\x7fELF":
                continue
            elf = ELFFile(io.BytesIO(data))
            for section in elf.iter_sections():
                if not isinstance(section, DynamicSection):
                    continue
                for tag in section.iter_tags():
                    if tag.entry.d_tag not in ("DT_RPATH", "DT_RUNPATH"):
                        continue
                    value = tag.rpath if tag.entry.d_tag == "DT_RPATH" else tag.runpath
                    for entry in value.split(":"):
                        rest = re.sub(r"^\$(ORIGIN|\{ORIGIN\})", "", entry)
                        inside = rest != entry and not posixpath.normpath(
                            posixpath.join(posixpath.dirname(member), "./" + rest)
                        ).startswith("..")
                        if not inside:
                            bad.append(f"{member}: {tag.entry.d_tag[3:]} {entry}")
    return bad


def check_wheels(floor: str, wheels: list[str]) -> None:
    want = glibc(floor)
    if want is None or want < (2, 17):
        raise Refused(
            f"ACC_PY_MANYLINUX_FLOOR={floor}: write @FLOOR@ or a newer manylinux_2_X_x86_64"
        )
    canonical = "manylinux_{}_{}_x86_64".format(*want)
    failed = []
    for wheel in wheels:
        if "*" in wheel or pure_wheel(wheel):  # an unmatched glob: no wheel
            continue
        beside = os.path.join(os.path.dirname(sys.executable), "auditwheel")  # the tools' venv
        show = [beside if os.path.exists(beside) else "auditwheel", "show", "--json", wheel]
        out = subprocess.run(show, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            failed.append(f"{wheel}: auditwheel show failed: {out.stdout}{out.stderr}".strip())
            continue
        report = json.loads(out.stdout)
        why = []
        tags = wheel[: -len(".whl")].split("-")[-1].split(".")
        levels = [glibc(t) for t in tags]
        if not all(level is not None and level <= want for level in levels):
            why.append(
                f"is tagged {'.'.join(tags)}, not {floor} or older "
                '(repair it: ACC_PY_AUDITWHEEL_REPAIR: "true")'
            )
        libs = report.get("policy_upgrades", {}).get(canonical, {}).get("libs_to_eliminate")
        if libs or report.get("external_libs"):
            names = libs or sorted(report["external_libs"])
            why.append(
                "links " + ", ".join(names) + f", outside the {floor} policy "
                "(let auditwheel repair graft it, or link it statically)"
            )
        symbols = [v for vs in report.get("versioned_symbols", {}).values() for v in vs]
        newer = sorted(
            v
            for v in symbols
            if v.startswith("GLIBC_") and tuple(map(int, v[6:].split(".")[:2])) > want
        )
        if newer:
            why.append(
                "uses glibc symbols " + ", ".join(newer) + f", newer than {floor} allows "
                "(build in an older image, or declare a newer ACC_PY_MANYLINUX_FLOOR)"
            )
        escaping = run_paths(wheel)
        if escaping:
            why.append(
                "has a run path out of the wheel ("
                + "; ".join(escaping)
                + "): link without -rpath, or with $ORIGIN-relative paths only"
            )
        got = glibc(report["overall_tag"])
        if not why and (got is None or got > want):
            why.append(f"auditwheel finds it {report['overall_tag']}, not within {floor}")
        if why:
            failed.append(f"{wheel}: " + "; ".join(why))
        else:
            print(
                f"{wheel}: {report['overall_tag']}, within the floor {floor}, "
                "no run path out of the wheel"
            )
    if failed:
        raise Refused("refused:\n  " + "\n  ".join(failed))


# ----------------------------------------------------------------------------- publishing


def repository(value: str) -> str:
    if re.match(r"https?://", value):
        return value
    if value in REPOSITORIES:
        return REPOSITORIES[value]
    names = ", ".join(sorted(REPOSITORIES))
    raise Refused(
        f"PYPI_REPOSITORY={value!r} is neither a URL nor a repository of the site ({names}); "
        "nothing was uploaded"
    )


def publish() -> str:
    files = sorted(glob.glob("dist/*.whl") + glob.glob("dist/*.tar.gz"))
    if not files:
        raise Refused(
            "dist/ holds no sdist or wheel: publish needs the artifacts of build_sdist and "
            "build_wheel; nothing was uploaded"
        )
    versions = {}  # type: dict[str, list[str]]
    project = ""
    for path in files:
        name = os.path.basename(path)
        parsed = parse_wheel_filename(name) if name.endswith(".whl") else parse_sdist_filename(name)
        project = str(parsed[0])
        versions.setdefault(str(parsed[1]), []).append(name)
    tag = os.environ.get("CI_COMMIT_TAG", "")
    try:
        wanted = Version(tag[1:] if tag[:1] in ("v", "V") else tag)
    except InvalidVersion:
        raise Refused(
            f"the tag {tag!r} is not a version: tag the release with the package's version "
            f"({', '.join(versions)}); nothing was uploaded"
        ) from None
    wrong = sorted(v for v in versions if Version(v) != wanted)
    if wrong:
        raise Refused(
            f"the tag {tag} does not match the package's version {', '.join(wrong)} "
            f"({', '.join(versions[wrong[0]])}): set the version to {wanted}, or tag "
            f"{wrong[0]}; nothing was uploaded"
        )
    missing = [
        v for v in ("TWINE_USERNAME", "TWINE_PASSWORD", "PYPI_REPOSITORY") if not os.environ.get(v)
    ]
    if missing:
        raise Refused(
            f"publish needs {' and '.join(missing)}: add them in Settings > CI/CD > Variables "
            "(masked, and protected with the tags); nothing was uploaded"
        )
    url = repository(os.environ["PYPI_REPOSITORY"])
    log(f"publishing {project} {wanted} to {url}: {', '.join(os.path.basename(f) for f in files)}")
    return url


def python_versions() -> None:
    value = os.environ.get("PYTHON_VERSIONS", "")
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in BASE_PYTHONS]
    if not wanted or unknown:
        raise Refused(
            f"PYTHON_VERSIONS={value!r}: {', '.join(unknown) or 'empty'} is not the Python of an "
            f"Acc-Py base; choose among {', '.join(BASE_PYTHONS)}"
        )


def ca_bundle() -> str:
    try:
        from pip._vendor import certifi
    except ImportError:  # pragma: no cover
        return ""
    return str(certifi.where())


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    try:
        if command == "wheel":
            print(pick_wheel(args[0]))
        elif command == "pure-wheel":
            return 0 if pure_wheel(args[0]) else 1
        elif command == "installed":
            installed(args[0], args[1])
        elif command == "requirements":
            requirements(args[0], args[1], args[2], args[3])
        elif command == "tests":
            print("\n".join(tests(*args)))
        elif command == "check-wheels":
            check_wheels(args[0], args[1:])
        elif command == "publish":
            print(publish())
        elif command == "python-versions":
            python_versions()
        elif command == "ca-bundle":
            print(ca_bundle())
        else:
            print(f"ERROR: unknown command {command}: see {__file__}'s docstring", file=sys.stderr)
            return 2
    except Refused as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

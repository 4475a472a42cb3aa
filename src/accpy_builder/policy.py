"""manylinux policies (auditwheel's, through its public API ``WheelPolicies``): the library
whitelist and symbol versions of a platform tag (the tag itself is parsed by
:mod:`accpy_core.platforms`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from accpy_core.errors import ManifestError
from accpy_core.platforms import parse_platform

#: Always provided by the loader itself.
LOADER_NAMES = frozenset({"ld-linux-x86-64.so.2", "linux-vdso.so.1"})


@dataclass(frozen=True)
class Policy:
    tag: str  # manylinux_2_28_x86_64
    glibc: tuple[int, int]
    whitelist: frozenset[str]
    #: namespace ("GLIBC", "GLIBCXX", ...) -> allowed version names ("2.28", ...)
    symbol_versions: dict[str, frozenset[str]]

    def allows_library(self, soname: str) -> bool:
        return soname in self.whitelist or soname in LOADER_NAMES

    def offending_version(self, library: str, version_name: str) -> bool:
        """True when ``version_name`` (e.g. GLIBC_2.34) is newer than the policy allows."""
        if not self.allows_library(library):
            return False  # versions of bundled libraries are their own business
        namespace, _, version = version_name.partition("_")
        allowed = self.symbol_versions.get(namespace)
        if allowed is None or not version:
            return False
        return version not in allowed


def _version_key(text: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[._]", text))


@cache
def policies() -> tuple[Policy, ...]:
    """Every manylinux policy for x86_64, oldest glibc first, through auditwheel's public
    ``WheelPolicies``."""
    from auditwheel.architecture import Architecture
    from auditwheel.libc import Libc
    from auditwheel.policy import WheelPolicies

    result = []
    for entry in WheelPolicies(libc=Libc.GLIBC, arch=Architecture.x86_64):
        match = re.match(r"^manylinux_(\d+)_(\d+)_x86_64$", entry.name)
        if not match:
            continue  # linux_x86_64: no promise
        result.append(
            Policy(
                tag=entry.name,
                glibc=(int(match[1]), int(match[2])),
                whitelist=frozenset(entry.whitelist),
                symbol_versions={k: frozenset(v) for k, v in entry.symbol_versions.items()},
            )
        )
    return tuple(sorted(result, key=lambda p: p.glibc))


def policy_for(tag: str) -> Policy:
    """The policy of ``manylinux_X_Y_x86_64`` (or a legacy alias), or a ManifestError saying
    which tags exist."""
    canonical = parse_platform(tag, ManifestError).canonical
    for policy in policies():
        if policy.tag == canonical:
            return policy
    known = ", ".join(p.tag for p in policies())
    raise ManifestError(f"unknown platform tag {tag!r}; use one of {known}, or PLATFORM=auto")


def max_version(names: Iterable[str], namespace: str) -> str | None:
    """The newest ``<namespace>_x.y`` among ``names``, e.g. ``GLIBC_2.35``."""
    versions = [n.partition("_")[2] for n in names if n.startswith(namespace + "_")]
    versions = [v for v in versions if v and v[0].isdigit()]
    return max(versions, key=_version_key, default=None)

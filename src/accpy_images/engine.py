"""buildah and skopeo, the only programs that touch images; everything else calls these.

Builds run with ``--isolation chroot`` and the host's network (what works on hosts without a
container runtime that can set rlimits and cgroups), so loopback servers are reachable from
RUN steps.

**One store.** containers-storage is whatever the machine configures (storage.conf, or
``CONTAINERS_STORAGE_CONF``; ``STORAGE_DRIVER`` to choose the driver): :func:`store` asks
buildah once, and every call here names that store explicitly (buildah's ``--storage-driver
--root --runroot``, skopeo's ``containers-storage:[driver@root+runroot]``). So a build, its
inspection and its copy never look in two stores, whatever else (podman's database, an earlier
use with another driver) the machine has. overlay shares layers between the variants, vfs
copies them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from accpy_core.errors import SourceError
from accpy_core.proc import complete, quote_command, run, succeeds

log = logging.getLogger(__name__)
ISOLATION = os.environ.get("BUILDAH_ISOLATION", "chroot")


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SourceError(
            f"{name} is not installed; install buildah, skopeo and podman "
            "(Debian/RHEL packages of those names; make test-deps does it)"
        )
    return found


@dataclass(frozen=True)
class Store:
    """A containers-storage: its driver, image root and run root."""

    driver: str
    root: str
    runroot: str

    def options(self) -> list[str]:
        """buildah's global options that name it."""
        return ["--storage-driver", self.driver, "--root", self.root, "--runroot", self.runroot]

    def ref(self, image: str) -> str:
        """``image`` in it, as skopeo names it."""
        return f"containers-storage:[{self.driver}@{self.root}+{self.runroot}]{image}"


@cache
def store() -> Store:
    """The store of this process: the one buildah's configuration gives (asked once)."""
    info = json.loads(run([tool("buildah"), "info"], what="buildah info"))
    found = info.get("store", {})
    driver = os.environ.get("STORAGE_DRIVER") or found.get("GraphDriverName", "")
    if not driver or not found.get("GraphRoot"):
        raise SourceError("buildah info names no containers-storage; check storage.conf")
    chosen = Store(driver, found["GraphRoot"], found["RunRoot"])
    log.debug("containers-storage: %s in %s (run root %s)", *dataclasses.astuple(chosen))
    return chosen


def _buildah(*args: str) -> list[str]:
    return [tool("buildah"), *store().options(), *args]


def buildah(*args: str, what: str | None = None) -> str:
    return run(_buildah(*args), what=what or f"buildah {args[0]}")


def build(
    containerfile: Path,
    context: Path,
    tag: str,
    *,
    timestamp: int,
    from_ref: str | None,
    log_to: Path,
) -> None:
    """``buildah build`` one Containerfile into one new layer; its output goes to ``log_to``."""
    argv = [
        *_buildah("build"), "--isolation", ISOLATION, "--network", "host",
        "--timestamp", str(timestamp), "--pull=false", "--layers=false",
        "-f", str(containerfile), "-t", tag,
        *(("--from", from_ref) if from_ref else ()),
        str(context),
    ]  # fmt: skip
    run(argv, what=f"buildah build -f {containerfile.name}", log_to=log_to)


@contextlib.contextmanager
def container(image: str) -> Iterator[str]:
    """A working container of ``image``, removed afterwards."""
    name = buildah("from", "--pull=false", "--quiet", image, what=f"buildah from {image}").strip()
    try:
        yield name
    finally:
        succeeds(_buildah("rm", name))


def run_in(
    ctr: str,
    argv: Sequence[str],
    *,
    user: str | None = None,
    volumes: Sequence[str] = (),
    env: Sequence[str] = (),
    check: bool = True,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the working container ``ctr`` (the image's environment applies)."""
    cmd = [*_buildah("run"), "--isolation", ISOLATION, "--network", "host"]
    if user:
        cmd += ["--user", user]
    for v in volumes:
        cmd += ["--volume", v]
    for e in env:
        cmd += ["--env", e]
    cmd += [ctr, "--", *argv]
    what = f"{quote_command(argv)} in {ctr}"
    return complete(cmd, what=what, check=check, capture=capture)


def inspect(image: str) -> dict[str, Any]:
    """buildah's view of a local image: its config (Docker or OCI), id and digest."""
    out = buildah("inspect", "--type", "image", image, what=f"buildah inspect {image}")
    data: dict[str, Any] = json.loads(out)
    return data


def exists(image: str) -> bool:
    return succeeds(_buildah("inspect", "--type", "image", image))


def size(image: str) -> int:
    """Bytes of all the layers of local ``image``, uncompressed (each counted once)."""
    raw = run(
        [tool("skopeo"), "inspect", "--raw", store().ref(image)], what=f"skopeo inspect {image}"
    )
    return sum(int(layer["size"]) for layer in json.loads(raw)["layers"])


def import_tarball(tarball: Path, image: str) -> None:
    """An image of one layer: the file system in ``tarball`` (an OS image made with
    mmdebstrap, say)."""
    ctr = buildah("from", "--quiet", "scratch").strip()
    try:
        buildah("add", "--quiet", ctr, str(tarball), "/")
        buildah("commit", "--quiet", ctr, image)
    finally:
        succeeds(_buildah("rm", ctr))


def local(image: str) -> str:
    """skopeo's reference of ``image`` in :func:`store`."""
    return store().ref(image)


def skopeo_copy(src: str, dest: str, *, tls_verify: bool = True) -> str:
    """Copy an image between transports (:func:`local` names one of the store); returns the
    manifest digest written."""
    with tempfile.TemporaryDirectory(prefix="acc-py-images-") as tmp:
        digest_file = Path(tmp) / "digest"
        argv = [tool("skopeo"), "copy", "--quiet", "--digestfile", str(digest_file)]
        if not tls_verify:
            argv += ["--dest-tls-verify=false"]
        run([*argv, src, dest], what=f"skopeo copy to {dest}")
        return digest_file.read_text().strip()

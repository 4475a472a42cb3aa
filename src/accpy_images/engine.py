"""buildah and skopeo, the only programs that touch images; everything else calls these.

Builds run with ``--isolation chroot`` and the host's network (what works on hosts without a
container runtime that can set rlimits and cgroups), so loopback servers are reachable from
RUN steps. Storage is whatever containers-storage is configured to use
(``CONTAINERS_STORAGE_CONF`` for another one); overlay shares layers, vfs copies them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from accpy_core.errors import CommandError, SourceError
from accpy_core.proc import quote_command, run

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


def buildah(*args: str, what: str | None = None) -> str:
    return run([tool("buildah"), *args], what=what or f"buildah {args[0]}")


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
        tool("buildah"), "build", "--isolation", ISOLATION, "--network", "host",
        "--timestamp", str(timestamp), "--pull=false", "--layers=false",
        "-f", str(containerfile), "-t", tag,
        *(("--from", from_ref) if from_ref else ()),
        str(context),
    ]  # fmt: skip
    log.debug("+ %s", quote_command(argv))
    with log_to.open("w", encoding="utf-8") as out:
        proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log_to.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])
        raise CommandError(
            f"buildah build -f {containerfile.name} failed with exit code {proc.returncode} "
            f"(whole output: {log_to}):\n{tail}"
        )


@contextlib.contextmanager
def container(image: str) -> Iterator[str]:
    """A working container of ``image``, removed afterwards."""
    name = buildah("from", "--pull=false", "--quiet", image, what=f"buildah from {image}").strip()
    try:
        yield name
    finally:
        subprocess.run([tool("buildah"), "rm", name], capture_output=True, check=False)


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
    cmd = [tool("buildah"), "run", "--isolation", ISOLATION, "--network", "host"]
    if user:
        cmd += ["--user", user]
    for v in volumes:
        cmd += ["--volume", v]
    for e in env:
        cmd += ["--env", e]
    cmd += [ctr, "--", *argv]
    log.debug("+ %s", quote_command(cmd))
    proc = subprocess.run(cmd, capture_output=capture, text=True, check=False)
    if check and proc.returncode != 0:
        out = ((proc.stdout or "") + (proc.stderr or "")).strip()
        raise CommandError(
            f"{quote_command(argv)} failed in {ctr} ({proc.returncode}):\n{out[-2000:]}"
        )
    return proc


def inspect(image: str) -> dict[str, Any]:
    """buildah's view of a local image: its config (Docker or OCI), id and digest."""
    out = buildah("inspect", "--type", "image", image, what=f"buildah inspect {image}")
    data: dict[str, Any] = json.loads(out)
    return data


def exists(image: str) -> bool:
    proc = subprocess.run(
        [tool("buildah"), "inspect", "--type", "image", image], capture_output=True, check=False
    )
    return proc.returncode == 0


def skopeo_copy(src: str, dest: str, *, tls_verify: bool = True) -> str:
    """Copy an image between transports; returns the manifest digest written."""
    with tempfile.TemporaryDirectory(prefix="acc-py-images-") as tmp:
        digest_file = Path(tmp) / "digest"
        argv = [tool("skopeo"), "copy", "--quiet", "--digestfile", str(digest_file)]
        if not tls_verify:
            argv += ["--dest-tls-verify=false"]
        run([*argv, src, dest], what=f"skopeo copy to {dest}")
        return digest_file.read_text().strip()

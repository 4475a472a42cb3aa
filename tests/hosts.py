"""Foreign hosts for the tests: chroots laid out like one distribution each.

A chroot holds only what the base may take from a host: the libraries of the manylinux
whitelist that the base needs (from this machine, at the places the distribution keeps them,
found through an ld.so cache made for the chroot), the distribution's layout of CA certificates,
terminfo and fonts, and nothing of the build machine's paths (no ``/usr/lib/ssl``, no
``/usr/share/tcltk``). The base is bind-mounted read-only at ``/opt/acc-py/base/<version>``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: where each distribution keeps its shared libraries and its CA store
LAYOUTS = {
    "rhel9": {
        "libdir": "usr/lib64",
        "bundle": "etc/pki/tls/certs/ca-bundle.crt",
        "links": {
            "etc/pki/tls/cert.pem": "certs/ca-bundle.crt",
            "etc/ssl/certs": "../pki/tls/certs",
        },
    },
    "debian12": {
        "libdir": "usr/lib/x86_64-linux-gnu",
        "bundle": "etc/ssl/certs/ca-certificates.crt",
        "links": {
            "usr/lib/ssl/certs": "/etc/ssl/certs",
            "usr/lib/ssl/cert.pem": "/etc/ssl/certs/ca-certificates.crt",
        },
    },
}


@dataclass(frozen=True)
class Host:
    root: Path
    base: str  # the base's path inside the chroot
    layout: str

    def run(
        self, *argv: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` inside the chroot, with a user's bare environment (nothing sourced)."""
        full = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LC_ALL": "C.UTF-8", **(env or {})}
        chroot = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin")
        assert chroot, "chroot (coreutils) is not installed"
        return subprocess.run(
            [chroot, str(self.root), *argv], env=full, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip


def system_libraries(tree: Path) -> set[Path]:
    """The host libraries that the ELF files of ``tree`` load (ldd), the loader included."""
    found: set[Path] = set()
    for path in tree.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
        for line in out.stdout.splitlines():
            parts = line.split()
            target = parts[2] if len(parts) >= 3 and parts[1] == "=>" else parts[0] if parts else ""
            if target.startswith("/") and not target.startswith(str(tree)):
                found.add(Path(target))
    return found


@contextlib.contextmanager
def foreign_host(
    where: Path, tree: Path, layout: str, ca_bundle: bytes, version: str = "2023.06"
) -> Iterator[Host]:
    """A chroot at ``where`` laid out like ``layout`` (see LAYOUTS), with ``ca_bundle`` as its
    CA store and the base ``tree`` bind-mounted read-only inside."""
    spec = LAYOUTS[layout]
    root = where
    libdir = root / str(spec["libdir"])
    libdir.mkdir(parents=True)
    for lib in sorted(system_libraries(tree)):
        shutil.copyfile(lib.resolve(), libdir / lib.name)
        (libdir / lib.name).chmod(0o755)
    loader = Path("/lib64/ld-linux-x86-64.so.2")
    (root / "lib64").mkdir(exist_ok=True)
    if not (root / "lib64" / loader.name).exists():
        shutil.copyfile(loader.resolve(), root / "lib64" / loader.name)
        (root / "lib64" / loader.name).chmod(0o755)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "ld.so.conf").write_text(f"/{spec['libdir']}\n")
    subprocess.run(["ldconfig", "-r", str(root)], check=True)
    bundle = root / str(spec["bundle"])
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(ca_bundle)
    for link, target in dict(spec["links"]).items():  # type: ignore[call-overload]
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(root / link):
            (root / link).symlink_to(target)
    terminfo = root / "usr" / "share" / "terminfo" / "x"
    terminfo.mkdir(parents=True)
    source = next(p for p in (Path("/usr/share/terminfo/x/xterm"), Path("/lib/terminfo/x/xterm"))
                  if p.exists())  # fmt: skip
    shutil.copyfile(source, terminfo / "xterm")
    # a desktop host has fonts and their configuration (the same paths on every distribution)
    shutil.copytree("/etc/fonts", root / "etc" / "fonts", symlinks=True)
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    assert dejavu.is_dir(), "the DejaVu fonts are missing (Debian: fonts-dejavu-core)"
    shutil.copytree(dejavu, root / "usr" / "share" / "fonts" / "dejavu")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "dev").mkdir()
    for dev in ("null", "urandom", "zero"):
        subprocess.run(["mknod", "-m", "666", str(root / "dev" / dev), "c",
                        *{"null": ("1", "3"), "urandom": ("1", "9"), "zero": ("1", "5")}[dev]],
                       check=True)  # fmt: skip
    (root / "proc").mkdir()
    mount = root / "opt" / "acc-py" / "base" / version
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        subprocess.run(["mount", "--bind", str(tree), str(mount)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        yield Host(root, f"/opt/acc-py/base/{version}", layout)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        subprocess.run(["umount", "-l", str(root / "proc")], check=False)

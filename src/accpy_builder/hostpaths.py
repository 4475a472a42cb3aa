"""Stage 2b, host paths: what the bundled libraries look up at the build host's paths.

A base runs on hosts laid out unlike the build machine (the consoles are RHEL 9; an adopted
interpreter comes from Debian). What a library of the base looks for at a fixed path, and what
the builder does about it:

- **CA certificates.** OpenSSL looks in the OPENSSLDIR it was built with (Debian's:
  ``/usr/lib/ssl``; python-build-standalone's: ``/etc/ssl``), which another distribution may
  lack: RHEL keeps its store in ``/etc/pki/tls``. inject appends
  ``recipes/ssl-host-certs.py.in`` to the base's ``ssl`` module: where the library's own file is
  missing and neither ``SSL_CERT_FILE`` nor ``SSL_CERT_DIR`` is set, the default contexts load
  the host's store (RHEL and compatibles, Debian and Ubuntu, SUSE, Alpine), in the base and in
  every venv, with nothing to source.
- **Tcl/Tk's script libraries** (``init.tcl``, ``tk.tcl``): an adopted interpreter's bundled
  ``libtcl``/``libtk`` look for them at the build host's path (``/usr/share/tcltk/tcl8.6``).
  :func:`bundle_tcl_libraries` copies them into ``lib/tcl8.6`` and ``lib/tk8.6`` (where
  python-build-standalone has them, and Tcl looks next to the base's python), and inject appends
  ``recipes/tkinter-tcl-library.py.in`` to ``tkinter`` so that venvs find them too.
- **terminfo** (readline, curses): ncurses searches ``/etc/terminfo``, ``/lib/terminfo`` and
  ``/usr/share/terminfo``, and every distribution has the last one: nothing to change (the
  tests check it on RHEL-like and Debian-like hosts).
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from accpy_core.errors import RelocateError

log = logging.getLogger(__name__)

_TCL_DIR = re.compile(rb"(/[A-Za-z0-9_./+-]*/(tcl|tk)(\d+\.\d+))\x00")


def _compiled_tcl_dirs(library: Path) -> dict[str, Path]:
    """``{"tcl8.6": /usr/share/tcltk/tcl8.6, ...}``: the script-library paths compiled into a
    libtcl/libtk that exist on this (the build) host."""
    found: dict[str, Path] = {}
    for match in _TCL_DIR.finditer(library.read_bytes()):
        path = Path(match[1].decode())
        name = f"{match[2].decode()}{match[3].decode()}"
        marker = "init.tcl" if name.startswith("tcl") else "tk.tcl"
        if (path / marker).is_file():
            found.setdefault(name, path)
    return found


def bundle_tcl_libraries(tree: Path) -> tuple[str, ...]:
    """Copy the script libraries of the bundled Tcl/Tk into ``tree/lib``; return what the tree
    has then (``("tcl8.6", "tk8.6")``, or ``()`` when it has no Tcl)."""
    lib = tree / "lib"
    have = sorted(p.name for g in ("tcl[0-9]*", "tk[0-9]*") for p in lib.glob(g) if p.is_dir())
    libraries = sorted(
        p for g in ("libtcl*.so*", "libtk*.so*") for p in lib.glob(g) if not p.is_symlink()
    )
    sources: dict[str, Path] = {}
    for library in libraries:
        sources.update(_compiled_tcl_dirs(library))
    if any(p.name.startswith("libtk") for p in libraries):
        # libtk finds tk.tcl next to Tcl's library (tcl_findLibrary): take that sibling
        for tcl in [path for name, path in sources.items() if name.startswith("tcl")]:
            for sibling in sorted(tcl.parent.glob("tk[0-9]*")):
                if (sibling / "tk.tcl").is_file():
                    sources.setdefault(sibling.name, sibling)
    for name, source in sorted(sources.items()):
        if name not in have:
            shutil.copytree(source, lib / name, symlinks=False)
            have.append(name)
            log.info("bundled the script library %s (from %s)", name, source)
    if libraries and not any(n.startswith("tcl") for n in have):
        raise RelocateError(
            f"the base bundles {libraries[0].name} but this host has no Tcl script library "
            "(init.tcl) at the path it was built with; install Tcl's library (Debian: tcl8.6, "
            "EL: tcl) and rebuild"
        )
    return tuple(sorted(have))

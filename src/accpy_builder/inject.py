"""Stage 4, inject: put into the interpreter tree what makes it an Acc-Py base.

One table, :data:`PAYLOAD`, says what goes where (tree-relative destinations, ``{stdlib}`` and
``{purelib}`` standing for ``lib/pythonX.Y`` and its ``site-packages``):

- templates among the recipes (``*.in``): ``@NAME@`` tokens (upper case, digits, ``_``) are
  replaced by the values of :func:`template_values`; an unknown token is an error that names
  file and line. Any other ``@`` (an e-mail address, ``"$@"``) is left alone;
- plain files among the recipes, copied byte for byte;
- programs: a C recipe, rendered as a template, compiled into a static executable
  (:mod:`.native`: no NEEDED library, no symbol version);
- generated files, which the base's own Python writes when the entries above them are in place
  (``bin/pythonX.Y -I -B -m MODULE ARGS TREE DEST``, ``ARGS`` rendered as templates): the venv
  skeleton that ``bin/acc-py`` instantiates (:mod:`acc_py._skeleton`);
- appended fragments: a recipe rendered and added at the end of a file the interpreter has (the
  host's CA store in ``ssl``, the base's Tcl/Tk libraries in ``tkinter``:
  :mod:`accpy_builder.hostpaths`); the only entries that change an interpreter's file, and
  only by adding to it;
- relative symlinks, which must stay inside the tree;
- the packages every base carries, as their source files: :mod:`accpy_core` (what the parts
  share), :mod:`acc_py_install` (the installer, which the self-extractor hands over to) and
  :mod:`acc_py` (the ``acc-py`` command). Bytecode comes later (stage bytecode).

Modes: executables 0755, other files 0644, created directories 0755. Nothing overwrites a
file of the interpreter tree. Every recipe is in the table: a recipe file no entry uses is an
error, so that nothing is silently left out.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from accpy_core import collector
from accpy_core.errors import AccPyError, CommandError, ConfigError, InjectError
from accpy_core.names import SITE_CA_FILE
from accpy_core.proc import clean_env, run
from accpy_manifest import BaseSpec, Site

from . import native, relocate, resources

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"@([A-Z_][A-Z0-9_]*)@")


@dataclass(frozen=True)
class Template:
    """A recipe rendered with the template values; ``fragments``: (TOKEN, recipe) pairs, each
    recipe rendered and put in place of ``@TOKEN@`` (text that two templates share)."""

    dest: str
    recipe: str
    mode: int = 0o644
    fragments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Copy:
    """A recipe copied as it is."""

    dest: str
    recipe: str
    mode: int = 0o644


@dataclass(frozen=True)
class Program:
    """A C recipe, rendered as a template, compiled into a static executable.

    ``headers``: recipes rendered next to it, which it ``#include``s; ``moves``: where the
    interpreter's file at ``dest`` goes first (the launcher takes its name); ``carries``: that
    file is compiled in too (``carried.h`` and ``interpreter``: native.carried_interpreter)."""

    dest: str
    recipe: str
    mode: int = 0o755
    headers: tuple[str, ...] = ()
    moves: str | None = None
    carries: bool = False


@dataclass(frozen=True)
class Generated:
    """A file the base's own Python writes: ``python -I -B -m MODULE ARGS TREE DEST``."""

    dest: str
    module: str
    args: tuple[str, ...] = ()
    mode: int = 0o644


@dataclass(frozen=True)
class Append:
    """A recipe rendered and appended to a file of the interpreter (``optional``: skipped when
    the interpreter has no such file, e.g. a build without tkinter)."""

    dest: str
    recipe: str
    optional: bool = False


@dataclass(frozen=True)
class Symlink:
    dest: str
    target: str


@dataclass(frozen=True)
class Package:
    """The ``.py`` files of an importable package (stdlib-only, Python 3.7+)."""

    dest: str
    package: str


Item = Template | Copy | Program | Generated | Append | Symlink | Package

#: Everything inject puts into every base, and where.
#: how setup.sh and setup.csh find themselves: the same in a base and an interactive release
LOCATE_SH = (("LOCATE", "setup-locate.sh.in"),)
LOCATE_CSH = (("LOCATE", "setup-locate.csh.in"),)

PAYLOAD: tuple[Item, ...] = (
    Template("setup.sh", "setup.sh.in", fragments=LOCATE_SH),
    Template("setup.csh", "setup.csh.in", fragments=LOCATE_CSH),
    # pip reads <sys.prefix>/pip.conf; setup.sh puts etc/xdg first in XDG_CONFIG_DIRS, which
    # reaches pip in venvs too
    Template("pip.conf", "pip.conf.in"),
    Symlink("etc/xdg/pip/pip.conf", "../../../pip.conf"),
    Template("{stdlib}/EXTERNALLY-MANAGED", "EXTERNALLY-MANAGED.in"),
    # the usage hook: the stdlib's sitecustomize fires in the base and in every venv of it
    Template("{stdlib}/sitecustomize.py", "sitecustomize.py.in"),
    # the interpreter's launcher: it starts the interpreter of its own tree by that tree's
    # physical path, so that a process keeps the tree it started on whatever pro does; a copy
    # of it out of the tree runs the interpreter it carries, as a copy of that would run
    Program(
        "bin/python{minor}",
        "python.c.in",
        headers=("launcher.h.in",),
        moves="bin/.python{minor}",
        carries=True,
    ),
    # acc-py: a static program that makes plain venvs itself and runs the Python acc-py (the
    # entry script, in a directory of its own) for everything else
    Program("bin/acc-py", "acc-py.c.in", headers=("launcher.h.in",)),
    Template("share/acc-py/entry/acc-py.py", "acc-py.py.in"),
    # what bundled libraries look up at the build host's paths (accpy_builder.hostpaths), and
    # the site's certificate authorities, which ssl and pip trust beside the host's store
    Template(SITE_CA_FILE, "site-ca.pem.in"),
    Append("{stdlib}/ssl.py", "ssl-host-certs.py.in"),
    Append("{purelib}/pip/_vendor/certifi/core.py", "pip-certifi.py.in"),
    Append("{stdlib}/tkinter/__init__.py", "tkinter-tcl-library.py.in", optional=True),
    Package("{purelib}/accpy_core", "accpy_core"),
    Package("{purelib}/acc_py_install", "acc_py_install"),
    Package("{purelib}/acc_py", "acc_py"),
    # what bin/acc-py instantiates: acc_py.venv's plan with markers, made by the base's own
    # Python once acc_py and pip.conf are in place
    Generated(
        "share/acc-py/venv.skeleton",
        "acc_py._skeleton",
        ("--version", "@VERSION@", "--index-url", "@INDEX_URL@"),
    ),
)

#: What makes a tree of installed packages an interactive release on its base
#: (:mod:`accpy_builder.interactive.build`): its setup files, and the .pth through which its
#: site-packages, once the base's hook has added it, sets Jupyter's search paths.
INTERACTIVE_PAYLOAD: tuple[Item, ...] = (
    Template("setup.sh", "interactive-setup.sh.in", fragments=LOCATE_SH),
    Template("setup.csh", "interactive-setup.csh.in", fragments=LOCATE_CSH),
    Template("{purelib}/_acc_py_interactive.py", "interactive-site.py.in"),
    Template("{purelib}/_acc_py_interactive.pth", "interactive-site.pth.in"),
)

_SAFE_VALUE = re.compile(r"[\w.:/@%+~?=&,\[\]-]+")


def template_values(base: BaseSpec, site: Site, platform: str | None = None) -> dict[str, str]:
    """The ``@NAME@`` values a template may use."""
    for name, value in (
        ("index URL", site.index_url),
        ("usage collector", site.usage_collector),
        ("install root", site.install_root),
    ):
        # rendered into shell, Python and ini files: no quote, backslash, space or newline
        if not _SAFE_VALUE.fullmatch(value):
            raise InjectError(
                f"the {name} {value!r} has characters that cannot go into the base's files; "
                "use a plain URL, host:port or path"
            )
    return {
        "INSTALL_ROOT": site.install_root,
        "VERSION": base.version,
        "PATCH": str(base.patch),
        "PYTHON_VERSION": base.python_minor,
        "PYTHON_FULL_VERSION": base.python,
        "STATUS": base.status,
        "END_OF_LIFE": base.end_of_life.isoformat() if base.end_of_life else "",
        "INDEX_URL": site.index_url,
        "USAGE_COLLECTOR": site.usage_collector,
        # where the hook finds the addresses of a collector named by host name
        "COLLECTOR_FILE": collector.FILE_NAME,
        "COLLECTOR_FILE_HEADER": collector.HEADER,
        "COLLECTOR_FILE_MAX": str(collector.MAX_FILE_BYTES),
        "COLLECTOR_MAX_ADDRESSES": str(collector.MAX_ADDRESSES),
        "PLATFORM": platform or base.platform,
        "SITE_CA_PEM": site.ca_pem.rstrip("\n"),
        "SITE_CA_FILE": SITE_CA_FILE if site.ca_pem else "",
        "SITE_CA_FILE_NAME": SITE_CA_FILE,
    }


def render(
    text: str,
    values: Mapping[str, str],
    source: Path | str,
    error: type[AccPyError] = InjectError,
) -> str:
    """Replace every ``@NAME@`` of ``text``, the one renderer of the project's templates (the
    base's files and the self-extracting installer's header); an unknown name is ``error``
    naming ``source:line``."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        for match in TOKEN_RE.finditer(line):
            name = match.group(1)
            if name not in values:
                close = difflib.get_close_matches(name, values, n=1)
                hint = f" (did you mean @{close[0]}@?)" if close else ""
                known = ", ".join(f"@{k}@" for k in values)
                raise error(
                    f"{source}:{lineno}: unknown template token @{name}@{hint}; "
                    f"known tokens: {known}"
                )
    return TOKEN_RE.sub(lambda m: values[m.group(1)], text)


def _expand(path: str, item: Item, python_minor: str) -> str:
    stdlib = f"lib/python{python_minor}"
    try:
        return path.format(stdlib=stdlib, purelib=f"{stdlib}/site-packages", minor=python_minor)
    except (KeyError, IndexError, ValueError) as exc:
        raise InjectError(
            f"{item}: the destination {path} has an unknown placeholder {exc}; use "
            "{stdlib}, {purelib} or {minor}"
        ) from exc


def destination(item: Item, python_minor: str, where: str | None = None) -> PurePosixPath:
    """Where ``item`` goes (or ``where``, another path of it), tree-relative."""
    dest = _expand(where or item.dest, item, python_minor)
    rel = PurePosixPath(dest)
    if rel.is_absolute() or ".." in rel.parts:
        raise InjectError(f"{item}: the destination {dest} leaves the tree")
    return rel


def _check_symlink(item: Symlink, dest: PurePosixPath) -> None:
    if os.path.isabs(item.target):
        raise InjectError(f"{dest} -> {item.target}: make the symlink relative to its directory")
    depth = len(dest.parent.parts)
    for part in PurePosixPath(item.target).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise InjectError(f"{dest} -> {item.target} points outside the base tree")


def _make_dirs(tree: Path, rel: PurePosixPath) -> None:
    current = tree
    for part in rel.parts:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise InjectError(f"cannot create directory {current}: a file or symlink is in the way")
        if not current.exists():
            current.mkdir()
            current.chmod(0o755)


def _package_files(package: str) -> list[tuple[PurePosixPath, Path]]:
    """(relative path, source) of every ``.py`` file of ``package``, sorted."""
    root = resources.package_dir(package)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                source = Path(dirpath, name)
                out.append((PurePosixPath(source.relative_to(root).as_posix()), source))
    if not out:
        raise InjectError(f"the package {package} in {root} has no .py files")
    return out


def _tell_named_collector(value: str) -> None:
    """A collector named by host name is resolved when the base is installed, not at start-up."""
    try:
        named = collector.parse_address(value).named
    except ConfigError as exc:
        raise InjectError(str(exc)) from None
    if named:
        log.info(
            "usage collector %s is a host name: acc-py-install resolves it when it installs the "
            "base (and `acc-py-install resolve-collector` again, e.g. daily); the hook never "
            "resolves it at start-up",
            value,
        )


def _generate(
    tree: Path, item: Generated, values: dict[str, str], python_minor: str, dest: Path
) -> None:
    """Run the base's own Python to write ``dest`` (see :class:`Generated`)."""
    python = tree / "bin" / f"python{python_minor}"
    args = [render(a, values, f"{item} argument") for a in item.args]
    try:
        run(
            [python, "-I", "-B", "-m", item.module, *args, tree, dest],
            env=clean_env(),
            what=f"{item.module} (writing {dest.relative_to(tree)})",
        )
    except CommandError as exc:
        raise InjectError(str(exc)) from None
    if not dest.is_file():
        raise InjectError(f"{item.module} did not write {dest.relative_to(tree)}")


def _move_aside(tree: Path, rel: PurePosixPath, to: PurePosixPath) -> None:
    """The interpreter's ``rel`` becomes ``to`` (a Program takes its name)."""
    source, target = tree / rel, tree / to
    if source.is_symlink() or not source.is_file():
        raise InjectError(f"{rel} is not a file of the interpreter tree: nothing to move to {to}")
    if os.path.lexists(target):
        raise InjectError(f"{to} is already in the tree; start from a clean interpreter tree")
    source.rename(target)


def _append(path: Path, item: Append, text: str) -> None:
    if path.is_symlink() or not path.is_file():
        if item.optional and not os.path.lexists(path):
            log.debug("no %s: %s not appended", path, item.recipe)
            return
        raise InjectError(f"{item.recipe} is appended to {path}, which is not a file of the tree")
    original = path.read_text(encoding="utf-8")
    if text in original:
        raise InjectError(f"{path} already ends with {item.recipe}; start from a clean tree")
    path.write_text(original + text, encoding="utf-8")


def check_payload(payload: Sequence[Item], recipe_names: Sequence[str]) -> None:
    """Every recipe file is used by the table(s), and every recipe they name exists."""
    named = {i.recipe for i in payload if isinstance(i, Template | Copy | Program | Append)}
    named |= {h for i in payload if isinstance(i, Program) for h in i.headers}
    named |= {r for i in payload if isinstance(i, Template) for _, r in i.fragments}
    unused = sorted(set(recipe_names) - named)
    missing = sorted(named - set(recipe_names))
    if unused:
        raise InjectError(
            f"recipes {', '.join(unused)} are in no entry of inject.PAYLOAD (or "
            "INTERACTIVE_PAYLOAD); add them there (with their destination) or remove them"
        )
    if missing:
        raise InjectError(f"inject.PAYLOAD names recipes that do not exist: {', '.join(missing)}")


def inject(
    tree: Path,
    values: dict[str, str],
    python_minor: str,
    *,
    payload: Sequence[Item] = PAYLOAD,
    read_recipe: Callable[[str], bytes] | None = None,
) -> list[Path]:
    """Place ``payload`` into ``tree``; return the files and symlinks written, tree-relative.

    ``values``: the template values (:func:`template_values`); ``read_recipe``: where recipes
    come from (default: the builder's own, :mod:`accpy_builder.resources`).
    """
    if not tree.is_dir():
        raise InjectError(f"{tree} is not a directory: inject needs an unpacked interpreter tree")
    if read_recipe is None:
        if payload in (PAYLOAD, INTERACTIVE_PAYLOAD):
            check_payload(PAYLOAD + INTERACTIVE_PAYLOAD, resources.recipe_names())

        def read_recipe(name: str) -> bytes:
            return resources.recipe(name).read_bytes()

    if "USAGE_COLLECTOR" in values:
        _tell_named_collector(values["USAGE_COLLECTOR"])
    written: list[Path] = []
    seen: set[PurePosixPath] = set()
    appended: set[Path] = set()  # files of installed wheels among them: their RECORDs follow

    def place(rel: PurePosixPath, what: str) -> Path:
        dest = tree / rel
        if rel in seen:
            raise InjectError(f"two entries of the payload write {rel}; keep one ({what})")
        seen.add(rel)
        if dest.exists() or dest.is_symlink():
            raise InjectError(
                f"{what} would overwrite {rel}, which the interpreter tree already has; give it "
                "another destination in inject.PAYLOAD"
            )
        _make_dirs(tree, rel.parent)
        written.append(Path(rel))
        return dest

    for item in payload:
        rel = destination(item, python_minor)
        if isinstance(item, Symlink):
            _check_symlink(item, rel)
            place(rel, f"the symlink {rel}").symlink_to(item.target)
        elif isinstance(item, Package):
            for sub, source in _package_files(item.package):
                dest = place(rel / sub, f"the package {item.package}")
                shutil.copyfile(source, dest)
                dest.chmod(0o644)
        elif isinstance(item, Append):
            text = render(read_recipe(item.recipe).decode("utf-8"), values, item.recipe)
            _append(tree / rel, item, text)
            if (tree / rel).is_file():
                written.append(Path(rel))
                appended.add(tree / rel)
        elif isinstance(item, Generated):
            dest = place(rel, f"the file {rel} made by {item.module}")
            _generate(tree, item, values, python_minor, dest)
            dest.chmod(item.mode)
        else:
            data = read_recipe(item.recipe)
            if isinstance(item, Template | Program):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InjectError(f"{item.recipe} is a template but not UTF-8: {exc}") from exc
                own = dict(values)
                for token, fragment in getattr(item, "fragments", ()):
                    own[token] = render(read_recipe(fragment).decode("utf-8"), values, fragment)
                data = render(text, own, item.recipe).encode("utf-8")
            moved = None
            if isinstance(item, Program) and item.moves:
                moved = destination(item, python_minor, item.moves)
            if moved is not None:
                _move_aside(tree, rel, moved)
                written.append(Path(moved))
            dest = place(rel, f"the recipe {item.recipe}")
            if isinstance(item, Program):
                headers = {
                    h.removesuffix(".in"): render(read_recipe(h).decode("utf-8"), values, h)
                    for h in item.headers
                }
                blobs: dict[str, bytes] = {}
                if item.carries:
                    if moved is None:
                        raise InjectError(f"{item.recipe} carries the file it moves: give moves")
                    blobs["interpreter"], headers["carried.h"] = native.carried_interpreter(
                        tree / moved, tree.parent
                    )
                name = item.recipe.split(".")[0]
                native.compile_static(
                    data.decode("utf-8"),
                    dest,
                    name=name,
                    scratch=tree.parent,
                    headers=headers,
                    blobs=blobs,
                )
            else:
                dest.write_bytes(data)
            dest.chmod(item.mode)
        log.debug("placed %s", rel)
    relocate.refresh_wheel_records(tree, appended)
    return sorted(written)

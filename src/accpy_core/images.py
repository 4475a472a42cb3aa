"""Container image names and variants, the one implementation:
``<registry>/acc-py_{os}[_{java}][_{variant}]``.

The variants are layered: :data:`VARIANTS` is the one table of them, a row each (its parent,
the OS features of ``accpy_images/packages.yaml`` it installs and the Containerfile steps of its
own). Adding a variant is a row here and its packages in packages.yaml. ``base`` carries no
suffix: ``acc-py_el9:2023.06``, ``acc-py_el9_ci:2023.06``, ``acc-py_el9_openjdk17_gui_ci:…``.
Tags: ``<version>``, ``<version>.<patch>`` and, on the pro base, ``pro``. Inside every image the
base is ``/opt/acc-py/base/<version>`` (``installed`` points at it) and the venv that is active
by default is ``/opt/acc-py/venvs/acc-py-venv``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError


@dataclass(frozen=True)
class Variant:
    """One image variant: one layer on the image of ``parent``."""

    name: str
    #: the variant it is built on (None: the OS image)
    parent: str | None
    #: what the layer is for: the comment above its package step in the Containerfile
    purpose: str
    #: the features of packages.yaml whose OS packages the layer installs
    features: tuple[str, ...] = ()
    #: commands that, when the OS image has them all, skip the package step ("{ca_update}":
    #: the family's trust-store command)
    unless: tuple[str, ...] = ()
    #: the Containerfile steps of its own, after its packages (accpy_images.containerfile.STEPS)
    steps: tuple[str, ...] = ()


#: every variant, in build order (parents first)
VARIANTS = (
    Variant(
        "base", None,
        "what the base's installer needs and the OS trust store, where the OS image lacks them",
        features=("base",), unless=("gzip", "sha256sum", "tar", "{ca_update}"),
        steps=("java", "base"),
    ),
    Variant(
        "ci", "base",
        "what CI jobs call: git, compilers for native sdists, patchelf for auditwheel",
        features=("ci",),
    ),
    Variant(
        "app_exec", "base",
        "an unprivileged appuser, who owns /app and the venv (RUN pip install works as him)",
        features=("app_exec",), unless=("useradd",), steps=("app_exec",),
    ),
    Variant(
        "gui", "base",
        "the run-time libraries of Qt (PyQt6 wheels): X11, xcb, GL/EGL, fonts, D-Bus",
        features=("gui",),
    ),
    Variant(
        "gui_ci", "gui",
        "ci's tools, a virtual display and screenshots: run_headless",
        features=("ci", "gui_ci"), steps=("run_headless",),
    ),
    Variant(
        "gui_app_exec", "gui",
        "an unprivileged appuser, who owns /app and the venv (RUN pip install works as him)",
        features=("app_exec",), unless=("useradd",), steps=("app_exec",),
    ),
)  # fmt: skip
VARIANT_NAMES = tuple(v.name for v in VARIANTS)
#: the features of packages.yaml, in the order the variants name them first
FEATURES = tuple(dict.fromkeys(f for v in VARIANTS for f in v.features))
IMAGE_ROOT = "/opt/acc-py"
IMAGE_VENV = IMAGE_ROOT + "/venvs/acc-py-venv"
#: the link to the image's base, next to base/<version>
INSTALLED = "installed"


def variant(name: str) -> Variant:
    """The row of variant ``name``; an unknown name is a :class:`UsageError`."""
    for v in VARIANTS:
        if v.name == name:
            return v
    raise UsageError(f"unknown image variant {name!r}; choose from {', '.join(VARIANT_NAMES)}")


def parent(name: str) -> str | None:
    """The variant ``name`` is built on (None for ``base``)."""
    return variant(name).parent


def check_variant(name: str) -> str:
    return variant(name).name


def repository(registry: str, os_name: str, variant: str, java: str | None = None) -> str:
    """``registry.cern.ch/acc/acc-py_el9_openjdk17_ci`` (``registry`` may be empty)."""
    parts = ["acc-py", os_name]
    if java:
        parts.append(java)
    if check_variant(variant) != "base":
        parts.append(variant)
    name = "_".join(parts)
    return f"{registry.rstrip('/')}/{name}" if registry else name


def tags(version: str, patch: int, pro: bool) -> tuple[str, ...]:
    """``("2023.06", "2023.06.1", "pro")``: every tag of one image."""
    return (version, f"{version}.{patch}", *(("pro",) if pro else ()))

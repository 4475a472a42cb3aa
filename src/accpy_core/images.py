"""Container image names, the one implementation: ``<registry>/acc-py_{os}[_{java}][_{variant}]``.

The variants are layered; :data:`VARIANTS` maps each to the one it is built on. ``base`` carries
no suffix: ``acc-py_el9:2023.06``, ``acc-py_el9_ci:2023.06``, ``acc-py_el9_openjdk17_gui_ci:…``.
Tags: ``<version>``, ``<version>.<patch>`` and, on the pro base, ``pro``. Inside every image the
base is ``/opt/acc-py/base/<version>`` (``installed`` points at it) and the venv that is active
by default is ``/opt/acc-py/venvs/acc-py-venv``.
"""

from __future__ import annotations

from .errors import UsageError

#: variant -> the variant it is built on (None: the OS image), in build order
VARIANTS = (
    ("base", None),
    ("ci", "base"),
    ("app_exec", "base"),
    ("gui", "base"),
    ("gui_ci", "gui"),
    ("gui_app_exec", "gui"),
)
VARIANT_NAMES = tuple(name for name, _ in VARIANTS)
IMAGE_ROOT = "/opt/acc-py"
IMAGE_VENV = IMAGE_ROOT + "/venvs/acc-py-venv"
#: the link to the image's base, next to base/<version>
INSTALLED = "installed"


def parent(variant: str) -> str | None:
    """The variant ``variant`` is built on (None for ``base``)."""
    return dict(VARIANTS)[check_variant(variant)]


def check_variant(variant: str) -> str:
    if variant not in VARIANT_NAMES:
        raise UsageError(
            f"unknown image variant {variant!r}; choose from {', '.join(VARIANT_NAMES)}"
        )
    return variant


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

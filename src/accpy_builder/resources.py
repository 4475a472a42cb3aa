"""What the builder reads besides versions.yaml, found through ``importlib.resources``.

So the builder works the same from a checkout and once installed (``pip install .``):

- the recipes, ``recipes/`` of the source tree, installed as the package data
  ``accpy_builder/recipes/`` (``pyproject.toml`` maps one onto the other);
- the packages every base carries (:mod:`accpy_core`, :mod:`acc_py_install`, :mod:`acc_py`):
  their source files, wherever this Python imports them from;
- the data files of those packages (the self-extractor's template).
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from accpy_core.errors import InjectError

RECIPES = "accpy_builder.recipes"


def recipe(name: str) -> Traversable:
    """The recipe file ``name`` (e.g. ``setup.sh.in``)."""
    return resources.files(RECIPES).joinpath(name)


def recipe_names() -> list[str]:
    """Every file among the recipes (sorted)."""
    return sorted(
        entry.name
        for entry in resources.files(RECIPES).iterdir()
        if entry.is_file() and not entry.name.startswith(("__init__", "."))
    )


def resource(package: str, name: str) -> str:
    """The text of the data file ``name`` of ``package``."""
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")


def package_dir(package: str) -> Path:
    """The directory the sources of ``package`` are imported from."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise InjectError(
            f"cannot find the package {package} to put it into the base; reinstall the builder "
            "(make venv, or pip install .)"
        )
    return Path(locations[0])

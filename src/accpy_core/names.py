"""The names every Acc-Py tool agrees on, and the one reader of a JSON-object file.

Light on purpose: it imports only :mod:`json` and :mod:`accpy_core.errors`, so that what runs
at a user's every command (``acc-py venv``) can use it; :mod:`accpy_core.layout` builds the
operations on an install root on top of it.
"""

from __future__ import annotations

import json

from .errors import AccPyError

#: typing.TYPE_CHECKING without importing typing at run time (mypy takes it as True)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Any

DEFAULT_ROOT = "/acc/local/share/python/acc-py"
ROOT_ENV = "ACC_PY_ROOT"
#: the directory of the bases under an install root
BASE_AREA = "base"
#: what a base is (version, patch, Python, platform, status, the site, the other bases)
METADATA_NAME = "ACC-PY.json"
#: every file of a base with its sha256 (accpy_core.record)
RECORD_NAME = "ACC-PY.RECORD"
#: the base's software bill of materials, CycloneDX JSON (also beside the tarball in dist/)
SBOM_NAME = "ACC-PY.cdx.json"
#: the site's CA certificates in a base (versions.yaml site.ca_certificates), base-relative
SITE_CA_FILE = "etc/ssl/acc-py-site-ca.pem"
#: the install root's lock (accpy_core.lock), a directory
LOCK_NAME = ".lock"
TARBALL_PREFIX = "acc-py-base"
#: the site's GitLab CI templates (ci-templates/ of this project, published as that GitLab
#: project): what `acc-py init-ci` includes and what acc-py-build ci-templates generates
CI_TEMPLATES_PROJECT = "acc-co/devops/python/acc-py-gitlab-ci-templates"
CI_TEMPLATES_REF = "v2"
CI_TEMPLATES_FILE = "v2/python.gitlab-ci.yml"
#: what an install root holds: bases under base/, the interactive environment's releases at
#: its top (<root>/2025.03, <root>/pro), each kind in tarballs of its own name
BASE_KIND = "base"
INTERACTIVE_KIND = "interactive"
KINDS = (BASE_KIND, INTERACTIVE_KIND)
TARBALL_PREFIXES = {BASE_KIND: TARBALL_PREFIX, INTERACTIVE_KIND: "acc-py-interactive"}
TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar.zst", ".tar")
#: hidden names an interrupted run leaves under base/ (layout.Layout.leftovers)
LEFTOVER_PREFIXES = (".staging-", ".trash-", ".download-")


def tree_name(version: str, patch: int) -> str:
    """``._2023.06.2``: the real tree of a patch release."""
    return f"._{version}.{patch}"


def tarball_stem(version: str, platform: str, kind: str = BASE_KIND) -> str:
    """``acc-py-base-2023.06-manylinux_2_28_x86_64``: the name of a base's artifacts
    (``acc-py-interactive-2025.03-...``: of an interactive release)."""
    return f"{TARBALL_PREFIXES[kind]}-{version}-{platform}"


def read_json_object(
    path: str | os.PathLike[str],
    error: type[AccPyError],
    hint: str,
    *,
    missing: str | None = None,
) -> dict[str, Any]:
    """The JSON object in ``path``; anything else raises ``error`` naming the file and ``hint``
    (``missing``: the message when there is no such file)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as exc:
        raise error(missing or f"{path} does not exist; {hint}") from exc
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}; {hint}") from exc
    except ValueError as exc:
        raise error(f"{path} is not valid JSON ({exc}); {hint}") from exc
    if not isinstance(data, dict):
        raise error(f"{path} is not a JSON object; {hint}")
    return data


#: the artifacts of one build in dist/, all named after its stem (:func:`tarball_stem`)
INSTALLER_SUFFIX = "-installer.sh"
SBOM_SUFFIX = ".cdx.json"
CHECKSUM_SUFFIX = ".sha256"
ARCHIVE_FORMATS = ("tar.gz", "tar.zst")


def tarball_name(stem: str, fmt: str = "tar.gz") -> str:
    """``<stem>.tar.gz`` (or ``.tar.zst``): a build's archive."""
    if fmt not in ARCHIVE_FORMATS:
        raise ValueError(f"archive format {fmt!r} is not one of {ARCHIVE_FORMATS}")
    return f"{stem}.{fmt}"


def installer_name(stem: str) -> str:
    """``<stem>-installer.sh``: a base's self-extracting installer."""
    return stem + INSTALLER_SUFFIX


def sbom_file_name(stem: str) -> str:
    """``<stem>.cdx.json``: a build's SBOM beside its archives (in the tree: SBOM_NAME)."""
    return stem + SBOM_SUFFIX


def checksum_name(name: str) -> str:
    """``<name>.sha256``: the sha256sum line of the file ``name``."""
    return name + CHECKSUM_SUFFIX


def stem_of(name: str) -> str:
    """The stem of an artifact's file name (``acc-py-base-2023.06-...-installer.sh`` ->
    ``acc-py-base-2023.06-...``); ValueError for a name that is none of a build's."""
    for suffix in (INSTALLER_SUFFIX, SBOM_SUFFIX, *("." + f for f in ARCHIVE_FORMATS)):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"{name!r} is not the name of a build's artifact")

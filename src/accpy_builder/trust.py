"""The certificate authorities the builder's own downloads trust.

A site's package index and interpreter mirror may use the site's own certificate authority
(``site.ca_certificates`` in versions.yaml, or ``--site-ca``). The builder then trusts the
machine's store (``SSL_CERT_FILE``, else OpenSSL's default file), the public roots (certifi) and
the site's certificates: one PEM bundle, written once per build, handed to pip (``--cert``), uv
(``SSL_CERT_FILE``) and httpx. Without site certificates nothing is written and every tool
keeps its own default.

A machine may point every tool at its own bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``,
``PIP_CERT``, ``SSL_CERT_FILE``, as some build hosts set for all processes). requests lets
``REQUESTS_CA_BUNDLE`` beat pip's ``--cert``, so :func:`tool_env` sets all of them to the
builder's bundle in the environment of the tools it runs.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from pathlib import Path

from accpy_core.fs import atomic_write


def _host_pem() -> str:
    """What this machine trusts: SSL_CERT_FILE, else OpenSSL's default file, and certifi's."""
    files = [os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile]
    try:
        import certifi

        files.append(certifi.where())
    except ImportError:  # pragma: no cover - httpx brings certifi
        pass
    texts = []
    for name in dict.fromkeys(f for f in files if f):
        try:
            texts.append(Path(name).read_text(encoding="ascii", errors="replace"))
        except OSError:
            continue
    return "".join(t if t.endswith("\n") else t + "\n" for t in texts)


def ca_bundle(site_pem: str, where: Path) -> Path | None:
    """The bundle the builder's downloads verify against, under ``where``; None when the site
    declares no CA of its own (each tool then uses its default)."""
    if not site_pem:
        return None
    text = _host_pem() + site_pem
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = where / f"ca-bundle-{digest}.pem"
    if not path.is_file():
        where.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text, 0o644, durable=False)
    return path


#: The variables through which pip, requests, uv and OpenSSL choose what they trust.
TRUST_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT")


def tool_env(cafile: Path | None) -> dict[str, str]:
    """The variables to add to a tool's environment so that it trusts ``cafile`` and nothing a
    machine's own variables name instead; nothing when there is no bundle."""
    return dict.fromkeys(TRUST_VARIABLES, str(cafile)) if cafile else {}


def ssl_context(cafile: Path | None) -> ssl.SSLContext:
    """A verifying client context: ``cafile`` when given, else the machine's defaults."""
    return ssl.create_default_context(cafile=str(cafile) if cafile else None)

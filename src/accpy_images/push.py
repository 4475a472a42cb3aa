"""Push built images to a registry with skopeo, every tag; report the digests."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from accpy_core.collector import LOOPBACK_HOSTS
from accpy_core.errors import UsageError

from . import engine
from .plan import ImagePlan

log = logging.getLogger(__name__)


def is_loopback(registry: str) -> bool:
    host = urlsplit("//" + registry).hostname or ""
    return host in LOOPBACK_HOSTS


def push(plan: ImagePlan, registry: str, *, tls_verify: bool | None = None) -> dict[str, str]:
    """Push every variant of ``plan`` (built already) as ``registry/<name>:<tag>`` for each of
    its tags; returns reference -> manifest digest. TLS is verified except on loopback."""
    verify = not is_loopback(registry) if tls_verify is None else tls_verify
    pushed: dict[str, str] = {}
    for v in plan.variants:
        if not engine.exists(v.ref):
            raise UsageError(f"{v.ref} is not built; run make images first (same VERSION/JAVA/OS)")
        for tag in v.tags:
            dest = f"{registry.rstrip('/')}/{v.name}:{tag}"
            digest = engine.skopeo_copy(engine.local(v.ref), f"docker://{dest}", tls_verify=verify)
            log.info("pushed %s@%s", dest, digest)
            pushed[dest] = digest
    return pushed

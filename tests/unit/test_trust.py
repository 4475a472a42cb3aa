"""What the builder's downloads trust: the site's CA beside the machine's, whatever variables a
build host sets for every process (REQUESTS_CA_BUNDLE beats pip's --cert in requests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from accpy_builder import packages, trust
from accpy_manifest import PackagePin

SITE_PEM = "-----BEGIN CERTIFICATE-----\nc2l0ZQ==\n-----END CERTIFICATE-----\n"


def test_no_site_ca_writes_nothing_and_changes_no_variable(tmp_path: Path) -> None:
    assert trust.ca_bundle("", tmp_path) is None
    assert trust.tool_env(None) == {}
    assert list(tmp_path.iterdir()) == []


def test_the_bundle_holds_the_machines_store_and_the_site(tmp_path: Path) -> None:
    bundle = trust.ca_bundle(SITE_PEM, tmp_path)
    assert bundle is not None
    text = bundle.read_text()
    assert text.endswith(SITE_PEM) and text.count("BEGIN CERTIFICATE") > 1
    assert trust.ca_bundle(SITE_PEM, tmp_path) == bundle  # written once


def test_pip_download_trusts_the_bundle_over_a_hosts_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "SSL_CERT_FILE"):
        monkeypatch.setenv(name, "/etc/ssl/certs/ca-certificates.crt")
    bundle = trust.ca_bundle(SITE_PEM, tmp_path)
    seen: dict[str, Any] = {}

    def run(cmd: list[str], *, env: dict[str, str], what: str) -> str:
        seen.update(cmd=cmd, env=env)
        return ""

    monkeypatch.setattr(packages, "run", run)
    pin = PackagePin("numpy", "1.24.3", ("sha256:" + "0" * 64,))
    with pytest.raises(packages.PackagesError, match="pip downloaded no wheel"):
        packages.fill_wheelhouse(
            [pin], python_version="3.11", platform="manylinux_2_28_x86_64",
            cache_dir=tmp_path / "cache", index_url="https://index.example/simple/",
            cafile=bundle,
        )  # fmt: skip
    assert seen["cmd"][seen["cmd"].index("--cert") + 1] == str(bundle)
    for name in trust.TRUST_VARIABLES:
        assert seen["env"][name] == str(bundle), name
    assert not any(
        k.startswith("PIP_")
        and k != "PIP_CERT"
        and k not in ("PIP_CONFIG_FILE", "PIP_NO_INPUT", "PIP_DISABLE_PIP_VERSION_CHECK")
        for k in seen["env"]
    )

"""The image plan, names, package lists and Containerfiles, without building anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT, base_tarball

import accpy_sbom as sbom
from accpy_core import images
from accpy_core.errors import ConfigError, ManifestError, SourceError, UsageError
from accpy_core.images import VARIANT_NAMES, repository, tags
from accpy_core.metadata import new_metadata
from accpy_images.containerfile import STEPS, render
from accpy_images.oslists import load_families
from accpy_images.plan import BaseArtifacts, VariantPlan, closure, find_base, make_plan
from accpy_manifest import load_manifest


def artifacts(tmp_path: Path, status: str = "pro") -> BaseArtifacts:
    installer = tmp_path / "acc-py-base-2023.06-manylinux_2_28_x86_64-installer.sh"
    installer.write_text("#!/bin/sh\n")
    checksum = installer.with_name(installer.name + ".sha256")
    checksum.write_text(f"{'ab' * 32}  {installer.name}\n")
    return BaseArtifacts(
        installer=installer, checksum=checksum, sbom=tmp_path / "x.cdx.json", version="2023.06",
        patch=2, status=status, python="3.11.7", platform="manylinux_2_28_x86_64",
        source_date_epoch=1685577600,
    )  # fmt: skip


def plan_for(tmp_path: Path, **kw: object):
    args: dict[str, object] = {
        "os_name": None, "variants": list(VARIANT_NAMES), "java": None, "from_ref": None,
        "registry": None, "work_dir": tmp_path / "build", "out_dir": tmp_path / "dist",
    }  # fmt: skip
    args.update(kw)
    return make_plan(load_manifest(PROJECT / "versions.yaml"), artifacts(tmp_path), **args)  # type: ignore[arg-type]


def test_names_follow_the_site_scheme() -> None:
    assert repository("r.cern.ch/acc-py", "el9", "base") == "r.cern.ch/acc-py/acc-py_el9"
    assert repository("r", "el9", "ci", "openjdk17") == "r/acc-py_el9_openjdk17_ci"
    assert repository("", "el9", "gui_app_exec") == "acc-py_el9_gui_app_exec"
    assert tags("2023.06", 2, pro=True) == ("2023.06", "2023.06.2", "pro")
    assert tags("2023.06", 1, pro=False) == ("2023.06", "2023.06.1")
    with pytest.raises(UsageError, match="unknown image variant 'gui-ci'"):
        repository("r", "el9", "gui-ci")


def test_names_are_those_of_acc_py_s_documentation(tmp_path: Path) -> None:
    """registry.cern.ch/acc/acc-py_{os}_{java}_{variant}:{version}, e.g. acc-py_el9:pro and
    acc-py_el9_ci:2023.06, from the committed versions.yaml (issue 18)."""
    plan = plan_for(tmp_path)
    assert f"{plan.variant('base').repository}:pro" == "registry.cern.ch/acc/acc-py_el9:pro"
    assert plan.variant("base").tags[-1] == "pro"
    assert plan.variant("ci").ref == "registry.cern.ch/acc/acc-py_el9_ci:2023.06.2"
    jobs = (PROJECT / "ci-templates" / "v2" / "jobs.gitlab-ci.yml").read_text()
    assert 'ACC_PY_IMAGE_REGISTRY: "registry.cern.ch/acc"' in jobs
    assert 'image: "${ACC_PY_IMAGE_REGISTRY}/acc-py_el9_ci:${ACC_PY_BASE_IMAGE_TAG}"' in jobs


def test_closure_brings_the_parents_in_build_order() -> None:
    assert closure(["gui_ci"]) == ["base", "gui", "gui_ci"]
    assert closure(["gui_app_exec", "ci"]) == ["base", "ci", "gui", "gui_app_exec"]
    assert closure(list(VARIANT_NAMES)) == list(VARIANT_NAMES)


def test_plan_takes_registry_and_os_from_versions_yaml(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    assert plan.os.name == "el9" and plan.family.name == "el"
    assert plan.from_ref == "gitlab-registry.cern.ch/linuxsupport/alma9-base:latest"
    assert plan.variant("base").ref == "registry.cern.ch/acc/acc-py_el9:2023.06.2"
    assert plan.variant("gui_ci").parent == "gui"
    other = plan_for(tmp_path, os_name="debian12", java="openjdk17", registry="127.0.0.1:5000/x")
    assert other.variant("ci").repository == "127.0.0.1:5000/x/acc-py_debian12_openjdk17_ci"
    assert other.java is not None and other.java.home.startswith("/usr/lib/jvm/")
    with pytest.raises(UsageError, match="OS=centos7 is not in"):
        plan_for(tmp_path, os_name="centos7")
    with pytest.raises(UsageError, match="JAVA=openjdk11 is not packaged for the debian family"):
        plan_for(tmp_path, os_name="debian12", java="openjdk11")


def test_both_families_list_every_feature() -> None:
    families = load_families()
    assert set(families) == {"el", "debian"}
    for fam in families.values():
        for feature in ("ci", "gui", "gui_ci", "base"):
            assert fam.features[feature], (fam.name, feature)
        assert "{packages}" in fam.install and fam.cache
        assert "openjdk17" in fam.java
    with pytest.raises(ConfigError, match=r"packages\.yaml: .*unknown"):
        load_families(
            "families:\n  x:\n    manager: m\n    install: i\n    query: q\n"
            "    purl: {type: deb, namespace: d}\n    features: {cii: [a]}\n"
        )


def test_containerfiles_read_as_recipes(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, os_name="debian12", java="openjdk17")
    base = render(plan, plan.variant("base"))
    assert base.splitlines()[5] == "FROM docker.io/library/debian:bookworm-slim"
    assert f'echo "{"ab" * 32}  /tmp/acc-py-installer.sh" | sha256sum -c -' in base
    assert "--installation-root /opt/acc-py" in base
    assert "ln -s 2023.06 /opt/acc-py/base/installed" in base
    assert "acc-py venv /opt/acc-py/venvs/acc-py-venv" in base
    assert "openjdk-17-jdk-headless" in base and "ENV JAVA_HOME=" in base
    assert "--mount=type=cache,target=/var/cache/apt " in base
    gui_ci = render(plan, plan.variant("gui_ci"))
    assert "FROM registry.cern.ch/acc/acc-py_debian12_openjdk17_gui:2023.06.2" in gui_ci
    assert "xvfb" in gui_ci and "gfortran" in gui_ci and "run_headless" in gui_ci
    app = render(plan, plan.variant("gui_app_exec"))
    assert "USER appuser" in app and 'ENTRYPOINT ["/usr/local/bin/acc-py-entrypoint"]' in app
    el = plan_for(tmp_path)
    el_ci = render(el, el.variant("ci"))
    assert "dnf install" in el_ci and "gcc-c++" in el_ci
    assert all(len(line) <= 100 for line in render(el, el.variant("gui")).splitlines())


def test_the_variant_table_is_the_one_place_of_a_variant() -> None:
    """Each row's parent comes before it, its steps exist, and each family lists its features:
    adding a variant is a row of images.VARIANTS and its packages in packages.yaml."""
    seen: set[str] = set()
    for v in images.VARIANTS:
        assert v.parent is None or v.parent in seen, v
        assert set(v.steps) <= set(STEPS), v
        seen.add(v.name)
    for fam in load_families().values():
        assert set(fam.features) == set(images.FEATURES)


def test_an_unknown_variant_is_an_error_not_a_default(tmp_path: Path) -> None:
    plan = plan_for(tmp_path)
    ghost = VariantPlan(variant="gui-ci", parent="gui", repository="r/x", tags=("a", "a.1"))
    with pytest.raises(UsageError, match="unknown image variant 'gui-ci'"):
        render(plan, ghost)


def test_find_base_reads_the_acc_py_json_of_the_tarball(tmp_path: Path) -> None:
    """What the images say of their base comes from the ACC-PY.json of its tarball, through
    the one reader; the SBOM must be there too (it is copied into each image)."""
    assert find_base(tmp_path, "2023.06") is None
    a = artifacts(tmp_path)
    assert find_base(tmp_path, "2023.06") is None  # found by its tarball, which is not there
    metadata = new_metadata(
        "base", release="2023.06.2", version="2023.06", patch=2, python="3.11.7",
        platform="manylinux_2_28_x86_64", status="pro", source_date_epoch=1685577600,
        packages=[{"name": "numpy", "version": "1.24.3", "wheel": "n.whl", "sha256": "cd" * 32}],
    )  # fmt: skip
    stem = a.installer.name.removesuffix("-installer.sh")
    base_tarball(tmp_path / f"{stem}.tar.gz", "2023.06", metadata.dumps().encode())
    with pytest.raises(SourceError, match=r"\.cdx\.json is missing"):
        find_base(tmp_path, "2023.06")
    text = sbom.dumps(sbom.base_bom(metadata))
    (tmp_path / f"{stem}.cdx.json").write_text(text)
    found = find_base(tmp_path, "2023.06")
    assert found is not None and (found.patch, found.status) == (2, "pro")
    assert (found.python, found.source_date_epoch) == ("3.11.7", 1685577600)
    assert sbom.dumps(sbom.base_bom(metadata)) == text  # the same inputs, the same SBOM


def test_manifest_site_images_errors_name_the_line(tmp_path: Path) -> None:
    text = (PROJECT / "versions.yaml").read_text()
    bad = tmp_path / "versions.yaml"
    bad.write_text(text.replace("family: el\n", "family: rhel\n", 1))
    with pytest.raises(ManifestError, match=r"versions.yaml:\d+: site.images.os.el9.family 'rhel'"):
        load_manifest(bad)

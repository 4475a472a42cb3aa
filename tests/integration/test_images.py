"""The container images, built for real: six variants of 2023.06 (adopted base) on a Debian 12
OS image made here with mmdebstrap, with buildah in a containers-storage of the session.

Commands run in the images through ``acc-py-images run`` (buildah run --isolation chroot), as
``podman run`` cannot start containers on these machines. Users' Containerfiles build FROM the
images with buildah, their RUN steps reaching the loopback site index.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BASE_VERSION, PROJECT, build_cache
from servers import Index, TestCA, container_registry, free_port, make_ca, tls_front

from accpy_images import engine

from .test_acc_py import make_wheel, pypi_wheels

OS = "debian12"
REGISTRY = "registry.cern.ch/acc"  # versions.yaml's site.images.registry
TAGS = (BASE_VERSION, f"{BASE_VERSION}.1", "pro")
VARIANTS = ("base", "ci", "app_exec", "gui", "gui_ci", "gui_app_exec")
#: what the gui_ci and Java tests install from the site index (downloaded once from PyPI)
INDEX_WHEELS = (
    "PyQt6==6.8.1",
    "PyQt6-Qt6==6.8.2",
    "PyQt6-sip==13.13.0",
    "JPype1==1.5.2",
    "packaging==26.4",
)


def name(variant: str, java: str | None = None) -> str:
    parts = ["acc-py", OS, *([java] if java else []), *([] if variant == "base" else [variant])]
    return "_".join(parts)


def ref(variant: str, tag: str = BASE_VERSION, java: str | None = None) -> str:
    return f"{REGISTRY}/{name(variant, java)}:{tag}"


def images_cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accpy_images.cli", *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def run_in(image: str, script: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``script`` by sh in ``image`` (the image's environment, user and working directory)."""
    return images_cli("run", *extra, image, "sh", "-c", script, timeout=600)


def buildah(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildah", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def user_build(context: Path, containerfile: str, tag: str) -> None:
    """A user's ``buildah build`` of ``containerfile``, as the README tells them to."""
    (context / "Containerfile").write_text(containerfile)
    proc = buildah(
        "build", "--isolation", "chroot", "--network", "host", "--pull=false", "-t", tag,
        str(context),
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


@dataclass(frozen=True)
class Images:
    dist: Path  # the base's dist/ with images/ in it
    work: Path
    os_image: str
    made: subprocess.CompletedProcess[str]  # make images
    rows: list[dict[str, object]]  # dist/images/images-*.json

    def make(self, *args: str) -> subprocess.CompletedProcess[str]:
        return make_images(self, *args)


def make_images(images: Images | None, *args: str, dist: Path | None = None, **kw: str):
    assert images is not None or dist is not None
    d = dist or images.dist  # type: ignore[union-attr]
    w = images.work if images else d.parent / "build"
    frm = kw.get("from_ref") or (images.os_image if images else "")
    return subprocess.run(
        [
            "make", "--no-print-directory", "-C", str(PROJECT), *args, f"VERSION={BASE_VERSION}",
            f"OS={OS}", f"FROM={frm}", f"DIST_DIR={d}", f"WORK_DIR={w}",
        ],
        capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A containers-storage of the session (overlay), for every buildah and skopeo call."""
    root = tmp_path_factory.mktemp("containers")
    conf = root / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n'
    )
    old = os.environ.get("CONTAINERS_STORAGE_CONF")
    os.environ["CONTAINERS_STORAGE_CONF"] = str(conf)
    try:
        yield root
    finally:
        buildah("rm", "--all")
        buildah("rmi", "--all", "--force")
        subprocess.run(["umount", "-R", f"{root}/graph/overlay"], capture_output=True, check=False)
        shutil.rmtree(root / "graph", ignore_errors=True)
        if old is None:
            del os.environ["CONTAINERS_STORAGE_CONF"]
        else:
            os.environ["CONTAINERS_STORAGE_CONF"] = old


@pytest.fixture(scope="module")
def os_image(storage: Path) -> str:
    """A minimal Debian 12 OS image (mmdebstrap, cached as a tarball), imported into storage."""
    tar = build_cache() / "images" / "debian12-minbase-plain.tar"
    if not tar.exists():
        tar.parent.mkdir(parents=True, exist_ok=True)
        part = tar.with_suffix(".part")
        proc = subprocess.run(
            # minbase, as debian:bookworm-slim: no CA store (the base variant brings one)
            ["mmdebstrap", "--variant=minbase", "--format=tar", "bookworm", str(part)],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        part.replace(tar)
    image = "localhost/acc-py-test/debian12:minbase"
    engine.import_tarball(tar, image)
    return image


@pytest.fixture(scope="module")
def index_wheels(site_index: Index) -> Index:
    """PyQt6 and JPype1 wheels from PyPI, served by the site index."""
    cache = build_cache() / "image-wheels"
    proc = subprocess.run(
        [
            # the Python running the tests is the one the base adopted
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "-d", str(cache), *INDEX_WHEELS,
        ],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    for wheel in cache.glob("*.whl"):
        shutil.copy2(wheel, site_index.root / wheel.name)
    return site_index


@pytest.fixture(scope="module")
def images(base_dist: Path, os_image: str, tmp_path_factory: pytest.TempPathFactory) -> Images:
    """``make images`` of all six variants, once per session."""
    top = tmp_path_factory.mktemp("images")
    dist = top / "dist"
    dist.mkdir()
    for f in base_dist.iterdir():
        os.link(f, dist / f.name)
    made = make_images(None, "images", dist=dist, from_ref=os_image)
    assert made.returncode == 0, (made.stdout + made.stderr)[-4000:]
    rows = json.loads((dist / "images" / f"images-{BASE_VERSION}-{OS}.json").read_text())
    return Images(dist, top / "build", os_image, made, rows)


# -- the six variants -------------------------------------------------------------------------

PROBE = r"""
set -e
python - <<'EOF'
import json, os, sys
import numpy, scipy
print(json.dumps({
    "executable": sys.executable, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
    "numpy": numpy.__version__, "venv": os.environ.get("VIRTUAL_ENV"),
    "user": os.getuid(), "cwd": os.getcwd(),
}))
EOF
python -m pip config list
readlink -f /opt/acc-py/base/installed
bash -lc 'command -v python'
test -s /opt/acc-py/sbom.cdx.json && echo sbom-ok
python -c 'import ssl; print("ca", ssl.create_default_context().cert_store_stats()["x509_ca"])'
grep -c "$ACC_PY_TEST_CA" /etc/ssl/certs/ca-certificates.crt | sed 's/^/site-ca /'
"""


def test_make_images_builds_six_variants(images: Images) -> None:
    assert [r["variant"] for r in images.rows] == list(VARIANTS)
    for row in images.rows:
        assert row["tags"] == list(TAGS)
        archive = Path(str(row["archive"]))
        variant = str(row["variant"])
        assert archive == images.dist / "images" / f"{name(variant)}_{BASE_VERSION}.oci.tar"
        with tarfile.open(archive) as tf:  # an OCI layout: index.json, oci-layout, blobs/
            assert {"index.json", "oci-layout"} <= set(tf.getnames())
    for variant in VARIANTS:
        for tag in TAGS:
            assert buildah("inspect", "--type", "image", ref(variant, tag)).returncode == 0
    assert "[6/6]" in images.made.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_has_the_base_and_the_venv_active(
    images: Images, variant: str, test_ca: TestCA
) -> None:
    """The base, the venv, the SBOM; and the OS trust store (the Debian OS image has none of
    its own), with the site's CA in it, which python's default context loads (issue 18)."""
    body = test_ca.cert.read_text().splitlines()[1]  # a line of the CA's certificate
    proc = run_in(ref(variant), PROBE, "-e", f"ACC_PY_TEST_CA={body}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    facts = json.loads(lines[0])
    venv = "/opt/acc-py/venvs/acc-py-venv"
    assert facts["executable"] == f"{venv}/bin/python"
    assert facts["prefix"] == venv and facts["venv"] == venv
    assert facts["base_prefix"].startswith("/opt/acc-py/base/")
    assert facts["numpy"] == "1.24.3"
    assert any("index-url" in line and "localhost" in line for line in lines)  # the site index
    assert f"/opt/acc-py/base/._{BASE_VERSION}.1" in lines
    assert f"{venv}/bin/python" in lines  # a login shell (the profile) has it too
    assert "sbom-ok" in lines
    cas = next(line for line in lines if line.startswith("ca "))
    assert int(cas.split()[1]) > 100, cas  # Mozilla's roots and the site's
    assert "site-ca 1" in lines
    app = variant.endswith("app_exec")
    assert (facts["user"] != 0, facts["cwd"] == "/app" if app else True) == (app, True)
    labels = json.loads(buildah("inspect", "--type", "image", ref(variant)).stdout)
    config = labels["OCIv1"]["config"]
    assert config["Labels"]["acc-py.sbom"] == "/opt/acc-py/sbom.cdx.json"
    assert config["Labels"]["acc-py.variant"] == variant


def test_usage_hook_reports_to_the_collector_set_at_run_time(images: Images) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(60)
        port = sock.getsockname()[1]
        env = f"ACC_PY_USAGE_COLLECTOR=127.0.0.1:{port}"
        proc = run_in(ref("app_exec"), "python -c pass", "-e", env)
        assert proc.returncode == 0, proc.stderr
        record = json.loads(sock.recv(65536))
    assert record["base"] == BASE_VERSION and record["user"] in ("appuser", None)
    assert record["venv"] == "/opt/acc-py/venvs/acc-py-venv"
    assert record["exe"] == "/opt/acc-py/venvs/acc-py-venv/bin/python"


def test_variants_share_their_layers(images: Images) -> None:
    def layers(variant: str) -> list[str]:
        data = json.loads(buildah("inspect", "--type", "image", ref(variant)).stdout)
        return list(data["OCIv1"]["rootfs"]["diff_ids"])

    base = layers("base")
    for variant in VARIANTS[1:]:
        assert layers(variant)[: len(base)] == base, variant
    assert layers("gui_ci")[: len(layers("gui"))] == layers("gui")


def test_sbom_lists_base_and_os_packages(images: Images, base_dist: Path) -> None:
    proc = run_in(ref("gui"), "cat /opt/acc-py/sbom.cdx.json")
    sbom = json.loads(proc.stdout)
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    purls = {c["purl"]: c for c in sbom["components"]}
    numpy = purls["pkg:pypi/numpy@1.24.3"]
    assert numpy["hashes"][0]["alg"] == "SHA-256" and len(numpy["hashes"][0]["content"]) == 64
    assert any(p.startswith("pkg:deb/debian/libc6@") for p in purls)
    assert any(p.startswith("pkg:deb/debian/libxkbcommon0@") for p in purls)  # gui's own
    # the base's SBOM is in its tarball and beside it, the same file
    (tarball,) = base_dist.glob("*.tar.gz")
    with tarfile.open(tarball) as tf:
        member = tf.extractfile(f"{BASE_VERSION}/ACC-PY.cdx.json")
        assert member is not None
        inside = member.read().decode()
    (beside,) = base_dist.glob("*.cdx.json")
    assert inside == beside.read_text()
    assert "pkg:pypi/scipy@" in inside


def test_base_digest_is_reproducible(images: Images) -> None:
    first = next(r for r in images.rows if r["variant"] == "base")
    assert buildah("rmi", "--force", *(ref("base", t) for t in TAGS)).returncode == 0
    proc = images_cli(
        "build", BASE_VERSION, "--variants", "base", "--os", OS, "--from", images.os_image,
        "--dist-dir", str(images.dist), "--work-dir", str(images.work), "--no-archive",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads(buildah("inspect", "--type", "image", ref("base")).stdout)
    assert again["FromImageID"] == first["id"]
    assert again["FromImageDigest"] == first["digest"]


# -- users' images ----------------------------------------------------------------------------


def test_pip_install_in_a_run_step_from_ci(
    images: Images, site_index: Index, tmp_path: Path
) -> None:
    make_wheel(site_index.root, "accpy_imagedep", "1.0", {"accpy_imagedep.py": "X = 41\n"})
    user_build(
        tmp_path,
        f"FROM {ref('ci')}\n"
        "RUN python -m pip install accpy_imagedep && gcc --version && git --version\n",
        "localhost/user/ci-app:1",
    )
    proc = run_in(
        "localhost/user/ci-app:1", "python -c 'import accpy_imagedep as m; print(m.X + 1)'"
    )
    assert proc.stdout.strip() == "42", proc.stderr
    assert any("accpy-imagedep" in r or "accpy_imagedep" in r for r in site_index.requests)


def test_ci_templates_jobs_start_in_the_ci_image(images: Images, tmp_path: Path) -> None:
    """The CI templates' job set-up (.acc_py_run_on_acc_py's before_script), run in the ci image
    as GitLab runs it there: the base checked, a fresh venv of it active."""
    from gitlab import expand, load_templates

    project = tmp_path / "project"
    project.mkdir()
    made = run_in(ref("ci"), "cd /project && acc-py init-ci", "-v", f"{project}:/project")
    assert made.returncode == 0, made.stdout + made.stderr
    jobs = load_templates()
    job = jobs[".acc_py_run_on_acc_py"]
    assert job["image"] == "${ACC_PY_IMAGE_REGISTRY}/acc-py_el9_ci:${ACC_PY_BASE_IMAGE_TAG}"
    python = ".".join(sys.version.split(".")[:2])  # the test base's: the interpreter adopted
    script = "\n".join(
        [
            "set -e",
            f"export CI_PROJECT_DIR=/project ACC_PY_BASE_IMAGE_TAG={BASE_VERSION}",
            f"export PY_VERSION={python}",
            *expand(jobs, job["before_script"]),
            "python -c 'import sys, numpy; print(sys.prefix)'",
        ]
    )
    proc = run_in(ref("ci"), f"bash -c {shlex.quote(script)}", "-v", f"{project}:/project")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("/project/.acc-py-ci/venv")


def test_app_exec_runs_an_app_as_appuser(images: Images, site_index: Index, tmp_path: Path) -> None:
    make_wheel(
        site_index.root, "accpy_exitapp", "1.0",
        {"accpy_exitapp.py": "import getpass, sys\nprint(getpass.getuser())\nsys.exit(3)\n"},
    )  # fmt: skip
    user_build(
        tmp_path,
        f"FROM {ref('app_exec')}\n"
        "RUN python -m pip install accpy_exitapp\n"
        'CMD ["python", "-m", "accpy_exitapp"]\n',
        "localhost/user/exit-app:1",
    )
    proc = images_cli("run", "localhost/user/exit-app:1")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.strip() == "appuser"


def test_the_documented_app_exec_containerfile_installs_over_https(
    images: Images, site_index: Index, tmp_path: Path
) -> None:
    """The application image of Acc-Py's documentation, word for word, against the site index
    over https with the site's own CA (its RUN steps failed with CERTIFICATE_VERIFY_FAILED)."""
    make_wheel(site_index.root, "accpy_docdep", "1.0", {"accpy_docdep.py": "ANSWER = 42\n"})
    app = tmp_path / "app"
    (app / "my_accelerator_app").mkdir(parents=True)
    (app / "requirements.txt").write_text("accpy_docdep==1.0\n")
    (app / "my_accelerator_app" / "__init__.py").write_text("")
    (app / "my_accelerator_app" / "__main__.py").write_text(
        "import accpy_docdep\nprint('answer', accpy_docdep.ANSWER)\n"
    )
    (app / "pyproject.toml").write_text(
        '[project]\nname = "my-accelerator-app"\nversion = "1.0"\n'
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
    )
    for wheel in pypi_wheels():  # the build backend, for `pip install /app/`
        if not (site_index.root / wheel.name).exists():
            shutil.copy2(wheel, site_index.root / wheel.name)
    documented = (
        f"FROM {ref('app_exec')}\n"
        "COPY requirements.txt /app/\n"
        "RUN python -m pip install --no-cache-dir -r /app/requirements.txt\n"
        "COPY . /app/\n"
        "RUN python -m pip install --no-deps /app/\n"
        "USER appuser\n"
        "WORKDIR /app\n"
        'CMD ["python", "-m", "my_accelerator_app"]\n'
    )
    user_build(app, documented, "localhost/user/accelerator-app:1")
    proc = images_cli("run", "localhost/user/accelerator-app:1")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "answer 42"


OS_WAY = r"""
set -e
try() { python -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=30)' "$1"; }
get() { python -m pip download -q --no-deps --no-index --find-links "$URL" -d /tmp/got "$1"; }
try "$URL" 2>&1 | tail -1 || true
get accpy_osway 2>&1 | tail -1 || true
cp /ca/ca.pem /usr/local/share/ca-certificates/my-own-ca.crt
update-ca-certificates >/dev/null
try "$URL" && echo urllib-ok
get accpy_osway && ls /tmp/got
"""


def test_a_ca_added_the_os_way_is_trusted_by_python_and_pip(images: Images, tmp_path: Path) -> None:
    """A CA that neither the site nor Mozilla knows: refused, then added the OS way
    (update-ca-certificates) and trusted by python and pip, in the base image as an admin
    would do it in a Containerfile."""
    ca = make_ca(tmp_path / "own-ca")
    served = tmp_path / "served"
    served.mkdir()
    make_wheel(served, "accpy_osway", "1.0", {"accpy_osway.py": ""})
    port = free_port()
    http = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=served, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with tls_front(f"127.0.0.1:{port}", ca, tmp_path / "nginx") as https:
            url = f"https://localhost:{https}/"
            proc = run_in(ref("base"), OS_WAY, "-e", f"URL={url}", "-v", f"{ca.cert.parent}:/ca")
    finally:
        http.kill()
        http.wait()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("CERTIFICATE_VERIFY_FAILED") >= 1  # before: refused
    assert "urllib-ok" in out and "accpy_osway-1.0-py3-none-any.whl" in out


def test_every_engine_call_uses_one_store(images: Images, tmp_path: Path) -> None:
    """A store the user configured (CONTAINERS_STORAGE_CONF, vfs) whose podman database was
    first made with another driver: `make images` used to build with buildah into one store and
    inspect with podman in another ("image not known"); every call now names one store."""
    root = tmp_path / "store"
    conf = tmp_path / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n'
    )
    env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}
    first = subprocess.run(["podman", "--storage-driver", "overlay", "images"], env=env,
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert first.returncode == 0, first.stderr  # the database now says overlay
    tar = build_cache() / "images" / "debian12-minbase-plain.tar"
    imported = subprocess.run(
        [sys.executable, "-c", "import sys; from accpy_images import engine; "
         "from pathlib import Path; engine.import_tarball(Path(sys.argv[1]), sys.argv[2])",
         str(tar), "localhost/acc-py-test/debian12:vfs"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    dist = tmp_path / "dist"
    dist.mkdir()
    for f in images.dist.iterdir():
        if f.is_file():
            os.link(f, dist / f.name)
    made = subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT), "images", f"VERSION={BASE_VERSION}",
         f"OS={OS}", "FROM=localhost/acc-py-test/debian12:vfs", "VARIANTS=base",
         f"DIST_DIR={dist}", f"WORK_DIR={tmp_path / 'build'}"],
        env=env, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    try:
        assert made.returncode == 0, (made.stdout + made.stderr)[-3000:]
        (row,) = json.loads((dist / "images" / f"images-{BASE_VERSION}-{OS}.json").read_text())
        assert row["size"] > 100 * 2**20
        listed = subprocess.run(
            ["buildah", "--storage-driver", "vfs", "images", "--format", "{{.Name}}"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert f"{REGISTRY}/{name('base')}" in listed.stdout
        assert (root / "graph" / "vfs-images").is_dir()
    finally:
        subprocess.run(["buildah", "--storage-driver", "vfs", "rmi", "--all", "--force"], env=env,
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def test_entrypoint_passes_signals_and_exit_codes(tmp_path: Path) -> None:
    """acc-py-entrypoint as PID-1 stand-in: a SIGTERM reaches the app; its code comes back."""
    entry = PROJECT / "src" / "accpy_images" / "files" / "entrypoint.py"
    app = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(entry), sys.executable, "-c", app], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42
    killed = subprocess.run(
        [sys.executable, str(entry), "sh", "-c", "kill -KILL $$"], timeout=30, check=False
    )
    assert killed.returncode == 128 + signal.SIGKILL
    missing = subprocess.run([sys.executable, str(entry), "no-such-command"], check=False)
    assert missing.returncode == 127


SHOW = """
import subprocess, sys
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication, QLabel

app = QApplication(sys.argv)
label = QLabel("Acc-Py")
label.setStyleSheet("background: #c00000; color: white; font-size: 64px")
label.resize(800, 600)
label.move(0, 0)
label.show()

def shoot():
    subprocess.run(["import", "-display", sys.argv[1], "-window", "root", "/out/shot.png"],
                   check=True)
    app.quit()

QTimer.singleShot(3000, shoot)  # mapped and painted by then, even on a busy machine
sys.exit(app.exec())
"""


def test_gui_ci_runs_a_pyqt6_window_headless(
    images: Images, index_wheels: Index, tmp_path: Path
) -> None:
    (tmp_path / "show.py").write_text(SHOW)
    user_build(
        tmp_path,
        f"FROM {ref('gui_ci')}\n"
        "RUN python -m pip install PyQt6==6.8.1\n"
        "COPY show.py /srv/show.py\n",
        "localhost/user/qt-app:1",
    )
    out = tmp_path / "out"
    out.mkdir()
    proc = run_in(
        "localhost/user/qt-app:1", "run_headless 'python /srv/show.py \"$DISPLAY\"'",
        "-v", f"{out}:/out",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    import matplotlib.image

    pixels = matplotlib.image.imread(out / "shot.png")
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 800
    assert pixels.std() > 0.05  # not blank: the red window on the black root
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.2)
    assert red.mean() > 0.2
    assert run_in(ref("gui_ci"), "run_headless 'exit 7'").returncode == 7
    # the display is gone afterwards
    assert "X99" not in run_in(ref("gui_ci"), "run_headless 'true'; ls /tmp/.X11-unix").stdout


def test_java_variant_runs_a_jvm_from_python(
    images: Images, index_wheels: Index, tmp_path: Path
) -> None:
    made = images.make("images", "VARIANTS=base", "JAVA=openjdk17")
    assert made.returncode == 0, (made.stdout + made.stderr)[-4000:]
    java_ref = ref("base", java="openjdk17")
    assert java_ref.endswith("/acc-py_debian12_openjdk17:2023.06")
    version = run_in(java_ref, "java -version 2>&1")
    assert version.returncode == 0 and "17." in version.stdout, version.stdout + version.stderr
    user_build(
        tmp_path,
        f"FROM {java_ref}\nRUN python -m pip install JPype1==1.5.2\n",
        "localhost/user/java-app:1",
    )
    start = (
        "import jpype; jpype.startJVM(); "
        "print(jpype.JClass('java.lang.System').getProperty('java.version'))"
    )
    proc = run_in("localhost/user/java-app:1", f'python -c "{start}"')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().startswith("17.")


def test_push_and_pull_by_digest(images: Images, tmp_path: Path) -> None:
    with container_registry(tmp_path / "registry") as reg:
        pushed = images.make("push", "VARIANTS=base", f"REGISTRY={reg.host}/acc-py")
        assert pushed.returncode == 0, (pushed.stdout + pushed.stderr)[-3000:]
        lines = [line for line in pushed.stdout.splitlines() if line.startswith(reg.host)]
        digests = {line.split("@")[0]: line.split("@")[1] for line in lines}
        assert set(digests) == {f"{reg.host}/acc-py/acc-py_{OS}:{t}" for t in TAGS}
        digest = digests[f"{reg.host}/acc-py/acc-py_{OS}:{BASE_VERSION}"]
        layout = tmp_path / "pulled"
        pulled = subprocess.run(
            [
                "skopeo", "copy", "--quiet", "--src-tls-verify=false",
                f"docker://{reg.host}/acc-py/acc-py_{OS}@{digest}", f"oci:{layout}:pulled",
            ],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert pulled.returncode == 0, pulled.stderr
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    assert manifest_digest == digest
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    local = json.loads(buildah("inspect", "--type", "image", ref("base")).stdout)
    assert manifest["config"]["digest"] == f"sha256:{local['FromImageID']}"


def test_make_images_builds_the_base_when_dist_lacks_it(tmp_path: Path) -> None:
    dry = make_images(None, "-n", "images", dist=tmp_path / "empty-dist", from_ref="x")
    assert dry.returncode == 0, dry.stderr
    assert "acc-py-build base 2023.06" in dry.stdout
    assert dry.stdout.index("acc-py-build base") < dry.stdout.index("acc-py-images build")


def test_errors_are_one_line(images: Images) -> None:
    wrong = images_cli(
        "build", BASE_VERSION, "--os", OS, "--java", "openjdk11", "--dist-dir", str(images.dist)
    )
    assert (
        wrong.returncode == 2 and "openjdk11 is not packaged for the debian family" in wrong.stderr
    )
    assert len(wrong.stderr.strip().splitlines()) == 1
    none = images_cli("build", "2024.12", "--dist-dir", str(images.dist))
    assert none.returncode == 10 and "make base VERSION=2024.12" in none.stderr
    bad = images_cli("build", BASE_VERSION, "--variants", "gui,cli", "--dist-dir", str(images.dist))
    assert bad.returncode == 2 and "unknown image variant 'cli'" in bad.stderr


def test_from_an_oci_archive(images: Images, tmp_path: Path) -> None:
    """FROM= takes any reference buildah understands: here the OS image as an OCI archive."""
    archive = tmp_path / "os.oci.tar"
    copied = subprocess.run(
        ["skopeo", "copy", "--quiet", f"containers-storage:{images.os_image}",
         f"oci-archive:{archive}:os"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    proc = images_cli(
        "build", BASE_VERSION, "--variants", "base", "--os", OS, "--from", f"oci-archive:{archive}",
        "--registry", "localhost/from-archive", "--dist-dir", str(images.dist),
        "--work-dir", str(tmp_path / "build"), "--no-archive",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    image = f"localhost/from-archive/acc-py_{OS}:{BASE_VERSION}"
    data = json.loads(buildah("inspect", "--type", "image", image).stdout)
    labels = data["OCIv1"]["config"]["Labels"]
    assert labels["org.opencontainers.image.base.name"] == f"oci-archive:{archive}"
    assert run_in(image, "python -c 'import scipy'").returncode == 0

"""``acc-py init-ci``: a ``.gitlab-ci.yml`` for the project in the current directory.

Jobs: lint (ruff), build (sdist + wheel, a binary wheel repaired to the base's manylinux tag
with auditwheel), one test job per supported base of the manifest (every base that is not
deprecated), docs (Sphinx, when docs/conf.py exists) and publish (twine to the site's index, on
a git tag only).

Images: ``<registry>/acc-py_<os>_<variant>:<base version>``, the Acc-Py images with that base
active: registry ``registry.cern.ch/acc`` (``--registry``), os ``cc7`` for a base built for glibc
2.17, ``el9`` otherwise, variant ``base`` (``--variant gui`` for Qt/X11 test jobs).
"""
import os
import sys

from ._base import RefusedError

HELP = "write .gitlab-ci.yml: tests on every supported base, lint, build, docs, publish on tag"
REGISTRY = "registry.cern.ch/acc"
FILENAME = ".gitlab-ci.yml"


def configure_parser(sub):
    p = sub.add_parser("init-ci", help=HELP, description=HELP + ". Images are "
                       "<registry>/acc-py_<os>_<variant>:<base version>.")
    p.add_argument("--force", action="store_true", help="overwrite an existing .gitlab-ci.yml")
    p.add_argument("--registry", default=REGISTRY,
                   help="container registry of the Acc-Py images (default: %(default)s)")
    p.add_argument("--variant", default="base",
                   help="image variant: base, or gui for tests that need X11/Qt "
                   "(default: %(default)s)")
    p.set_defaults(func=execute)


def image_os(platform):
    """cc7 for manylinux2014 (glibc 2.17) bases, el9 for the newer ones."""
    parts = (platform or "").split("_")
    try:
        glibc = (int(parts[1]), int(parts[2]))
    except (IndexError, ValueError):
        return "el9"
    return "cc7" if glibc <= (2, 17) else "el9"


def supported_bases(base):
    """The manifest's bases that are not deprecated, oldest first (the current one if alone)."""
    rows = [b for b in base.bases if b.get("status") != "deprecated"]
    if not rows:
        rows = [{"version": base.version, "platform": base.site.get("platform"),
                 "status": base.site.get("status")}]
    return sorted(rows, key=lambda b: b["version"])


def image(registry, b, variant):
    return "%s/acc-py_%s_%s:%s" % (registry.rstrip("/"), image_os(b.get("platform")), variant,
                                   b["version"])


def pipeline(base, registry=REGISTRY, variant="base"):
    """The pipeline as nested lists and (ordered) dicts of strings."""
    bases = supported_bases(base)
    pro = [b for b in bases if b.get("status") == "pro"] or [bases[-1]]
    pro = pro[0]
    root = base.site.get("install_root") or "/acc/local/share/python/acc-py"
    index = base.index_url()
    publish_url = index[: -len("simple/")] if index.endswith("/simple/") else index
    setup = [
        'source "%s/base/${ACC_PY_BASE_VERSION}/setup.sh"' % root,
        'acc-py venv "${CI_PROJECT_DIR}/venv"',
        'source "${CI_PROJECT_DIR}/venv/bin/activate"',
    ]

    def job(stage, b, script, extra_vars=(), **extra):
        j = [("stage", stage), ("image", image(registry, b, variant)),
             ("variables", [("ACC_PY_BASE_VERSION", b["version"])] + list(extra_vars)),
             ("before_script", setup), ("script", script)]
        j.extend(sorted(extra.items()))
        return j

    plat = pro.get("platform") or "manylinux_2_28_x86_64"
    jobs = [
        ("stages", ["lint", "build", "test", "docs", "publish"]),
        ("variables", [("PIP_DISABLE_PIP_VERSION_CHECK", "1"),
                       ("ACC_PY_PUBLISH_URL", publish_url)]),
        ("lint", job("lint", pro, [
            "python -m pip install ruff",
            "ruff check .",
            "ruff format --check .",
        ])),
        ("build", job("build", pro, [
            "python -m pip install build auditwheel",
            "python -m build --outdir dist .",
            # a compiled wheel is tagged linux_x86_64: repair it to the base's manylinux tag
            "for w in dist/*-linux_x86_64.whl; do if [ -f \"$w\" ]; then "
            "auditwheel repair --plat %s -w dist \"$w\" && rm \"$w\"; fi; done" % plat,
        ], artifacts=[("paths", ["dist/"]), ("expire_in", "1 week")])),
    ]
    for b in bases:
        jobs.append(("test:%s" % b["version"], job("test", b, [
            'python -m pip install ".[test]"',
            "python -m pytest",
        ], needs=[])))
    jobs.append(("docs", job("docs", pro, [
        'python -m pip install ".[doc]"',
        "python -m sphinx -b html docs public",
    ], rules=[[("exists", ["docs/conf.py"])]],
        artifacts=[("paths", ["public/"])])))
    jobs.append(("publish", job("publish", pro, [
        "python -m pip install twine",
        'python -m twine upload --non-interactive --repository-url "${ACC_PY_PUBLISH_URL}" '
        "dist/*",
    ], extra_vars=[  # credentials: the project's masked CI/CD variables
        ("TWINE_USERNAME", "${ACC_PY_PUBLISH_USER}"),
        ("TWINE_PASSWORD", "${ACC_PY_PUBLISH_PASSWORD}"),
    ], rules=[[("if", "$CI_COMMIT_TAG")]], needs=["build"])))
    return jobs


def _scalar(s):
    return "'" + str(s).replace("'", "''") + "'"


def _key(k):
    plain = k and all(c.isalnum() or c in "_-." for c in k)
    return k if plain else _scalar(k)


def to_yaml(node, indent=0):
    """Block YAML of lists of (key, value) pairs (mappings), lists and strings."""
    pad = "  " * indent
    lines = []
    for key, value in node:
        if isinstance(value, list) and value and isinstance(value[0], tuple):
            lines.append("%s%s:" % (pad, _key(key)))
            lines.extend(to_yaml(value, indent + 1))
        elif isinstance(value, list):
            if not value:
                lines.append("%s%s: []" % (pad, _key(key)))
                continue
            lines.append("%s%s:" % (pad, _key(key)))
            for item in value:
                if isinstance(item, list):  # a mapping inside a list
                    sub = to_yaml(item, indent + 2)
                    lines.append("%s  - %s" % (pad, sub[0].lstrip()))
                    lines.extend(sub[1:])
                else:
                    lines.append("%s  - %s" % (pad, _scalar(item)))
        else:
            lines.append("%s%s: %s" % (pad, _key(key), _scalar(value)))
    return lines


def render(base, project, registry=REGISTRY, variant="base"):
    bases = ", ".join(b["version"] for b in supported_bases(base))
    head = [
        "# GitLab CI of %s, written by `acc-py init-ci` (Acc-Py base %s)."
        % (project, base.version),
        "# Tests run on every supported Acc-Py base (%s), each in its image" % bases,
        "#   %s/acc-py_<os>_%s:<base version>" % (registry, variant),
        "# Publishing to the site's index runs on a git tag: set ACC_PY_PUBLISH_USER and",
        "# ACC_PY_PUBLISH_PASSWORD (masked) in Settings > CI/CD > Variables.",
        "# Rerun `acc-py init-ci --force` when bases are added or retired.",
        "",
    ]
    body = []
    for key, value in pipeline(base, registry, variant):
        body.extend(to_yaml([(key, value)]))
        body.append("")
    return "\n".join(head + body).rstrip("\n") + "\n"


def execute(args, base):
    path = os.path.abspath(FILENAME)
    if os.path.lexists(path) and not args.force:
        raise RefusedError("%s already exists; acc-py init-ci --force overwrites it" % path)
    text = render(base, os.path.basename(os.getcwd()), args.registry, args.variant)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    sys.stdout.write("Wrote %s: tests on %s\n"
                     % (path, ", ".join(b["version"] for b in supported_bases(base))))
    return 0

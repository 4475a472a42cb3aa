"""What a base hands to compilers: an extension built on it, the way setuptools builds one
(sysconfig's CC, CFLAGS, CCSHARED and LDSHARED), must carry no path of the base nor of the
machine its interpreter was built on; nor may python-config or the .pc files hand out a run
path."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

from accpy_builder.elf import read_elf

_FLAGS = """\
import json, sysconfig
print(json.dumps({k: v for k, v in sysconfig.get_config_vars().items() if isinstance(v, str)}))
"""
SOURCE = """\
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_probe", 0, -1, methods};
PyMODINIT_FUNC PyInit__probe(void) { return PyModule_Create(&module); }
"""


def _run(argv: list[str] | list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload,no-any-return]


def check_extensions(base: Path, work: Path) -> None:
    """Build an extension on the unpacked ``base`` and import it; assert no run path anywhere.
    (Its debug information names the headers' directory, as any build's does.)"""
    minor = next(p.name[len("python") :] for p in (base / "lib").glob("python3.*"))
    python = base / "bin" / f"python{minor}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "ACC_PY_NO_USAGE_LOG": "1"}
    out = _run([python, "-I", "-c", _FLAGS], env=env)
    assert out.returncode == 0, out.stderr
    variables = json.loads(out.stdout)
    with_rpath = sorted(k for k, v in variables.items() if "rpath" in v and k != "CONFIG_ARGS")
    assert not with_rpath, {k: variables[k] for k in with_rpath}
    # what python-config and pkg-config give a program that embeds or links Python
    for argv in (
        [
            str(base / "bin" / f"python{minor}-config"),
            "--ldflags",
            *(["--embed"] if minor != "3.7" else []),
        ],
        ["pkg-config", "--libs", "--static", f"python-{minor}{'-embed' if minor != '3.7' else ''}"],
    ):
        given = _run(argv, env={**env, "PKG_CONFIG_PATH": str(base / "lib" / "pkgconfig")})
        assert given.returncode == 0, (argv, given.stderr)
        assert "rpath" not in given.stdout and "-R" not in given.stdout.split(), given.stdout
    # an extension, compiled and linked as setuptools does it
    work.mkdir(parents=True, exist_ok=True)
    (work / "_probe.c").write_text(SOURCE)
    compile_ = [
        *shlex.split(variables["CC"]), *shlex.split(variables["CFLAGS"]),
        *shlex.split(variables["CCSHARED"]), f"-I{variables['INCLUDEPY']}",
        "-c", str(work / "_probe.c"), "-o", str(work / "_probe.o"),
    ]  # fmt: skip
    suffix = variables["EXT_SUFFIX"]
    link = [*shlex.split(variables["LDSHARED"]), str(work / "_probe.o"), "-o"]
    link.append(str(work / f"_probe{suffix}"))
    for argv in (compile_, link):
        done = _run(argv, env=env)
        assert done.returncode == 0, (argv, done.stderr)
    info = read_elf(work / f"_probe{suffix}")
    assert info is not None
    assert info.rpath == () and info.runpath == (), (info.rpath, info.runpath)
    probe = "import sys; sys.path[:0] = ['.']; import _probe; print(_probe.answer())"
    ran = _run([python, "-I", "-c", probe], cwd=work, env=env)
    assert ran.returncode == 0 and ran.stdout.strip() == "42", ran.stderr

"""``acc-py-images run``: run a command in an image as ``podman run`` would, through buildah
(entrypoint, command, user and working directory from the image; exit code passed back).

On hosts where podman cannot run containers (no rlimits, hybrid cgroups) this is the way."""

from __future__ import annotations

import argparse

from .. import engine

HELP = "run a command in an image, like podman run --rm (through buildah run)"


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND", help="default: CMD")
    p.add_argument("--user", help="run as this user (default: the image's)")
    p.add_argument("-e", "--env", dest="env", action="append", default=[], metavar="NAME=VALUE",
                   help="set a variable for the command")  # fmt: skip
    p.add_argument("-v", "--volume", dest="volumes", action="append", default=[],
                   metavar="HOST:CTR", help="bind-mount a host directory")  # fmt: skip


def execute(args: argparse.Namespace) -> int:
    config = engine.inspect(args.image).get("OCIv1", {}).get("config", {})
    argv = list(config.get("Entrypoint") or []) + list(args.argv or config.get("Cmd") or [])
    with engine.container(args.image) as ctr:
        proc = engine.run_in(
            ctr,
            argv,
            user=args.user,
            volumes=args.volumes,
            env=args.env,
            check=False,
            capture=False,
        )
    return proc.returncode

"""``acc-py-images push``: the built images of a base to a registry, every tag."""

from __future__ import annotations

import argparse

from ..push import push
from . import add_selection, selected

HELP = "push the built images of a base to a registry (TLS verified except on loopback)"


def configure_parser(p: argparse.ArgumentParser) -> None:
    add_selection(p)
    p.add_argument("--to", dest="to", metavar="REGISTRY", help="push here (default: --registry)")
    p.add_argument(
        "--tls-verify", choices=("true", "false"), help="default: false on loopback only"
    )


def execute(args: argparse.Namespace) -> int:
    plan = selected(args)
    verify = None if args.tls_verify is None else args.tls_verify == "true"
    for ref, digest in push(plan, args.to or plan.registry, tls_verify=verify).items():
        print(f"{ref}@{digest}")
    return 0

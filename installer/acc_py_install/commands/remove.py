"""remove VERSION[.PATCH]: rename a tree out of the way, then delete it."""

from __future__ import annotations

import argparse
import logging
import os

from accpy_core.errors import AccPyError, UsageError
from accpy_core.fs import crash_point, remove_tree
from accpy_core.layout import BASE_KIND, INTERACTIVE_KIND, PRO, Layout, Tree
from accpy_core.metadata import read_metadata
from accpy_core.proc import processes_using
from accpy_core.versions import parse_release

from ..install import clean_leftovers
from .common import add_lock_options, add_root, layout_of, lock_of

log = logging.getLogger(__name__)

HELP = "remove a version or one patch release (refuses pro or a current one without --force)"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "release",
        metavar="VERSION[.PATCH]",
        help="2023.06 (the version: its symlink and every patch tree) or 2023.06.1 (one tree)",
    )
    add_root(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="also remove the pro version (and the pro symlink), the current patch release "
        "of a version (which then points to its newest other patch release, if any), or a tree "
        "that processes of this host still run from (their later imports then fail)",
    )
    add_lock_options(parser)


def _check_unused(trees: list[Tree]) -> None:
    """Refuse to delete a tree that a process of this host runs from: its modules not yet
    imported would vanish under it. Other hosts are not seen (the note says so)."""
    for tree in trees:
        users = processes_using(tree.path)
        if users:
            shown = "; ".join(f"pid {pid}: {cmd[:80]}" for pid, cmd in users[:3])
            more = f" and {len(users) - 3} more" if len(users) > 3 else ""
            raise UsageError(
                f"{tree.release} is in use on this host by {len(users)} process(es) ({shown}"
                f"{more}); stop them and try again, or add --force (their later imports fail). "
                "Other hosts that mount this root are not checked"
            )


def _check_no_release_on(layout: Layout, version: str) -> None:
    """Refuse to remove a base that an installed interactive release sits on."""
    if layout.kind != BASE_KIND:
        return
    on_it = []
    for tree in Layout(layout.root, INTERACTIVE_KIND).trees():
        try:
            if read_metadata(tree.path).base == version:
                on_it.append(tree.release)
        except AccPyError:
            continue
    if on_it:
        raise UsageError(
            f"base {version} carries the interactive release(s) {', '.join(on_it)}, which stop "
            f"working without it; remove them first (acc-py-install remove --interactive "
            "RELEASE), or add --force"
        )


def _trash(layout: Layout, tree: Tree) -> None:
    trash = layout.hidden(f".trash-{tree.release}-")
    os.rename(tree.path, trash)
    crash_point(f"{tree.release} renamed to {trash.name}")
    remove_tree(trash)
    crash_point(f"{trash.name} deleted")
    log.info("removed %s", tree.release)


def execute(args: argparse.Namespace) -> int:
    layout = layout_of(args)
    version, patch = parse_release(args.release)
    with lock_of(layout, args):
        crash_point("lock taken")
        clean_leftovers(layout)
        trees = layout.trees(version)
        current = layout.current(version)
        is_pro = layout.pro() == version
        if patch is not None:
            trees = [t for t in trees if t.patch == patch]
        if not trees and not os.path.lexists(layout.area / version):
            raise UsageError(f"{args.release} is not installed under {layout.area}")
        removes_current = current is not None and any(t == current for t in trees)
        remaining = [t for t in layout.trees(version) if t not in trees]
        if removes_current and not args.force:
            if patch is not None:
                raise UsageError(
                    f"{args.release} is the current patch release of {version}; "
                    f"`rollback {version}` first, or add --force"
                )
            if is_pro:
                raise UsageError(
                    f"{version} is pro; `set-pro` another version first, or add --force"
                )
        if not args.force:
            _check_unused(trees)
            if not remaining:
                _check_no_release_on(layout, version)
        if patch is not None and removes_current and remaining:
            layout.switch(version, remaining[-1].path.name)  # --force: roll back first
            crash_point("version symlink switched")
            log.warning("%s now points to %s", version, remaining[-1].release)
        elif patch is None or removes_current:
            if is_pro:
                layout.unlink(PRO)
                crash_point("pro removed")
                log.warning("removed pro (it pointed to %s): run set-pro", version)
            layout.unlink(version)
            crash_point("version symlink removed")
        for tree in trees:
            _trash(layout, tree)
    return 0

"""Refuse a start whose binds would follow a symlink the sandbox planted (root mode).

A bind whose sandbox folder lies below an earlier writable bind (the workspace, or
another of ``LocalBackend(binds=...)``) has its parent folders made inside that bind:
in files the sandbox writes, which outlive a restart. Both launchers make those
folders as root before the new root is in place: bwrap follows a symlink there
relative to its base (``../../oldroot/...`` reaches the host), the fork-server's
set-up checks its own steps (``_zygote_root._in_new_root``). This check runs on the
host before either starts, so a planted symlink is refused under both (where the
spawner thread can enter the workspace's mount namespace to see its files; where it
cannot, bwrap is started through nsenter and only the fork-server's check remains).
"""

from __future__ import annotations

import os
from collections.abc import Iterable


def nested_binds(
    workdir: str, host_workspace: str | None, binds: Iterable[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """Each bind below an earlier writable one, as (sandbox folder, host folder, path).

    The host folder is the earlier bind's; the path is where, on the host, the new
    bind's folder is made. Pure.

    Args:
        workdir: The workspace as the sandbox sees it.
        host_workspace: Root mode: the host folder bound there (else a fresh tmpfs).
        binds: ``LocalBackend.binds`` as (host folder, sandbox folder), in plan order.
    """
    earlier = [(host_workspace, workdir)] if host_workspace is not None else []
    found = []
    for host, inside in binds:
        for src, dest in earlier:
            below = dest.rstrip("/") + "/"
            if inside.startswith(below):
                found.append((inside, src, os.path.join(src, inside[len(below) :])))
        earlier.append((host, inside))
    return found


def symlinked_bind(nested: Iterable[tuple[str, str, str]]) -> str | None:
    """The first sandbox folder of ``nested`` whose host path leaves its earlier bind.

    A symlink on the path that points anywhere outside that bind's host folder
    (absolute, or climbing with ``..``) is refused; one staying inside it is not.
    Run where the earlier binds' files are seen (the workspace's mount namespace).
    """
    for inside, src, path in nested:
        base, real = os.path.realpath(src), os.path.realpath(path)
        if real != base and not real.startswith(base.rstrip("/") + "/"):
            return inside
    return None

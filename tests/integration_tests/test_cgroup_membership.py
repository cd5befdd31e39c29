"""Every process of a sandbox is born in each of its cgroups; the host's threads in none."""

from __future__ import annotations

import os

import pytest

from langchain_daytona_exec import LocalBackend
from langchain_daytona_exec.backends.local._cgroups import cgroup_layout

pytestmark = pytest.mark.skipif(
    cgroup_layout() is None, reason="per-sandbox cgroups need root and a writable cgroup tree"
)


def _ids(folder: str, name: str) -> set[int]:
    with open(os.path.join(folder, name)) as f:
        return {int(line) for line in f if line.strip()}


def test_sandbox_processes_fill_every_cgroup_and_host_threads_leave_them() -> None:
    host_threads = {int(t) for t in os.listdir("/proc/self/task")}
    backend = LocalBackend()
    for _ in range(2):  # the spawner thread visits each sandbox's cgroups in turn
        with backend.create() as sb:
            sb.run_code("import subprocess; child = subprocess.Popen(['sleep', '30'])")
            cg = sb._cg
            assert cg is not None and cg.dirs
            members = [_ids(d, "cgroup.procs") for d in cg.dirs]
            # bwrap, its pid 1, the kernel and the child: in every controller's cgroup
            assert len(members[0]) >= 3 and all(m == members[0] for m in members)
            assert os.getpid() not in members[0]
            host_threads |= {int(t) for t in os.listdir("/proc/self/task")}
            for d in cg.dirs:
                assert not _ids(d, "tasks") & host_threads

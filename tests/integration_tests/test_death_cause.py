"""A killed interpreter names the limit that most likely killed it (real sandboxes)."""

from __future__ import annotations

import pytest

from langchain_daytona_exec import LocalBackend, LocalLimits
from langchain_daytona_exec.backends.local._cgroups import cgroup_layout
from langchain_daytona_exec.errors import SandboxLostError

needs_cgroups = pytest.mark.skipif(
    cgroup_layout() is None, reason="per-sandbox cgroups need root and a writable cgroup tree"
)


@needs_cgroups
def test_out_of_memory_names_the_memory_limit() -> None:
    with LocalBackend(limits=LocalLimits(memory_bytes=256 << 20)).create() as sb:
        sb.run_code("x = 1")
        with pytest.raises(SandboxLostError) as lost:
            sb.run_code("big = bytearray(1 << 30)")
        assert "it ran out of memory: the sandbox's memory limit is 256 MiB" in str(lost.value)
        again = sb.run_code("print('back')")
        assert again.stdout == "back\n" and again.state_lost
        # The next death with no new OOM kill does not blame memory again.
        with pytest.raises(SandboxLostError) as killed:
            sb.run_code("import os; os.kill(os.getpid(), 9)")
        assert "memory" not in str(killed.value)
        assert "closed its channel" in str(killed.value)


def test_cpu_time_limit_is_named() -> None:
    with LocalBackend(limits=LocalLimits(cpu_seconds=1)).create() as sb:
        with pytest.raises(SandboxLostError) as lost:
            sb.run_code("while True: pass")
        assert "the sandbox's CPU time limit is 1 s" in str(lost.value)

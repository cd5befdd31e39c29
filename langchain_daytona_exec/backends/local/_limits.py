"""The resource limits of a local sandbox: every limit and default, named once, with its reason.

:class:`LocalLimits` holds them; the shares below size the sandbox's file systems from its
memory limit, and root mode's per-sandbox uids are drawn (:func:`randbelow`) from the range
named here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from langchain_daytona_exec.sandbox import check_seconds

UID_BASE = 1_800_000_000
UID_SPAN = 100_000_000
"""Root mode gives each sandbox its own uid in [UID_BASE, UID_BASE + UID_SPAN): far
from real users and subuid ranges, so RLIMIT_NPROC counts one sandbox's processes only
and one sandbox can never signal or read another's."""

MiB = 1024 * 1024
GiB = 1024 * MiB

WORKSPACE_SHARE = 3 / 8
"""Default workspace cap, as a share of the memory limit (384 MiB of 1 GiB): the files
the model works with (datasets, outputs) get the biggest part of the file budget."""
TMP_SHARE = 1 / 16
"""Default cap of ``/tmp`` and, separately, of ``/dev/shm`` (64 MiB each of 1 GiB):
scratch space (pip, tempfile, multiprocessing's shared memory) needs little."""
MAX_FILES_SHARE = 3 / 4
"""The workspace, ``/tmp`` and ``/dev/shm`` together may never exceed this share of the
memory limit. Their tmpfs pages are charged to the sandbox's memory cgroup and belong to
no process: with caps as large as the memory limit a disk fill OOM-kills the
interpreter, and every restart dies again because the files stay (the model loops on
"interpreter died"). Below the limit, a fill fails with ENOSPC and the interpreter
keeps at least a quarter of the memory (half with the defaults: 3/8 + 2 x 1/16)."""


@dataclass(frozen=True)
class LocalLimits:
    """Resource limits of one local sandbox. Sizes in **bytes**, times in **seconds**.

    Attributes:
        memory_bytes: cgroup memory limit (RAM + tmpfs pages the sandbox writes).
        pids: cgroup pids limit: a fork bomb stops here.
        cpu_cores: cgroup CPU quota in cores (1.0 = one core's worth of time); a busy
            loop or a fork bomb cannot starve the host and the other sandboxes.
            ``None``: no quota.
        nproc: RLIMIT_NPROC for the sandbox's own uid (second line against fork bombs).
        nofile: RLIMIT_NOFILE.
        fsize_bytes: RLIMIT_FSIZE, the largest single file.
        address_space_bytes: RLIMIT_AS; ``None`` leaves it unset because V8 (node) and
            OpenBLAS reserve many GB of address space they never touch. The cgroup
            memory limit is what bounds real use.
        cpu_seconds: RLIMIT_CPU over the whole life of the interpreter; ``None``: off
            (per-call timeouts bound wall time instead).
        workspace_bytes: size cap of the writable workspace (a tmpfs); ``0``:
            :data:`WORKSPACE_SHARE` of ``memory_bytes``.
        tmp_bytes: size cap of ``/tmp`` and of ``/dev/shm`` (each a tmpfs); ``0``:
            :data:`TMP_SHARE` of ``memory_bytes``. The three together must stay within
            :data:`MAX_FILES_SHARE` of ``memory_bytes`` (``ValueError`` otherwise).
        output_bytes: captured bytes kept per stream per call (head + tail).
        max_file_bytes: largest file ``read_file``/``write_file`` move.
        timeout_s: default per-call timeout.
        grace_s: after a timeout's SIGINT, how long before the sandbox is killed.
        start_timeout_s: how long a new sandbox may take to become ready.
        file_op_timeout_s: how long a file operation may take.
    """

    memory_bytes: int = 1 * GiB
    pids: int = 256
    cpu_cores: float | None = 1.0
    nproc: int = 256
    nofile: int = 1024
    fsize_bytes: int = 1 * GiB
    address_space_bytes: int | None = None
    cpu_seconds: int | None = None
    workspace_bytes: int = 0
    tmp_bytes: int = 0
    output_bytes: int = 1 * MiB
    max_file_bytes: int = 100 * MiB
    timeout_s: float = 60.0
    grace_s: float = 2.0
    start_timeout_s: float = 30.0
    file_op_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.grace_s < float("inf"):  # NaN fails too
            raise ValueError(f"LocalLimits.grace_s must be finite and >= 0, got {self.grace_s!r}")
        for name in ("timeout_s", "start_timeout_s", "file_op_timeout_s"):
            object.__setattr__(
                self, name, check_seconds(getattr(self, name), f"LocalLimits.{name}")
            )
        if not self.workspace_bytes:
            object.__setattr__(self, "workspace_bytes", int(self.memory_bytes * WORKSPACE_SHARE))
        if not self.tmp_bytes:
            object.__setattr__(self, "tmp_bytes", int(self.memory_bytes * TMP_SHARE))
        files = self.files_bytes
        if files > self.memory_bytes * MAX_FILES_SHARE:
            raise ValueError(
                f"workspace_bytes + 2 x tmp_bytes (/tmp and /dev/shm) = {files // MiB} MiB is "
                f"over {MAX_FILES_SHARE:.0%} of memory_bytes ({self.memory_bytes // MiB} MiB): "
                "files are held in the sandbox's memory, so a full disk would OOM-kill the "
                "interpreter. Lower workspace_bytes/tmp_bytes or raise memory_bytes."
            )

    @property
    def files_bytes(self) -> int:
        """What the sandbox's files can hold at most: workspace + ``/tmp`` + ``/dev/shm``."""
        return self.workspace_bytes + 2 * self.tmp_bytes

    def rlimits(self, *, cgroup: bool = True) -> dict[str, int | None]:
        """The rlimits the kernel applies to itself before running code.

        Args:
            cgroup: Whether a memory cgroup bounds the sandbox. Without one (non-root
                mode, or a cgroup tree that is not writable) RLIMIT_DATA is set to
                ``memory_bytes``: it bounds each process's heap and private writable
                mappings (V8's and OpenBLAS's untouched reservations do not count), so a
                large allocation fails with MemoryError instead of taking the machine.
        """
        return {
            "as": self.address_space_bytes,
            "data": None if cgroup else self.memory_bytes,
            "cpu": self.cpu_seconds,
            "fsize": self.fsize_bytes,
            "nofile": self.nofile,
            "nproc": self.nproc,
            "core": 0,
        }


def randbelow(n: int) -> int:
    """A uniform random int in ``[0, n)`` from the OS's CSPRNG.

    What ``secrets.randbelow`` does, without importing ``secrets`` (it pulls in ``hmac``,
    ``hashlib`` and ``random``: ~4 ms of every ``daytona-exec`` start).
    """
    bits = n.bit_length()
    while True:  # rejection sampling: each try succeeds with probability > 1/2
        x = int.from_bytes(os.urandom((bits + 7) // 8), "big") & ((1 << bits) - 1)
        if x < n:
            return x

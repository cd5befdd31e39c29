"""The one long-lived thread that forks every sandbox process.

bwrap's ``--die-with-parent`` uses PR_SET_PDEATHSIG, which fires when the *thread* that
forked it exits, so a sandbox started from a short-lived thread (a pool filler,
``asyncio.to_thread``) would die with that thread.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import threading
from collections.abc import Callable

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from langchain_daytona_exec.backends.local._cgroups import CgroupSet

    T = TypeVar("T")


class Job:
    """One call handed to the spawner thread, and its outcome.

    (Not ``concurrent.futures.Future``: that module imports ``logging``, ~4 ms of every
    ``daytona-exec`` start, for the one thing done here.)
    """

    __slots__ = ("abandoned", "done", "error", "fn", "lock", "on_late", "result")

    def __init__(self, fn: Callable[[], Any], on_late: Callable[[Any], None] | None = None) -> None:
        self.fn = fn
        self.on_late = on_late
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.abandoned = False
        """The caller stopped waiting: a result is handed to ``on_late`` instead."""
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self) -> None:
        """Mark the job done; a result nobody waits for any more goes to ``on_late``."""
        with self.lock:
            self.done.set()
            late = self.abandoned
        if late and self.error is None and self.on_late is not None:
            with contextlib.suppress(Exception):  # the spawner thread must live on
                self.on_late(self.result)


class Spawner:
    """One long-lived daemon thread that forks every sandbox process."""

    def __init__(self) -> None:
        # A deque and a semaphore, not queue.SimpleQueue: `queue` (heapq...) costs ~0.7 ms
        # of every `daytona-exec exec` before its sandbox starts.
        self._jobs: collections.deque[Job] = collections.deque()
        self._pending = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._loop, name="ldx-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._pending.acquire()
            job = self._jobs.popleft()
            try:
                job.result = job.fn()
            except BaseException as exc:
                job.error = exc
            finally:
                job.finish()

    def submit(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the spawner thread later, without waiting (it must not raise)."""
        self._put(Job(fn))

    def _put(self, job: Job) -> None:
        self._jobs.append(job)
        self._pending.release()

    def call(
        self, fn: Callable[[], T], timeout: float, on_late: Callable[[T], None] | None = None
    ) -> T:
        """Run ``fn`` on the spawner thread; its result, or what it raised.

        Args:
            fn: What to run.
            timeout: Seconds to wait for it.
            on_late: Gets ``fn``'s result if it comes after the caller stopped
                waiting (on the spawner thread): it must free it (a started process,
                fds), or nobody will.

        Raises:
            TimeoutError: ``fn`` did not finish within ``timeout`` seconds.
        """
        if threading.current_thread() is self._thread:
            return fn()
        job = Job(fn, on_late)
        self._put(job)
        if not job.done.wait(timeout):
            with job.lock:
                if not job.done.is_set():  # else it finished just now: use the result
                    job.abandoned = True
                    raise TimeoutError(f"the sandbox was not spawned within {timeout:g} s")
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result


@functools.lru_cache(maxsize=1)
def spawner() -> Spawner:
    return Spawner()


def enter_cgroup_v2(cg: CgroupSet) -> Callable[[], None]:
    """preexec_fn for cgroup v2: the forked child moves itself in before exec'ing bwrap.

    On v1 the spawner thread visits the sandbox's cgroups around the fork instead
    (``CgroupSet.attach_self_thread``): measured here, that costs ~5 ms per sandbox
    where a preexec_fn migration costs ~11 ms, because the parent waits for the child's
    exec. v2 forbids threads of one process in different cgroups, hence this path.
    """
    procs = os.path.join(cg.dirs[0], "cgroup.procs").encode()

    def enter() -> None:
        fd = os.open(procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    return enter

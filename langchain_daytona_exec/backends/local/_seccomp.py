"""The sandbox's seccomp filter: the syscalls it refuses, compiled to a BPF program.

bwrap loads the program (``--seccomp FD``) before it runs the kernel.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os

from langchain_daytona_exec.errors import IsolationUnavailableError

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import Any

_DENIED_SYSCALLS = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "unshare",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "open_by_handle_at",
    "name_to_handle_at",
    "personality",
    "vhangup",
    "quotactl",
    "lookup_dcookie",
    "uselib",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "fanotify_init",
)
"""Syscalls sandboxed code never needs, denied with EPERM (kernel attack surface,
escapes from namespaces, the host's keyring)."""

_CLONE_NEW_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C
_AF_UNIX = 1


_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}
"""The libraries pyseccomp looks up at import, by their usual Linux sonames."""


def _import_pyseccomp() -> Any:
    """Import pyseccomp without its two ``ldconfig -p`` runs (3-11 ms per process).

    At import it calls ``ctypes.util.find_library`` for libc and libseccomp, which on
    Linux runs ``ldconfig -p`` each time. During the import the lookup first tries to
    load the usual soname and answers that; anything else (or a soname that does not
    load) goes to the real lookup.
    """
    import ctypes
    import ctypes.util

    original = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        soname = _SONAMES.get(name)
        if soname is not None:
            try:
                ctypes.CDLL(soname)
            except OSError:
                pass
            else:
                return soname
        return original(name)

    ctypes.util.find_library = find_library
    try:
        import pyseccomp
    finally:
        ctypes.util.find_library = original
    return pyseccomp


@functools.lru_cache(maxsize=8)
def seccomp_program(network: bool, cached: bool = False) -> bytes:
    """The seccomp BPF program passed to ``bwrap --seccomp`` (once per setting).

    Args:
        network: When False, sockets other than AF_UNIX fail with EAFNOSUPPORT. True for
            an allow-list too: its TCP sockets reach only the sandbox's own loopback.
        cached: Read a program compiled by an earlier process from the user's private
            cache folder when nothing it depends on changed, and keep a newly compiled
            one there (see :mod:`._seccomp_cache`). False: always compile.

    Raises:
        IsolationUnavailableError: libseccomp is missing.
    """
    if not cached:
        return _compile(network)
    from langchain_daytona_exec.backends.local import _seccomp_cache as cache

    key = cache.cache_key(network, __file__)
    if key is None:
        return _compile(network)
    program = cache.load(key)
    if program is None:
        program = _compile(network)
        library = cache.loaded_library("libseccomp")
        module = getattr(_import_pyseccomp(), "__file__", None)
        if library and isinstance(module, str):  # what made it, checked at every load
            cache.store(key, program, [library, module])
    return program


def _compile(network: bool) -> bytes:
    """Compile the program with libseccomp (see :func:`seccomp_program`)."""
    try:
        seccomp = _import_pyseccomp()
    except (ImportError, OSError) as exc:  # pyseccomp loads libseccomp.so.2 with ctypes
        raise IsolationUnavailableError(
            f"seccomp is unavailable ({exc}): install libseccomp2 "
            "(`sudo apt-get install libseccomp2`) and `pip install pyseccomp`"
        ) from exc
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    eperm = seccomp.ERRNO(errno.EPERM)
    for name in _DENIED_SYSCALLS:
        with contextlib.suppress(Exception):  # not every syscall exists on every arch
            f.add_rule(eperm, name)
    for flag in _CLONE_NEW_FLAGS:
        f.add_rule(eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")  # flags unreadable: libc falls back
    for request in (_TIOCSTI, _TIOCLINUX):
        f.add_rule(eperm, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    if not network:
        refuse = seccomp.ERRNO(errno.EAFNOSUPPORT)
        f.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
        f.add_rule(refuse, "socketpair", seccomp.Arg(0, seccomp.NE, _AF_UNIX))
    r, w = os.pipe()
    try:
        with os.fdopen(w, "wb", closefd=False) as out:
            f.export_bpf(out)
        os.close(w)
        w = -1
        chunks = []
        while chunk := os.read(r, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(r)
        if w != -1:
            os.close(w)

"""The compiled seccomp program, kept in the user's private cache folder between processes.

Compiling it imports pyseccomp (and with it ``typing`` and ``ctypes.util``) and asks
libseccomp for the program: ~5 ms of CPU in every process that starts a sandbox, which
``daytona-exec exec`` pays on each run. A cached program is used only when everything
the compile depended on is unchanged:

* the rules: the source of :mod:`._seccomp` (size, mtime and CRC-32), the network
  setting, the machine's architecture, ``LD_LIBRARY_PATH`` and the cache version;
* the compiler: the files of libseccomp and pyseccomp that made it (path, size, mtime),
  recorded at the compile and checked on every load.

Where the file lives matters as much: in the per-user cache folder that also remembers
the isolation probe (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``langchain-daytona-exec``),
used only when it is a real folder (opened without following a symlink) owned by this
user with no group/other write, and every access goes through that opened folder. The
file itself must be a regular file owned by this user, not writable by others, reached
without following a symlink, with a well-formed program. Anything else is ignored, and
the program is compiled as before.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import stat

CACHE_VERSION = "1"
"""Bumped when the file's format or the meaning of its key changes."""

MAX_PROGRAM_BYTES = 4096 * 8
"""A classic BPF program holds at most BPF_MAXINSNS (4096) instructions of 8 bytes."""

_MAGIC = b"ldx-seccomp " + CACHE_VERSION.encode() + b"\n"


def cache_key(network: bool, rules_file: str) -> str | None:
    """What a program compiled now depends on, apart from the compiler's files.

    ``None`` when the rules' source cannot be read (nothing is cached then).
    """
    try:
        with open(rules_file, "rb") as f:
            source = f.read()
        st = os.stat(rules_file)
    except OSError:
        return None
    return (
        f"network={int(network)} arch={os.uname().machine} "
        f"rules={st.st_size}:{st.st_mtime_ns}:{binascii.crc32(source):08x} "
        f"ld_library_path={os.environ.get('LD_LIBRARY_PATH', '')!r}"
    )


def cache_folder() -> str:
    """The per-user cache folder (see the module's docstring)."""
    from langchain_daytona_exec.backends.local._detect import mode_cache_path

    return os.path.dirname(mode_cache_path())


def file_name(key: str) -> str:
    """The file of ``key``'s program in :func:`cache_folder` (one per network setting)."""
    return f"seccomp-{binascii.crc32(key.encode()):08x}.bpf"


def _open_folder(create: bool) -> int | None:
    """An fd of :func:`cache_folder` when it is ours and private, else ``None``."""
    path = cache_folder()
    if create:
        with contextlib.suppress(OSError):
            os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        return None
    return fd


def load(key: str) -> bytes | None:
    """The cached program for ``key``, or ``None`` when it is missing or not to be trusted."""
    folder = _open_folder(create=False)
    if folder is None:
        return None
    try:
        fd = os.open(file_name(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    try:
        st = os.fstat(fd)
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != os.geteuid()
            or st.st_mode & 0o022
            or st.st_size > MAX_PROGRAM_BYTES + 65536
        ):
            return None
        data = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    header, sep, program = data.partition(b"\n\n")
    if not sep or not header.startswith(_MAGIC):
        return None
    lines = header[len(_MAGIC) :].decode("utf-8", "replace").split("\n")
    if lines[0] != f"key {key}":
        return None
    for line in lines[1:]:  # the compiler's files, unchanged since the compile
        name, _, rest = line.partition(" ")
        path, _, identity = rest.rpartition(" ")
        if name != "dep" or identity != _identity(path):
            return None
    if not program or len(program) % 8 or len(program) > MAX_PROGRAM_BYTES:
        return None
    return program


def store(key: str, program: bytes, deps: list[str]) -> None:
    """Write ``program`` for ``key`` (atomically, 0600); any failure only costs speed.

    Args:
        key: From :func:`cache_key`.
        program: The compiled program.
        deps: The files the compile used (libseccomp, pyseccomp).
    """
    lines = [f"key {key}"]
    for dep in deps:
        identity = _identity(dep)
        if identity is None or "\n" in dep:
            return
        lines.append(f"dep {dep} {identity}")
    data = _MAGIC + "\n".join(lines).encode() + b"\n\n" + program
    folder = _open_folder(create=True)
    if folder is None:
        return
    name = file_name(key)
    tmp = f"{name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        with os.fdopen(os.open(tmp, flags, 0o600, dir_fd=folder), "wb") as f:
            f.write(data)
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        os.close(folder)


def loaded_library(fragment: str) -> str | None:
    """The path of the loaded shared library whose file name contains ``fragment``."""
    with contextlib.suppress(OSError), open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and fragment in os.path.basename(parts[5].strip()):
                return parts[5].strip()
    return None


def _identity(path: str) -> str | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"

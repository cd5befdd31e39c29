"""Files prepared once per host process and copied into every sandbox.

The kernel's bytecode (so a new sandbox does not compile its sources) and matplotlib's
font cache (so a new sandbox does not rebuild the font list).
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import importlib.util
import os
import subprocess
import sys
import threading

from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local._hostdirs import BASE_DIR_NAME, listdir


@functools.lru_cache(maxsize=1)
def mpl_cache_dir() -> str | None:
    """A matplotlib font cache built once per machine, copied into each sandbox.

    Without it every new sandbox rebuilds the font list on its first ``import
    matplotlib.pyplot`` (about a second). Built in the background; until it exists
    sandboxes build their own. The folder is named after the installed matplotlib
    (its path and modification time), found without importing it: the import alone
    costs the host about a second.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        return None
    try:
        stamp = os.stat(spec.origin).st_mtime_ns
    except OSError:
        return None
    install = binascii.crc32(f"{spec.origin}:{stamp}".encode())
    cache = os.path.join(os.path.expanduser("~"), ".cache", BASE_DIR_NAME, f"mpl-{install:08x}")
    if not any(n.endswith(".json") for n in listdir(cache)):

        def build() -> None:
            os.makedirs(cache, exist_ok=True)
            env = {"MPLCONFIGDIR": cache, "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
            subprocess.run(
                [sys.executable, "-c", "import matplotlib.font_manager"],
                env=env,
                capture_output=True,
                timeout=300,
                check=False,
            )

        threading.Thread(target=build, name="ldx-mpl-cache", daemon=True).start()
    return cache


@functools.lru_cache(maxsize=1)
def ensure_kernel_bytecode() -> None:
    """Compile the kernel's sources (kernel, framing, cell runner) to ``__pycache__`` once.

    The kernel is imported (not run as a script) so that a new sandbox loads cached
    bytecode instead of compiling 700 lines at every start, which measured ~4 ms.
    ``PYTHONDONTWRITEBYTECODE`` (set on some machines) would otherwise leave no cache.
    A read-only install simply keeps compiling from source.
    """
    for source, _ in isolation.KERNEL_SOURCES:
        if current_bytecode(source) is not None:
            continue  # compiling ~1,500 lines at every process start cost the CLI ~25 ms
        import py_compile  # only when stale: it imports traceback (~3 ms of a CLI start)

        with contextlib.suppress(OSError, py_compile.PyCompileError):
            py_compile.compile(source, importlib.util.cache_from_source(source), doraise=True)


PYC_HEADER = 16
"""Bytes before the code in a ``.pyc``: magic, flags, then mtime and size (or a hash)."""


def current_bytecode(source: str) -> bytes | None:
    """The code part of ``source``'s timestamp ``.pyc`` in ``__pycache__``, if up to date."""
    try:
        st = os.stat(source)
        with open(importlib.util.cache_from_source(source), "rb") as f:
            pyc = f.read()
    except OSError:
        return None
    header = importlib.util.MAGIC_NUMBER + bytes(4)  # flags 0: checked by timestamp
    header += (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    header += (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    return pyc[PYC_HEADER:] if pyc[:PYC_HEADER] == header else None


@functools.lru_cache(maxsize=1)
def kernel_files() -> dict[str, bytes]:
    """The kernel's files as the sandbox sees them: sources and unchecked-hash bytecode.

    They are copied into each sandbox from memory rather than bound from the package
    folder, whose host path ``/proc/self/mountinfo`` would show. The bytecode is
    "unchecked hash" so Python trusts it although the copies get fresh mtimes. Stale
    bytecode is compiled into the package's ``__pycache__`` first
    (:func:`ensure_kernel_bytecode`), so the next process reads it too.
    """
    files: dict[str, bytes] = {}
    stale: list[tuple[str, str]] = []
    for source, name in isolation.KERNEL_SOURCES:
        with open(source, "rb") as f:
            files[f"{isolation.SANDBOX_KERNEL_DIR}/{name}"] = text = f.read()
        code = current_bytecode(source)
        if code is None:
            ensure_kernel_bytecode()  # once per process (cached); reads nothing when fresh
            code = current_bytecode(source)
        if code is None:
            stale.append((source, name))
            continue
        # the same code under an unchecked-hash header (PEP 552)
        header = importlib.util.MAGIC_NUMBER + (0b01).to_bytes(4, "little")
        cached = importlib.util.cache_from_source(name)
        files[f"{isolation.SANDBOX_KERNEL_DIR}/{cached}"] = (
            header + importlib.util.source_hash(text) + code
        )
    if stale:  # rare (a read-only install): py_compile and a temp folder only then
        files.update(_compiled_unchecked(stale))
    return files


def _compiled_unchecked(sources: list[tuple[str, str]]) -> dict[str, bytes]:
    """Unchecked-hash bytecode of (host path, sandbox name) sources, compiled now."""
    import py_compile
    import tempfile

    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="ldx-pyc-") as tmp:
        for source, name in sources:
            pyc = os.path.join(tmp, name.replace("/", "_") + "c")
            with contextlib.suppress(OSError, py_compile.PyCompileError):
                py_compile.compile(
                    source,
                    cfile=pyc,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
                with open(pyc, "rb") as f:
                    cached = importlib.util.cache_from_source(name)
                    files[f"{isolation.SANDBOX_KERNEL_DIR}/{cached}"] = f.read()
    return files


def mpl_cache_files() -> dict[str, bytes]:
    """The matplotlib font cache's files, copied into each sandbox (see mpl_cache_dir)."""
    cache = mpl_cache_dir()
    files: dict[str, bytes] = {}
    for name in listdir(cache) if cache else []:
        if name.endswith(".json"):
            with contextlib.suppress(OSError), open(os.path.join(cache or "", name), "rb") as f:
                files[f"{isolation.SANDBOX_MPL_CACHE}/{name}"] = f.read()
    return files

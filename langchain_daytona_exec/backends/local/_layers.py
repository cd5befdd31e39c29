"""Package layers: an :class:`~langchain_daytona_exec.Environment`'s packages, built once.

A layer is a folder of installed packages (``pip install --target``) on the host,
named by the hash of the packages, the index and the Python that will import them. It
is mounted read-only into every sandbox whose environment asks for it, first on
``sys.path``, so the packages import at once and cost nothing per sandbox.

Builds are safe to run from many processes at once: an exclusive file lock per layer,
a private temporary folder, and an atomic rename when (and only when) pip succeeded.
A failed build leaves nothing behind and raises :class:`EnvironmentBuildError` with
pip's message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from langchain_daytona_exec.environment import Environment
from langchain_daytona_exec.errors import EnvironmentBuildError

__all__ = ["LayerInfo", "build_layer", "default_layers_dir", "list_layers", "remove_layer"]

LogFn = Callable[[str], None]

BUILD_TIMEOUT_S = 1800.0
"""The longest a layer build (pip) may take; also the longest a second process waits
for another's build of the same layer."""

_LOG_TAIL = 4000
"""Characters of pip's output kept in a build error."""

_DONE = ".complete"
_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class LayerInfo:
    """A built layer.

    Attributes:
        key: The layer's name (a hash).
        path: Its folder on the host.
        packages: The requirement strings it was built from.
        size_bytes: Bytes on disk.
        built_at: Unix time of the build.
    """

    key: str
    path: str
    packages: tuple[str, ...]
    size_bytes: int
    built_at: float


def default_layers_dir() -> str:
    """``$XDG_CACHE_HOME/langchain-daytona-exec/envs`` (``~/.cache/...`` by default)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "langchain-daytona-exec", "envs")


def layer_key(env: Environment, python: str = sys.executable) -> str:
    """The layer's name: packages + index + the interpreter's version and platform."""
    tag = f"{sys.implementation.cache_tag}-{sys.platform}-{os.uname().machine}"
    import hashlib  # on use: only an environment needs it

    blob = json.dumps([env.package_digest, tag, os.path.realpath(python)])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def build_layer(
    env: Environment,
    *,
    layers_dir: str | None = None,
    log: LogFn | None = None,
    timeout_s: float = BUILD_TIMEOUT_S,
) -> str | None:
    """Build (or find) the layer of ``env``'s packages and return its host folder.

    Args:
        env: The environment; only ``packages`` and ``index_url`` matter here.
        layers_dir: Where layers live (default: :func:`default_layers_dir`).
        log: Called with each line of progress (pip's output included).
        timeout_s: Longest the build, or the wait for another process's build, may take.

    Returns:
        The layer folder (holding ``site/``), or ``None`` when there are no packages.

    Raises:
        EnvironmentBuildError: pip failed (the message ends with pip's), or timed out.
    """
    if not env.packages:
        return None
    say = log or (lambda line: None)
    root = layers_dir or default_layers_dir()
    os.makedirs(root, mode=0o755, exist_ok=True)
    key = layer_key(env)
    final = os.path.join(root, key)
    if os.path.exists(os.path.join(final, _DONE)):
        return final
    deadline = time.monotonic() + timeout_s
    with _locked(os.path.join(root, f"{key}.lock"), deadline, say):
        if os.path.exists(os.path.join(final, _DONE)):  # built while we waited
            say(f"layer {key} was built by another process")
            return final
        shutil.rmtree(final, ignore_errors=True)  # a crashed build's leftovers
        tmp = os.path.join(root, f"{key}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp, mode=0o755)
        try:
            _pip_install(env, os.path.join(tmp, "site"), say, deadline)
            manifest = {
                "packages": list(env.packages),
                "index_url": env.index_url,
                "built_at": time.time(),
            }
            with open(os.path.join(tmp, _MANIFEST), "w") as fh:
                json.dump(manifest, fh)
            open(os.path.join(tmp, _DONE), "w").close()
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    say(f"layer {key} ready")
    return final


def _pip_install(env: Environment, target: str, say: LogFn, deadline: float) -> None:
    argv = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        target,
        "--no-input",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--progress-bar",
        "off",
    ]
    if env.index_url:
        argv += ["--index-url", env.index_url]
    argv += list(env.packages)
    say(f"installing {', '.join(env.packages)} into a new layer")
    tail: list[str] = []
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise EnvironmentBuildError(f"cannot run pip ({exc}): is pip installed?") from exc
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            if sum(len(x) for x in tail) > _LOG_TAIL:
                tail.pop(0)
            say(line)
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(argv, 0)
        code = proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise EnvironmentBuildError("building the environment timed out", "\n".join(tail)) from exc
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if code != 0:
        text = "\n".join(tail)
        raise EnvironmentBuildError(
            f"pip could not install {', '.join(env.packages)} (exit {code}):\n{text}", text
        )


@contextlib.contextmanager
def _locked(path: str, deadline: float, say: LogFn):  # type: ignore[no-untyped-def]
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told:
                    say("another process is building this layer: waiting for it")
                    told = True
                if time.monotonic() > deadline:
                    raise EnvironmentBuildError(
                        f"gave up waiting for another process's build (lock {path})"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)


def list_layers(layers_dir: str | None = None) -> list[LayerInfo]:
    """The built layers, newest first."""
    root = layers_dir or default_layers_dir()
    found: list[LayerInfo] = []
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(root):
            path = os.path.join(root, name)
            if not os.path.exists(os.path.join(path, _DONE)):
                continue
            try:
                with open(os.path.join(path, _MANIFEST)) as fh:
                    manifest = json.load(fh)
            except (OSError, ValueError):
                manifest = {}
            found.append(
                LayerInfo(
                    key=name,
                    path=path,
                    packages=tuple(manifest.get("packages", ())),
                    size_bytes=_du(path),
                    built_at=float(manifest.get("built_at", 0.0)),
                )
            )
    return sorted(found, key=lambda info: info.built_at, reverse=True)


def remove_layer(key: str, layers_dir: str | None = None) -> bool:
    """Delete one layer (sandboxes already using it keep their mount). True if removed."""
    root = layers_dir or default_layers_dir()
    if not key or "/" in key or key.startswith("."):
        raise ValueError(f"bad layer key {key!r}")
    path = os.path.join(root, key)
    if not os.path.isdir(path):
        return False
    shutil.rmtree(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(root, f"{key}.lock"))
    return True


def _du(path: str) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total

"""How one sandbox's kernel process starts: its bwrap command line, configuration, env.

:class:`KernelLauncher` is a base class of :class:`LocalSandbox`, which owns the
attributes it reads.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import shutil
import subprocess
import sys

from langchain_daytona_exec.backends.local import _bindcheck as bindcheck
from langchain_daytona_exec.backends.local import _cgroups as cgroups
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import _mounts as mounts
from langchain_daytona_exec.backends.local import _seccomp as seccomp_filter
from langchain_daytona_exec.backends.local import protocol
from langchain_daytona_exec.backends.local._isolation import SandboxPaths
from langchain_daytona_exec.backends.local._prepare import (
    ensure_kernel_bytecode,
    kernel_files,
    mpl_cache_files,
)
from langchain_daytona_exec.backends.local._spawner import enter_cgroup_v2
from langchain_daytona_exec.errors import SandboxError

TYPE_CHECKING = False  # `typing` costs ~3 ms of a sandbox start (daytona-exec exec)
if TYPE_CHECKING:
    from typing import IO, Any, Protocol

    from langchain_daytona_exec.backends.local._backend import LocalBackend
    from langchain_daytona_exec.backends.local._detect import Mode
    from langchain_daytona_exec.backends.local._egress import EgressChannel
    from langchain_daytona_exec.backends.local._limits import LocalLimits


if TYPE_CHECKING:

    class KernelProcess(Protocol):
        """What a sandbox uses of its process: ``Popen`` (bwrap) or ``ForkedProcess``."""

        pid: int
        stderr: IO[bytes] | None

        def poll(self) -> int | None: ...
        def wait(self, timeout: float | None = None) -> int: ...
        def kill(self) -> None: ...


FORKED_KERNEL_FDS = (3, 4, 5)
"""Where a forked kernel finds its request fd, reply fd and configuration fd
(``_zygote.REQ_FD``, ``RESP_FD``, ``CFG_FD``; the zygote cannot import this module)."""


class KernelLauncher:
    """Builds and forks one sandbox's kernel process (run on the spawner thread)."""

    mode: Mode
    _backend: LocalBackend
    _limits: LocalLimits
    _paths: SandboxPaths
    _host_dir: str
    _host_work: str
    _uid: int
    _cg: cgroups.CgroupSet | None
    _egress: EgressChannel | None
    _layer: str | None
    _mntns: int | None
    launcher: str

    def _spawn(self) -> tuple[KernelProcess, int, int]:
        """Runs on the spawner thread: start the kernel's process tree.

        bwrap (or the bare kernel when unsafe), or a fork of the zygote when
        ``self.launcher`` is ``"forkserver"``.
        """
        unsafe = self.mode == "unsafe"
        if not unsafe:
            self._refuse_symlinked_binds()
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        child_fds = [req_r, resp_w]
        forked = self.launcher == "forkserver"
        cfg: dict[str, Any] = {
            "fds": list(FORKED_KERNEL_FDS[:2]) if forked else [req_r, resp_w],
            "workdir": self._host_work if unsafe else self._backend.workdir,
            "tmpdir": os.path.join(self._host_dir, "tmp") if unsafe else "/tmp",
            "output_budget": self._limits.output_bytes,
            # a stream over its budget is saved whole to /tmp, up to this size; the
            # kernel keeps the files of its last 2 such calls: at most half of /tmp
            "output_file_bytes": self._limits.tmp_bytes // 8,
            "max_file_bytes": self._limits.max_file_bytes,
            "rlimits": self._limits.rlimits(cgroup=self._cg is not None),
            "uid": self._uid if os.geteuid() == 0 else None,
            "gid": self._uid if os.geteuid() == 0 else None,
            "python_paths": self._python_paths(),
            "mpl_cache": self._paths.mpl_cache if unsafe else isolation.SANDBOX_MPL_CACHE,
        }
        kernel_dir = isolation.KERNEL_DIR if unsafe else isolation.SANDBOX_KERNEL_DIR
        env = isolation.sandbox_env(self._paths, self._environment_vars())
        env["PYTHONPATH"] = ":".join(cfg["python_paths"])
        if self._layer is not None:
            env["PATH"] = f"{self._layer_path()}/site/bin:{env['PATH']}"
        if self._backend.policy.mode != "off":  # pip's user site and its scripts
            env["PATH"] = f"{env['PYTHONUSERBASE']}/bin:{env['PATH']}"
            cfg["make_dirs"] = [self._user_site()]
        if self._egress is not None:
            cfg["egress"] = {
                "port": isolation.SANDBOX_PROXY_PORT,
                "socket": isolation.SANDBOX_PROXY_SOCKET,
            }
        if unsafe:
            env["HOME"] = os.path.join(cfg["tmpdir"], "home")
            env["TMPDIR"] = cfg["tmpdir"]
            env["MPLCONFIGDIR"] = os.path.join(env["HOME"], ".config", "matplotlib")
        cfg["env"] = env
        # The configuration (with the environment, which may hold values the user passed
        # on purpose) goes through an fd, never argv: argv is visible to all (ps).
        cfg_fd = isolation.data_fd(marshal.dumps(cfg))
        child_fds.append(cfg_fd)
        if forked:
            try:
                return self._spawn_forked(child_fds, req_w, resp_r)
            except BaseException:
                for fd in (req_w, resp_r):
                    os.close(fd)
                raise
        if unsafe:  # the kernel imports its host files (a sandbox gets kernel_files())
            ensure_kernel_bytecode()
        launcher = f"import sys; sys.path.insert(0, {kernel_dir!r}); import kernel; kernel.main()"
        python = self._paths.python if unsafe else isolation.SANDBOX_PYTHON
        kernel_argv = [python, "-I", "-S", "-c", launcher, str(cfg_fd)]
        launch_env = {"PATH": "/usr/bin:/bin"}
        namespace: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if unsafe:
            argv, cwd = kernel_argv, self._host_work
        else:
            data_fds, plan_args = self._plan_args(seccomp_pipe=True)
            child_fds += data_fds
            argv = isolation.bwrap_argv(
                mode="root" if self.mode == "root" else "userns",
                seccomp_fd=data_fds[0],
                kernel_argv=kernel_argv,
                bwrap=shutil.which("bwrap") or "bwrap",
                **plan_args,
            )
            # Options through an fd: /proc/1/cmdline in the sandbox is bwrap's argv.
            args_fd = os.memfd_create("ldx-args", 0)
            child_fds.append(args_fd)
            argv, payload = isolation.args_fd_argv(argv, args_fd)
            os.write(args_fd, payload)
            os.lseek(args_fd, 0, os.SEEK_SET)
            if self._mntns is not None:  # bwrap starts inside the workspace's namespace
                if mounts.thread_can_enter():
                    namespace = mounts.entered(self._mntns)
                else:
                    argv = mounts.enter_argv(self._mntns, argv)
            cwd = "/"
        argv = cgroups.oom_argv(argv)  # inherited by every process of the sandbox
        cg = self._cg
        old = cg.attach_self_thread() if cg is not None and cg.version == 1 else None
        proc: subprocess.Popen[bytes] | None = None
        try:
            with namespace:
                proc = subprocess.Popen(
                    argv,
                    env=launch_env,
                    cwd=cwd,
                    pass_fds=child_fds,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    preexec_fn=enter_cgroup_v2(cg) if cg is not None and cg.version == 2 else None,
                )
        except BaseException:
            if proc is not None:  # started, but this thread could not leave the namespace
                proc.kill()
                proc.wait()
            raise
        finally:
            if old is not None:
                cgroups.CgroupSet.detach_self_thread(old)
            for fd in child_fds:
                os.close(fd)
        assert proc is not None and proc.stderr is not None
        os.set_blocking(proc.stderr.fileno(), False)
        return proc, req_w, resp_r

    def _refuse_symlinked_binds(self) -> None:
        """A bind below the workspace or another bind must not be made through a symlink.

        See ``_bindcheck``. Nothing to check (no file system access) unless a bind lies
        below another. The workspace's files are seen from its mount namespace, entered
        by this (the spawner) thread; where a thread cannot enter one, only the
        fork-server's own check remains.

        Raises:
            SandboxError: A symlink on such a bind's path leads out of the folder it
                is in (the sandbox may have planted it; a fresh workspace, ``reset()``,
                clears it).
        """
        nested = bindcheck.nested_binds(
            self._backend.workdir,
            self._host_work if self.mode == "root" else None,
            self._backend.binds.items(),
        )
        if not nested:
            return
        namespace: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
        if self._mntns is not None and mounts.thread_can_enter():
            namespace = mounts.entered(self._mntns)
        with namespace:
            bad = bindcheck.symlinked_bind(nested)
        if bad is not None:
            raise SandboxError(
                f"the sandbox failed to start: a symlink on the path of the bind at {bad} "
                "leads out of the folder it is in; remove it (or reset() the sandbox)"
            )

    def _plan_args(self, *, seccomp_pipe: bool = False) -> tuple[list[int], dict[str, Any]]:
        """The data fds (seccomp program first) and the mount plan's arguments.

        Shared by both launchers: bwrap renders them to options, the fork-server's
        pid 1 executes the same :func:`isolation.mount_plan`.

        Args:
            seccomp_pipe: The seccomp fd is the read end of a pipe that
                :meth:`_send_seccomp` fills after the spawn (bwrap), not the program.
        """
        passwd, group = isolation.passwd_and_group(self._uid, self._uid)
        if seccomp_pipe:
            seccomp_fd, self._seccomp_w = os.pipe()
        else:
            seccomp_fd = isolation.data_fd(
                seccomp_filter.seccomp_program(self._inet_sockets(), cached=True)
            )
        data_fds = [
            seccomp_fd,
            isolation.data_fd(passwd),
            isolation.data_fd(group),
        ]
        files = {**kernel_files(), **mpl_cache_files(), **isolation.proc_mask_contents()}
        file_fds = {inside: isolation.data_fd(data) for inside, data in files.items()}
        data_fds += file_fds.values()
        paths = self._paths
        paths = SandboxPaths(
            python=paths.python,
            prefixes=paths.prefixes,
            site_packages=paths.site_packages,
            mpl_cache=None,  # copied in data_files instead
            extra_ro=paths.extra_ro,
        )
        return data_fds, {
            "paths": paths,
            "limits": self._limits,
            "network": self._backend.policy.mode == "open",
            "host_workspace": self._host_work if self.mode == "root" else None,
            "passwd_fd": data_fds[1],
            "group_fd": data_fds[2],
            "workdir": self._backend.workdir,
            "binds": tuple(self._backend.binds.items()),
            "egress_socket": self._egress_socket(),
            "layer": self._layer,
            "data_files": file_fds,
        }

    def _inet_sockets(self) -> bool:
        """Whether the seccomp filter lets code make non-unix sockets (network not off)."""
        return self._backend.policy.mode != "off"

    _seccomp_w: int | None = None
    """The write end of a bwrap sandbox's seccomp pipe until :meth:`_send_seccomp`."""

    def _send_seccomp(self) -> None:
        """Compile the seccomp program and write it into bwrap's pipe (caller's thread).

        bwrap reads its ``--seccomp`` fd to the end after its namespaces and mounts, just
        before it runs the kernel, so the program (compiled once per process, ~2 ms, or
        read from the user's cache) is made while bwrap starts instead of before.
        bwrap waits until the pipe is closed; closed empty (the compile failed) it refuses
        to go on (the kernel rejects a filter of length 0): nothing runs without the
        filter. The program is at most 32 KiB (BPF_MAXINSNS instructions), less than a
        pipe holds, so the write never blocks.

        Raises:
            IsolationUnavailableError: libseccomp is missing (the caller kills bwrap,
                then closes the pipe: see ``LocalSandbox._kill``).
        """
        fd = self._seccomp_w
        if fd is None:
            return
        # If this raises, the pipe stays open until the caller has killed bwrap.
        program = seccomp_filter.seccomp_program(self._inet_sockets(), cached=True)
        self._seccomp_w = None
        try:
            with contextlib.suppress(BrokenPipeError):  # bwrap is gone: the ready read says why
                protocol.write_all(fd, program)
        finally:
            os.close(fd)

    def _spawn_forked(
        self, child_fds: list[int], req_w: int, resp_r: int
    ) -> tuple[KernelProcess, int, int]:
        """A sandbox forked by the zygote (root mode): only fds go to it.

        ``child_fds`` are the kernel's request read end, reply write end and config. The
        fds follow the layout of ``_zygote.SECCOMP_INDEX``; the request's 3 header bytes
        say whether the network is shared, how many cgroup files follow and whether a
        workspace namespace does.
        """
        from langchain_daytona_exec.backends.local._forkserver import ForkedProcess, fork_server

        status_r, status_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        data_fds, plan_args = self._plan_args()
        mine = [*child_fds, stderr_w, status_w, *data_fds]
        try:
            cg = self._cg
            for d in cg.dirs if cg is not None else []:
                assert cg is not None
                name = "tasks" if cg.version == 1 else "cgroup.procs"
                mine.append(os.open(os.path.join(d, name), os.O_WRONLY | os.O_CLOEXEC))
            cgroup_fds = mine[len(mine) - (len(cg.dirs) if cg is not None else 0) :]
            head = [-1, *child_fds, stderr_w, status_w, data_fds[0], *cgroup_fds]
            if self._mntns is not None:
                head.append(self._mntns)
            # The plan names its data files by their index in what the zygote receives.
            index = {fd: len(head) + i for i, fd in enumerate(data_fds)}
            plan = [
                (op[0], index[op[1]], *op[2:]) if op[0] in ("ro-bind-data", "file") else op
                for op in isolation.mount_plan(**plan_args)
            ]
            launch = {"plan": plan, "hostname": isolation.SANDBOX_HOSTNAME}
            head[0] = launch_fd = isolation.data_fd(marshal.dumps(launch))
            mine.append(launch_fd)
            header = bytes([plan_args["network"], len(cgroup_fds), self._mntns is not None])
            pid, pidfd = fork_server().spawn(header, head + data_fds, self._limits.start_timeout_s)
        except BaseException:
            for fd in (status_r, stderr_r):
                os.close(fd)
            raise
        finally:
            for fd in mine:
                os.close(fd)
        proc = ForkedProcess(pid, pidfd, status_r, stderr_r)
        os.set_blocking(stderr_r, False)
        return proc, req_w, resp_r

    def _layer_path(self) -> str:
        """The layer folder as the kernel sees it."""
        assert self._layer is not None
        return self._layer if self.mode == "unsafe" else isolation.SANDBOX_LAYER_DIR

    def _user_site(self) -> str:
        """Where ``pip install`` puts packages when an index is reachable."""
        base = (
            os.path.join(self._host_work, ".local")
            if self.mode == "unsafe"
            else isolation.SANDBOX_USER_BASE
        )
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        return f"{base}/lib/{version}/site-packages"

    def _python_paths(self) -> list[str]:
        """``sys.path`` entries before the host's packages: pip's user site, the layer."""
        paths: list[str] = []
        if self._backend.policy.mode != "off":
            paths.append(self._user_site())
        if self._layer is not None:
            paths.append(f"{self._layer_path()}/site")
        return paths + list(self._paths.site_packages)

    def _environment_vars(self) -> dict[str, str]:
        """What the environment spec, the network policy and ``env=`` add to the env."""
        out: dict[str, str] = {}
        if self._backend.policy.mode != "off":
            base = os.path.dirname(os.path.dirname(os.path.dirname(self._user_site())))
            out.update({"PYTHONUSERBASE": base, "PIP_USER": "1", "PIP_NO_INPUT": "1"})
            bundle = "/etc/ssl/certs/ca-certificates.crt"
            if os.path.exists(bundle):  # the system's trust store (mounted via /etc/ssl)
                out.update({"PIP_CERT": bundle, "SSL_CERT_FILE": bundle})
                out["REQUESTS_CA_BUNDLE"] = bundle
            if self._backend.policy.label == "packages":
                from langchain_daytona_exec.netpolicy import package_index_urls

                urls = package_index_urls()
                out["PIP_INDEX_URL"] = urls[0]
                if urls[1:]:
                    out["PIP_EXTRA_INDEX_URL"] = " ".join(urls[1:])
        if self._egress is not None:
            proxy = f"http://127.0.0.1:{isolation.SANDBOX_PROXY_PORT}"
            for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                out[name] = proxy
            out["NO_PROXY"] = out["no_proxy"] = ""
        spec = self._backend.environment
        if spec is not None:
            out.update(spec.env)
        out.update(self._backend.env)
        return out

    def _egress_socket(self) -> str | None:
        return os.path.join(self._host_dir, "egress.sock") if self._egress is not None else None

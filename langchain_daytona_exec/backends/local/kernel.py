"""The in-sandbox kernel: one long-lived Python process per sandbox (stdlib only).

It runs INSIDE the sandbox, started by the host as ``python -I -S -c "import kernel;
kernel.main()" FD`` (imported, so its cached bytecode is used; FD holds the marshalled
configuration, environment included: nothing secret goes through argv). It must not
import anything from the package: the sandbox sees only this folder (its
``MODULES`` and the cell runner).

What it does, in order:

1. applies rlimits, then drops to the sandbox's unprivileged uid/gid when started as
   root (the user's code never runs as uid 0);
2. points fd 1 and fd 2 at pipes drained by two threads, so output of the code *and*
   of its child processes is captured, within a byte budget (head and tail kept;
   ``capture.py``);
3. answers request frames (see ``protocol.py``) on the channel fds until EOF:
   ``run`` (stateful Python, or node for JavaScript/TypeScript), ``exec`` (shell),
   ``read`` / ``write`` / ``list`` (files, resolved inside the sandbox, so a symlink
   can only ever point at sandbox paths; ``fileops.py``), and ``ping``.

A per-call timeout first raises ``KeyboardInterrupt`` in the code (an interval
timer's SIGALRM, no thread per call; state kept); the host kills the whole sandbox
if the code is still running after a grace period.

Only built-in modules are imported at start (no threading, signal, json, re, ast or
subprocess): a cold sandbox is ready in about the time of a bare interpreter. The
rest is imported on first use.
"""

from __future__ import annotations

import _signal
import builtins
import errno
import fcntl
import marshal
import os
import resource
import select
import sys
import time

TYPE_CHECKING = False  # `typing` costs ~8 ms of imports (re, collections...) at start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
# In the sandbox the cell runner is mounted next to this file; run unisolated from the
# package, it is the sibling folder ``backends/cellrunner``.
_RUNNER_PARENT = (
    _HERE if os.path.isdir(os.path.join(_HERE, "cellrunner")) else os.path.dirname(_HERE)
)
sys.path[:0] = [_HERE, _RUNNER_PARENT]
import fileops  # noqa: E402  (loaded by path: the kernel is not a package)
import protocol  # noqa: E402
from capture import Capture, FdCapture  # noqa: E402
from cellrunner import run as cellrun  # noqa: E402  (the rules of a cell, shared with Daytona)

del sys.path[:2]

MODULES = ("kernel", "capture", "fileops", "protocol", "forwarder")
"""This folder's modules that run in the sandbox (the host copies the same list in,
``_isolation.KERNEL_MODULES``): dropped from ``sys.modules`` before user code runs, so
the user's own modules of those names import."""

BACKGROUND_GRACE_S = 0.05
"""After a shell command exits, how long to keep reading output from children it left
running in the background before returning without them."""

_SIGINT = _signal.SIGINT  # _signal and errno are built in: named, and free to import
_SIGALRM = _signal.SIGALRM
_SIGKILL = _signal.SIGKILL
_TIOCNOTTY = 0x5422

_RLIMITS = {
    "as": resource.RLIMIT_AS,
    "data": resource.RLIMIT_DATA,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "core": resource.RLIMIT_CORE,
}


SAVED_CALLS_KEPT = 2
"""Calls whose saved output files are kept (older ones are deleted), so that saved
output stays within a fixed share of ``/tmp``: 2 streams x this x the file limit
(the host sets that limit to 1/8 of ``/tmp``: at most half of it in all)."""


class Kernel:
    """The request loop and its handlers."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.workdir: str = cfg["workdir"]
        self.tmpdir: str = cfg.get("tmpdir", "/tmp")
        self.budget: int = cfg["output_budget"]
        self.max_file: int = cfg["max_file_bytes"]
        self.max_body = protocol.max_reply_body(self.budget)
        self.output_dir = os.path.join(self.tmpdir, "ldx-outputs")
        self.output_file_limit: int = cfg.get("output_file_bytes", 16 << 20)
        self.calls = 0
        self.saved_paths: list[list[str]] = []
        self.req_fd, self.resp_fd = cfg["fds"]
        self.pid = os.getpid()
        self.files = fileops.Files(self.workdir, self.tmpdir, self.max_file, self.max_body)
        main_module = type(sys)("__main__")  # the cells' namespace *is* __main__, so
        main_module.__dict__["__builtins__"] = builtins  # pickle finds classes of cells
        sys.modules["__main__"] = main_module
        self.runner = cellrun.CellRunner(main_module.__dict__)
        self.node_cell = 0
        self.out = FdCapture(1)
        self.err = FdCapture(2)
        self.stdout = open(1, "w", 1, "utf-8", "backslashreplace", closefd=False)
        self.stderr = open(2, "w", 1, "utf-8", "backslashreplace", closefd=False)
        self.in_code = False
        self.timed_out = False

    def reply(self, msg: dict[str, Any], blob: bytes = b"") -> None:
        frame = protocol.encode_response(msg, blob, self.max_body)
        protocol.write_all(self.resp_fd, frame)

    def serve(self) -> None:
        """Answer requests until the host closes the channel."""
        self.reply({"ready": True})
        handlers: dict[str, Callable[[dict[str, Any], bytes], tuple[dict[str, Any], bytes]]]
        handlers = {
            "run": self.op_run,
            "exec": self.op_exec,
            "read": self.files.read,
            "write": self.files.write,
            "list": self.files.list,
            "ping": lambda req, blob: ({"ok": True}, b""),
        }
        while True:
            try:
                req, blob = protocol.read_request(self.req_fd)
            except protocol.FrameError:
                return
            try:
                _check_request(req)
                resp, out_blob = handlers[req["op"]](req, blob)
            except Exception as exc:  # reported; the host then restarts this kernel
                resp, out_blob = {"fault": f"{type(exc).__name__}: {exc}"}, b""
            if os.getpid() != self.pid:  # the code forked and this is the child
                os._exit(0)
            resp["id"] = req.get("id") if isinstance(req, dict) else None
            self.reply(resp, out_blob)

    # -- python -----------------------------------------------------------------

    def _on_alarm(self, signum: int, frame: Any) -> None:
        """SIGALRM at the deadline: interrupt the code, as Ctrl-C would."""
        if self.in_code:
            self.timed_out = True
            raise KeyboardInterrupt

    def op_run(self, req: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        language = req.get("language", "python")
        if language != "python":
            return self.run_node(req, language)
        self.timed_out = False
        out_cap, err_cap = self._captures("run")
        self.out.start(out_cap)
        self.err.start(err_cap)
        record: dict[str, Any] = {"result": None, "error": None}
        sys.stdout, sys.stderr = self.stdout, self.stderr
        timeout = req.get("timeout") or 0.0
        try:
            try:
                _signal.signal(_SIGALRM, self._on_alarm)
                _signal.signal(_SIGINT, _signal.default_int_handler)
                self.in_code = True
                if timeout > 0:
                    _signal.setitimer(_signal.ITIMER_REAL, timeout)
                record = self.runner.run(req["code"])
            finally:
                self.in_code = False  # a late alarm now does nothing
                _signal.setitimer(_signal.ITIMER_REAL, 0)
                _signal.signal(_SIGINT, _signal.SIG_IGN)
        except BaseException as exc:  # an interrupt that landed outside the user's code
            record = {"result": None, "error": self.runner.format_error(exc)}
        if os.getpid() != self.pid:
            os._exit(0)
        record.update(self.runner.finish())
        for stream in (self.stdout, self.stderr, sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        sys.stdout, sys.stderr = self.stdout, self.stderr
        stdout, out_cut = self.out.finish()
        stderr, err_cut = self.err.finish()
        error = record["error"]
        if self.timed_out and error is not None and error["name"] == "KeyboardInterrupt":
            error = None
        if error is not None and error["value"].startswith(f"[Errno {fileops.ENOSPC}]"):
            note = self.files.disk_full_note(fileops.errno_filename(error["value"]))
            error = {**error, "value": f"{error['value']} ({note})"}
            error["traceback"] += f"[sandbox] {note}\n"
        return {
            "stdout": stdout,
            "stderr": stderr,
            "stdout_cut": out_cut,
            "stderr_cut": err_cut,
            "saved": self._saved_files(out_cap, err_cap),
            "result": record["result"],
            "error": error,
            "outputs": record["outputs"],
            "charts": record["charts"],
            "timed_out": self.timed_out,
        }, b""

    def _captures(self, kind: str) -> tuple[Capture, Capture]:
        """The stdout and stderr captures of one call, each with its overflow file."""
        self.calls += 1
        base = os.path.join(self.output_dir, f"{kind}-{self.calls}")
        return (
            Capture(self.budget, base + ".stdout.txt", self.output_file_limit),
            Capture(self.budget, base + ".stderr.txt", self.output_file_limit),
        )

    def _saved_files(self, out_cap: Capture, err_cap: Capture) -> list[dict[str, Any]]:
        """The reply's list of saved files; files of older calls are deleted."""
        saved = [f for f in (out_cap.saved_file("stdout"), err_cap.saved_file("stderr")) if f]
        if saved:
            self.saved_paths.append([f["path"] for f in saved])
            while len(self.saved_paths) > SAVED_CALLS_KEPT:
                for path in self.saved_paths.pop(0):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
        return saved

    # -- node -------------------------------------------------------------------

    def run_node(self, req: dict[str, Any], language: str) -> tuple[dict[str, Any], bytes]:
        import shutil

        if language not in ("javascript", "typescript"):
            return {"unsupported": f"unknown language {language!r}"}, b""
        node = shutil.which("node")
        argv: list[str] | None = [node] if node else None
        if language == "typescript":
            argv = self._typescript_argv(node)
        if argv is None:
            need = (
                "Node.js >= 22.6 (type stripping) or tsx (`npm install -g tsx`)"
                if language == "typescript"
                else "Node.js (`apt-get install nodejs`)"
            )
            return {"unsupported": f"no {language} runtime in the sandbox: install {need}"}, b""
        self.node_cell += 1
        ext = ".ts" if language == "typescript" else ".mjs"
        src = os.path.join(self.tmpdir, f".cell-{self.node_cell}{ext}")
        with open(src, "w", encoding="utf-8") as f:
            f.write(req["code"])
        try:
            res = self._spawn([*argv, src], self.workdir, None, req.get("timeout"))
        finally:
            try:
                os.unlink(src)
            except OSError:
                pass
        error = None
        if res["exit_code"] != 0 and not res["timed_out"]:
            error = cellrun.node_error(res["stderr"], res["exit_code"])
        res.update(result=None, error=error, charts=[])
        del res["exit_code"]
        return res, b""

    @staticmethod
    def _typescript_argv(node: str | None) -> list[str] | None:
        import shutil
        import subprocess

        tsx = shutil.which("tsx")
        if tsx:
            return [tsx]
        if node:
            out = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
            major, minor = (int(p) for p in out.strip().lstrip("v").split(".")[:2])
            if (major, minor) >= (22, 6):
                return [node, "--experimental-strip-types", "--no-warnings"]
        return None

    # -- shell ------------------------------------------------------------------

    def op_exec(self, req: dict[str, Any], blob: bytes) -> tuple[dict[str, Any], bytes]:
        cwd = self.files.resolve(req.get("cwd") or ".")
        if not os.path.isdir(cwd):
            missing: tuple[dict[str, Any], bytes]  # fileops is loaded by path: untyped here
            missing = self.files.error("not_found", f"no such folder: {cwd}")
            return missing
        argv = ["/bin/sh", "-c", req["command"]]
        reply = self._spawn(argv, cwd, req.get("env"), req.get("timeout"))
        output = reply["stdout"] + reply["stderr"]
        failed = reply["exit_code"] != 0 or fileops.ENOSPC_TEXT in output
        if failed and self.files.full_roots():  # a full disk is the likely cause: say so
            reply["stderr"] += f"\n[sandbox] {self.files.disk_full_note()}\n"
        return reply, b""

    def _spawn(
        self, argv: list[str], cwd: str, env: dict[str, str] | None, timeout: float | None
    ) -> dict[str, Any]:
        import subprocess

        full_env = dict(os.environ)
        full_env.update(env or {})
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:  # EAGAIN at the pids limit, ENOENT, ENOMEM...
            hint = (
                " (the sandbox is at its process limit: stop background processes, "
                "or reset the sandbox)"
                if exc.errno == errno.EAGAIN
                else ""
            )
            return {
                "exit_code": 126,
                "stdout": "",
                "stderr": f"cannot start {argv[0]}: {exc.strerror}{hint}\n",
                "stdout_cut": 0,
                "stderr_cut": 0,
                "timed_out": False,
            }
        assert proc.stdout is not None and proc.stderr is not None
        out_cap, err_cap = self._captures("exec")
        caps = {proc.stdout.fileno(): out_cap, proc.stderr.fileno(): err_cap}
        poller = select.poll()
        for fd in caps:
            os.set_blocking(fd, False)
            poller.register(fd, select.POLLIN)
        deadline = start + timeout if timeout else None
        exited_at: float | None = None
        timed_out = False
        open_fds = set(caps)
        while open_fds:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > BACKGROUND_GRACE_S:
                break  # children left in the background keep the pipes open
            if deadline is not None and now >= deadline:
                timed_out = True
                break
            wait = 0.05 if deadline is None else min(0.05, deadline - now)
            for fd, _ in poller.poll(max(wait, 0) * 1000):
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if data:
                    caps[fd].feed(data)
                else:
                    poller.unregister(fd)
                    open_fds.discard(fd)
        if timed_out:
            try:
                os.killpg(proc.pid, _SIGKILL)
            except ProcessLookupError:
                pass
        code = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        if timed_out:
            code = 124
        elif code < 0:
            code = 128 - code
        stdout, out_cut = out_cap.text()
        stderr, err_cut = err_cap.text()
        return {
            "exit_code": code,
            "stdout": stdout,
            "stderr": stderr,
            "stdout_cut": out_cut,
            "stderr_cut": err_cut,
            "saved": self._saved_files(out_cap, err_cap),
            "timed_out": timed_out,
        }


_REQUEST_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "run": {"code": (str,), "language": (str,), "timeout": (float, int, type(None))},
    "exec": {
        "command": (str,),
        "cwd": (str, type(None)),
        "env": (dict, type(None)),
        "timeout": (float, int, type(None)),
    },
    "read": {"path": (str,), "max_bytes": (int, type(None))},
    "write": {"path": (str,)},
    "list": {"path": (str,), "depth": (int,)},
    "ping": {},
}


def _check_request(req: Any) -> None:
    """Refuse a request of the wrong shape before any handler touches it.

    The host validates arguments first; this keeps a wrong value from ever reaching
    (and staying in) the kernel's state.
    """
    if not isinstance(req, dict) or req.get("op") not in _REQUEST_FIELDS:
        raise ValueError("not a request")
    for name, kinds in _REQUEST_FIELDS[req["op"]].items():
        if not isinstance(req.get(name), kinds):
            raise TypeError(f"{name} must be {' or '.join(k.__name__ for k in kinds)}")


def _setup_process(cfg: dict[str, Any]) -> None:
    """Limits, privileges, fds and stdin: everything before any user code runs."""
    keep = set(cfg["fds"])
    for fd in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []:
        if int(fd) > 2 and int(fd) not in keep:
            try:
                os.close(int(fd))
            except OSError:
                pass
    for fd in keep:
        os.set_inheritable(fd, False)
    for name, value in cfg.get("rlimits", {}).items():
        if value is not None:
            resource.setrlimit(_RLIMITS[name], (value, value))
    uid, gid = cfg.get("uid"), cfg.get("gid")
    if os.getuid() == 0 and uid is not None and gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit("refusing to run sandboxed code as uid 0")
    os.umask(0o022)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        fcntl.ioctl(0, _TIOCNOTTY)
    except OSError:
        pass


def _prepare_home(cfg: dict[str, Any]) -> None:
    home = os.environ.get("HOME")
    if home:
        os.makedirs(home, exist_ok=True)
    mpl_src = cfg.get("mpl_cache")
    mpl_dir = os.environ.get("MPLCONFIGDIR")
    if mpl_src and mpl_dir and os.path.isdir(mpl_src):
        os.makedirs(mpl_dir, exist_ok=True)
        for name in os.listdir(mpl_src):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(mpl_src, name), "rb") as src:
                        data = src.read()
                    with open(os.path.join(mpl_dir, name), "wb") as dst:
                        dst.write(data)
                except OSError:
                    pass


def _no_input(prompt: object = "") -> str:
    raise EOFError("input() is not available: sandboxed code has no interactive stdin")


def _exit(code: object = None) -> None:
    raise SystemExit(code)


def main(cfg_fd: int | None = None) -> None:
    """Start the kernel with the configuration read from ``cfg_fd``.

    Args:
        cfg_fd: The fd holding the marshalled configuration; ``None``: the fd named by
            ``sys.argv[1]`` (a kernel started by bwrap). The fork-server's sandbox
            process passes it (``_zygote.py``), so both launchers share this function.
    """
    if cfg_fd is None:
        cfg_fd = int(sys.argv[1])
    chunks = []
    while chunk := os.read(cfg_fd, 1 << 16):
        chunks.append(chunk)
    os.close(cfg_fd)
    cfg = marshal.loads(b"".join(chunks))
    os.environ.clear()
    os.environ.update(cfg["env"])
    here = os.path.dirname(os.path.abspath(__file__))
    egress = cfg.get("egress")
    forwarder = __import__("forwarder") if egress else None  # beside this file
    sys.path[:] = [p for p in sys.path if p != here]  # the launcher's entry
    _setup_process(cfg)
    for folder in cfg.get("make_dirs", []):  # pip's user site: importable once filled
        os.makedirs(folder, exist_ok=True)
    if forwarder is not None:  # a network allow-list: the proxy on the sandbox's loopback
        forwarder.start(egress["port"], egress["socket"], list(cfg["fds"]))
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    builtins.input = _no_input
    builtins.exit = builtins.quit = _exit  # type: ignore[assignment]  # `site` adds them
    sys.path[:0] = cfg.get("python_paths", [])
    _prepare_home(cfg)
    os.chdir(cfg["workdir"])
    sys.path.insert(0, "")
    sys.argv = [""]
    sys.warnoptions.append("ignore:FigureCanvasAgg is non-interactive")
    _signal.signal(_SIGINT, _signal.SIG_IGN)
    kernel = Kernel(cfg)
    for name in list(sys.modules):  # keep the user's import namespace clean
        if name in MODULES or name.split(".")[0] == "cellrunner":
            sys.modules.pop(name, None)
    kernel.serve()


if __name__ == "__main__":
    main()

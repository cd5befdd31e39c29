"""The fork-server launcher gives sandboxed code the same world as bwrap, never a weaker one.

One sandbox per launcher (root mode only) runs the same probe; everything it observes
is compared: capabilities, no_new_privs, seccomp, uids, the mount table and its flags,
hostname, network interfaces, the process list, namespaces, cgroup view, rlimits,
environment, cwd, umask, open fds, oom_score_adj and the tmpfs caps. Then what holds
between sandboxes: files and processes of one are invisible to another, closing kills
every process, a restart keeps the files.
"""

from __future__ import annotations

import ast
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from langchain_daytona_exec import LocalBackend, LocalLimits, LocalSandbox
from langchain_daytona_exec.backends.local import _limits as limits
from tests.integration_tests.modes import FORKSERVER_ONLY

pytestmark = FORKSERVER_ONLY

SECRET = "LDX_FAKE_HOST_SECRET"
MiB = 1024 * 1024
LIMITS = LocalLimits(memory_bytes=256 * MiB, workspace_bytes=64 * MiB, tmp_bytes=16 * MiB)

PROBE = r"""
import os, resource
NAMESPACES = ("ipc", "cgroup", "net", "uts", "pid", "mnt")
def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out
me = status("self")
procs = []
for name in sorted(os.listdir("/proc"), key=lambda n: int(n) if n.isdigit() else -1):
    if name.isdigit():
        st = status(name)
        procs.append((int(name), int(st["PPid"]), st["Uid"].split()[0] == "0"))
pid1 = status(1)
mounts = []
with open("/proc/self/mountinfo") as f:
    for line in f:
        left, _, right = line.partition(" - ")
        fields = left.split()
        flags = sorted(set(fields[5].split(",")) & {"ro", "rw", "nosuid", "nodev", "noexec"})
        fstype, _, options = right.split()
        size = [o for o in options.split(",") if o.startswith("size=")]
        mounts.append((fields[4], flags, fstype, size))
limits = {
    n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")
}
with open("/proc/net/dev") as f:
    ifaces = sorted(line.split(":")[0].strip() for line in list(f)[2:])
with open("/proc/self/cgroup") as f:
    cgroup_view = f.read()
with open("/proc/self/oom_score_adj") as f:
    oom = f.read().strip()
fds = []
for fd in os.listdir("/proc/self/fd"):
    try:
        fds.append(os.readlink(f"/proc/self/fd/{fd}").split(":")[0])
    except OSError:  # the listing's own fd
        pass
fds.sort()
environs = []
for name in os.listdir("/proc"):
    try:
        with open(f"/proc/{name}/environ", "rb") as f:
            environs.append(f.read().decode(errors="replace"))
    except OSError:
        pass
dict(
    caps={k: me[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    nnp=me["NoNewPrivs"], seccomp=(me["Seccomp"], me.get("Seccomp_filters")),
    ids=(me["Uid"].split(), me["Gid"].split(), me["Groups"]), umask=me["Umask"],
    pid=os.getpid(), procs=procs,
    pid1={k: pid1[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
                               "NoNewPrivs", "Seccomp", "Uid")},
    mounts=mounts, hostname=os.uname().nodename, ifaces=ifaces, limits=limits,
    env=dict(os.environ), cwd=os.getcwd(), oom=oom, fds=fds, cgroup=cgroup_view,
    ns={n: os.readlink(f"/proc/self/ns/{n}") for n in NAMESPACES},
    environs=environs,
)
"""


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, LocalSandbox]]:
    os.environ[SECRET] = "do-not-leak-4711"
    made: dict[str, LocalSandbox] = {}
    try:
        for launcher in ("bwrap", "forkserver"):
            made[launcher] = LocalBackend(launcher=launcher, limits=LIMITS).create()  # type: ignore[arg-type]
        yield made
    finally:
        os.environ.pop(SECRET, None)
        for sb in made.values():
            sb.close()


def _probe(sb: LocalSandbox) -> dict[str, Any]:
    r = sb.run_code(PROBE, timeout=30)
    assert r.error is None, r.error
    assert r.result is not None
    value: dict[str, Any] = ast.literal_eval(r.result)
    return value


def _caps_within(fork: dict[str, str], bwrap: dict[str, str]) -> None:
    for name, value in fork.items():
        if name.startswith("Cap"):
            assert int(value, 16) & ~int(bwrap[name], 16) == 0, (name, value, bwrap[name])


def test_the_launchers_are_the_ones_asked_for(sandboxes: dict[str, LocalSandbox]) -> None:
    assert {k: sb.launcher for k, sb in sandboxes.items()} == {
        "bwrap": "bwrap",
        "forkserver": "forkserver",
    }


def test_sandboxed_code_observes_the_same_world(sandboxes: dict[str, LocalSandbox]) -> None:
    bw, fk = _probe(sandboxes["bwrap"]), _probe(sandboxes["forkserver"])
    # privileges: never more than bwrap's, the same filter and no_new_privs
    _caps_within(fk["caps"], bw["caps"])
    assert all(int(v, 16) == 0 for k, v in fk["caps"].items() if k in ("CapPrm", "CapEff"))
    assert (fk["nnp"], fk["seccomp"]) == (bw["nnp"], bw["seccomp"]) == ("1", ("2", "1"))
    for ids in (bw["ids"], fk["ids"]):
        uids, gids, groups = ids
        assert len(set(uids)) == 1 and uids == gids and int(uids[0]) >= limits.UID_BASE
        assert groups == ""
    _caps_within(fk["pid1"], bw["pid1"])
    assert {k: fk["pid1"][k] for k in ("NoNewPrivs", "Seccomp")} == {
        k: bw["pid1"][k] for k in ("NoNewPrivs", "Seccomp")
    }
    assert fk["pid1"]["Uid"].split()[0] == bw["pid1"]["Uid"].split()[0] == "0"
    # the same mounts, flags and tmpfs caps, in the same order
    assert fk["mounts"] == bw["mounts"]
    by_point = {m[0]: m for m in fk["mounts"]}
    for point, size in (("/workspace", 64 * 1024), ("/tmp", 16 * 1024), ("/dev/shm", 16 * 1024)):
        assert by_point[point][2] == "tmpfs" and by_point[point][3] == [f"size={size}k"], point
        assert {"nosuid", "nodev"} <= set(by_point[point][1])
    assert "ro" in by_point["/usr"][1] and "ro" in by_point["/etc/passwd"][1]
    # the same process tree, names, limits, environment
    assert fk["pid"] == bw["pid"] == 2
    assert fk["procs"] == bw["procs"] == [(1, 0, True), (2, 1, False)]
    for key in ("hostname", "ifaces", "limits", "env", "cwd", "oom", "umask", "fds", "cgroup"):
        assert fk[key] == bw[key], key
    assert fk["ifaces"] == ["lo"] and fk["hostname"] == "sandbox" and fk["oom"] == "1000"
    assert fk["cgroup"].strip().endswith(":/")
    for seen in (bw, fk):
        assert SECRET not in seen["env"]
        assert not any(SECRET in e for e in seen["environs"])
    # every namespace its own: not the host's, not the other sandbox's
    for name in ("ipc", "cgroup", "net", "uts", "pid", "mnt"):
        host = os.readlink(f"/proc/self/ns/{name}")
        assert len({host, bw["ns"][name], fk["ns"][name]}) == 3, name


def test_shell_commands_see_the_same_fds_and_identity(sandboxes: dict[str, LocalSandbox]) -> None:
    cmd = "ls /proc/self/fd | sort -n | tr '\\n' ' '; id -un; umask; ulimit -a | md5sum"
    bw, fk = (sandboxes[k].exec(cmd, timeout=15) for k in ("bwrap", "forkserver"))
    assert bw.exit_code == fk.exit_code == 0
    assert fk.stdout == bw.stdout


def test_a_sandbox_sees_nothing_of_another(sandboxes: dict[str, LocalSandbox]) -> None:
    fk = sandboxes["forkserver"]
    other = LocalBackend(launcher="forkserver", limits=LIMITS).create()
    try:
        for sb in (fk, other):
            assert (
                sb.exec(
                    f"echo {sb.id} > /workspace/m-{sb.id} && echo x > /tmp/t-{sb.id} && "
                    f"(sh -c 'sleep 60; :' marker-{sb.id} &) ; true",
                    timeout=15,
                ).exit_code
                == 0
            )
        for sb, peers in ((fk, (other, sandboxes["bwrap"])), (other, (fk,))):
            seen = sb.exec(
                "ls /workspace /tmp; cat /proc/[0-9]*/cmdline | tr '\\0' ' '", timeout=15
            ).stdout
            assert f"marker-{sb.id}" in seen  # control: its own process and files show
            for peer in peers:
                assert f"m-{peer.id}" not in seen and f"t-{peer.id}" not in seen
                assert f"marker-{peer.id}" not in seen
    finally:
        other.close()


def test_close_kills_every_process_and_restart_keeps_files() -> None:
    sb = LocalBackend(launcher="forkserver", limits=LIMITS).create()
    try:
        sb.write_file("kept.txt", "still here")
        sb.run_code("x = 1")
        r = sb.exec("for i in 1 2 3; do (sleep 300 &) ; done; echo started", timeout=15)
        assert "started" in r.stdout
        assert sb._cg is not None
        pids = sb._cg.pids()
        assert len(pids) >= 5  # pid 1, the kernel and three sleeps
        sb.restart_interpreter()
        assert sb.read_file("kept.txt") == b"still here"
        assert sb.run_code("'x' in globals()").result == "False"
        gone_after_restart = [p for p in pids if os.path.exists(f"/proc/{p}")]
        assert sb._cg.pids().isdisjoint(pids)
        assert gone_after_restart == [] or all(
            not os.path.exists(f"/proc/{p}") for p in gone_after_restart
        )
        sb.exec("(sleep 300 &); true", timeout=15)
        pids = sb._cg.pids()
        assert pids
    finally:
        sb.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.05)
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]


SCAN = r"""
import ctypes, re
def scan(parts):
    # the process is not dumpable (it switched uid), so /proc/self/mem is closed: read
    # its anonymous mappings (heap, arenas, stack) directly
    pattern = re.compile(b"(?:)".join(re.escape(p.encode()) for p in parts))
    hits = 0
    with open("/proc/self/maps") as f:
        maps = f.read().splitlines()
    for line in maps:
        fields = line.split()
        span, perms, inode = fields[0], fields[1], fields[4]
        name = fields[5] if len(fields) > 5 else ""
        if "r" not in perms or inode != "0" or name not in ("", "[heap]", "[stack]"):
            continue
        lo, hi = (int(x, 16) for x in span.split("-"))
        if hi - lo <= (256 << 20):
            hits += len(pattern.findall(ctypes.string_at(lo, hi - lo)))
    return hits
"""


@pytest.mark.parametrize("launcher", ["bwrap", "forkserver"])
def test_no_host_data_in_the_kernels_memory(launcher: str) -> None:
    """Forked from the zygote, the kernel must not find the host's or its pid 1's data.

    The sandbox's host folder and cgroup names (the host's pid and the sandbox's id) live
    in the mount plan; the zygote never reads it and G leaves it to a short-lived child.
    The host's environment never reaches the zygote. Needles are sent in two halves so
    that the probe's own code does not contain them.
    """
    secret = "do-not-leak-4711"
    os.environ[SECRET] = secret
    try:
        sb = LocalBackend(launcher=launcher, limits=LIMITS).create()  # type: ignore[arg-type]
    finally:
        os.environ.pop(SECRET, None)
    with sb:  # fresh: no request so far named its id
        assert sb.run_code(SCAN).error is None
        sb.run_code("control = 'zq' + 'xv' * 3")
        needles = {
            "control": ["zqx", "vxvxv"],
            "sandbox id": [sb.id[:6], sb.id[6:]],
            "host secret": [secret[:5], secret[5:]],
        }
        counts = {}
        for name, parts in needles.items():
            r = sb.run_code(f"scan({parts!r})", timeout=60)
            assert r.error is None and r.result is not None, r.error
            counts[name] = int(r.result)
        assert counts["control"] >= 1, (sb.launcher, counts)  # the scan reads memory
        assert counts["sandbox id"] == counts["host secret"] == 0, (sb.launcher, counts)


def test_a_retired_zygote_keeps_its_sandboxes_until_they_end() -> None:
    """A fresh zygote replaces the old one (``ZYGOTE_MAX_FORKS``) without killing anyone."""
    from langchain_daytona_exec.backends.local._forkserver import fork_server
    from langchain_daytona_exec.backends.local._spawner import spawner

    backend = LocalBackend(launcher="forkserver", limits=LIMITS)
    server = fork_server()
    spawner().call(server.retire, 10)  # a zygote of this test's own: it forks only `old`
    old = backend.create()
    zygote = server._proc
    assert zygote is not None and old.run_code("x = 1").error is None
    spawner().call(server.retire, 10)
    new = backend.create()
    try:
        assert server._proc is not None and server._proc.pid != zygote.pid
        assert old.run_code("x + 1").result == "2"  # alive, state kept
        assert new.run_code("1 + 1").result == "2"
        assert zygote.poll() is None  # the retired zygote waits for its sandbox
    finally:
        old.close()
    assert zygote.wait(10) == 0  # and ends with it
    assert new.run_code("2 + 2").result == "4"
    new.close()


def _stdout_per_launcher(command: str, **backend_kwargs: Any) -> dict[str, str]:
    """``command``'s stdout in a new sandbox of each launcher (same limits and options)."""
    seen = {}
    for launcher in ("bwrap", "forkserver"):
        backend = LocalBackend(launcher=launcher, limits=LIMITS, **backend_kwargs)
        with backend.create() as sb:
            seen[launcher] = sb.exec(command, timeout=15).stdout
    return seen


def test_mounts_below_a_read_only_bind_are_read_only_too(tmp_path: Path) -> None:
    """A host mount under a read-only path comes along, read-only, under both launchers."""
    from langchain_daytona_exec.backends.local import _mounts as mounts

    shared = tmp_path / "shared"
    inner = shared / "inner"
    inner.mkdir(parents=True)
    os.chmod(tmp_path, 0o755)
    mounts.mount_workspace(str(inner), 1 << 20, 0, 0)  # a writable tmpfs on the host
    try:
        os.chmod(inner, 0o755)
        (inner / "f.txt").write_text("below\n")
        os.chmod(inner / "f.txt", 0o644)
        seen = _stdout_per_launcher(
            f"cat {inner}/f.txt; grep ' {shared}' /proc/self/mountinfo | cut -d' ' -f5,6;"
            f" touch {inner}/new 2>&1",
            extra_ro_paths=(str(shared),),
        )
        assert seen["forkserver"] == seen["bwrap"]
        lines = seen["bwrap"].splitlines()
        assert lines[0] == "below"
        assert f"{inner} ro," in seen["bwrap"]  # the tmpfs below, read-only
        assert "Read-only file system" in seen["bwrap"]
    finally:
        mounts.unmount(str(inner))


def test_binds_from_the_hosts_tmp_come_from_the_host_not_the_base(tmp_path: Path) -> None:
    """The fork-server mounts its base tmpfs over ``/tmp`` while it builds the root.

    Bind sources under the host's ``/tmp`` must still be the host's files (they come
    from a copy of the old root made before the base covered it), and nothing of the
    base or the old root is left in the sandbox (no folder or mount point of them).
    """
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(data, 0o755)
    (data / "f.txt").write_text("from the host\n")
    os.chmod(data / "f.txt", 0o644)
    seen = _stdout_per_launcher(
        f"cat {data}/f.txt; ls -A / /tmp | grep -c -e newroot -e oldroot -e bindfile;"
        " cut -d' ' -f5 /proc/self/mountinfo | grep -c -e oldroot -e newroot",
        extra_ro_paths=(str(data),),
    )
    assert seen["forkserver"] == seen["bwrap"]
    assert seen["bwrap"].splitlines() == ["from the host", "0", "0"]

"""User-namespace mode, as an ordinary user would run it (root drops to nobody first)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import site
import subprocess
import textwrap
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.backends.local._hostdirs import traversable_by_others

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3"

PROBE = textwrap.dedent(
    """
    import sys
    sys.path[:0] = sys.argv[1:]  # with -c, argv[0] is "-c"
    from langchain_daytona_exec.backends.local import LocalBackend
    with LocalBackend(base_dir="/tmp/ldx-userns-test").create() as sb:
        print("mode", sb.mode)
        print("result", sb.run_code("x = 40\\nx + 2").result)
        print("uid", sb.exec("id -u").stdout.strip())
        print("root", " ".join(sorted(sb.exec("ls /").stdout.split())))
        sb.write_file("a/b.txt", "ok")
        print("file", sb.read_file("a/b.txt").decode())
        print("net", sb.run_code(
            "import socket\\n"
            "def probe():\\n"
            "    try:\\n"
            "        socket.socket(socket.AF_INET)\\n"
            "        return 'open'\\n"
            "    except OSError as e:\\n"
            "        return type(e).__name__\\n"
            "probe()"
        ).result)
    """
)


def run_as_nobody(code: str) -> dict[str, str]:
    """Run ``code`` as uid 65534 with this checkout importable; its "key value" lines."""
    if os.geteuid() != 0 or not shutil.which("setpriv") or not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs root (to become nobody), setpriv and /usr/bin/python3")
    paths = [str(ROOT), *site.getsitepackages()]
    if not all(traversable_by_others(p) for p in paths):
        pytest.skip("the checkout or the venv is not readable by other users here")
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            SYSTEM_PYTHON,
            "-c",
            code,
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "OPENAI_API_KEY": "sk-leak-test"},
    )
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


def test_userns_mode_runs_code_as_an_ordinary_user() -> None:
    out = run_as_nobody(PROBE)
    assert out["mode"] == "userns"
    assert out["result"] == "42"
    assert out["uid"] == "65534"
    assert out["file"] == "ok"
    assert out["net"] in ("'OSError'", "'PermissionError'")  # EAFNOSUPPORT from seccomp
    assert "root" not in out["root"].split() and "home" not in out["root"].split()


def test_each_user_gets_their_own_base_folder() -> None:
    """Root using the default base folder first must not lock an ordinary user out."""
    with LocalBackend().create() as sb:
        assert sb.run_code("1 + 1").result == "2"
        root_base = sb._backend.base_dir
    out = run_as_nobody(
        "import sys, os\n"
        "sys.path[:0] = sys.argv[1:]\n"
        "from langchain_daytona_exec.backends.local import LocalBackend\n"
        "backend = LocalBackend()\n"
        "with backend.create() as sb:\n"
        "    print('result', sb.run_code('40 + 2').result)\n"
        "print('base', backend.base_dir)\n"
        "print('owner', os.stat(backend.base_dir).st_uid)\n"
        "print('mode', oct(os.stat(backend.base_dir).st_mode & 0o777))\n"
    )
    assert out["result"] == "42"
    assert out["base"] != root_base
    assert out["owner"] == "65534" and out["mode"] == "0o700"
    st = os.stat(root_base)
    assert st.st_uid == 0 and st.st_mode & 0o077 == 0


LIMITS_PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = sys.argv[1:]
    from langchain_daytona_exec import SandboxLostError
    from langchain_daytona_exec.backends.local import LocalBackend
    backend = LocalBackend()
    print("describe", json.dumps(backend.describe()))
    with backend.create() as sb:
        big = sb.run_code("b = b'x' * (2 << 30)\\nlen(b)", timeout=60)
        print("big", big.error.name if big.error else big.result)
        small = sb.run_code("s = bytearray(200 << 20)\\nlen(s)", timeout=60)
        print("small", small.error.name if small.error else small.result)
        cmdline = sb.exec("tr '\\\\000' ' ' < /proc/1/cmdline").stdout
        print("cmdline", json.dumps(cmdline))
        print("oom", sb.exec("cat /proc/self/oom_score_adj").stdout.strip())
        print("boot_id", sb.exec("cat /proc/sys/kernel/random/boot_id").stdout.strip())
        forks = sb.run_code(
            "import os, time\\nkids, err = [], None\\n"
            "for i in range(400):\\n"
            "    try:\\n        pid = os.fork()\\n    except OSError as e:\\n"
            "        err = e.errno\\n        break\\n"
            "    if pid == 0:\\n        time.sleep(30)\\n        os._exit(0)\\n"
            "    kids.append(pid)\\n"
            "for k in kids:\\n    os.kill(k, 9)\\n    os.waitpid(k, 0)\\n"
            "f'{len(kids)} {err}'",
            timeout=60,
        )
        print("forks", json.loads(forks.result.replace("'", '"')))
        sb.write_file("kept.txt", "data")
        try:
            sb.run_code("import os\\nos.kill(os.getpid(), 9)", timeout=30)
            print("lost none")
        except SandboxLostError as exc:
            print("lost", json.dumps(str(exc)))
        names = [f.name for f in sb.list_files(".")]
        print("after", json.dumps(names))
    """
)


def test_userns_mode_enforces_what_describe_promises() -> None:
    """Without root: RLIMIT_DATA bounds memory, and a crash loses the files, as stated."""
    out = run_as_nobody(LIMITS_PROBE)
    info = json.loads(out["describe"])
    assert info["mode"].startswith("userns")
    assert "RLIMIT_DATA of 1024 MiB per process" in info["memory"]
    assert info["cpu"].startswith("no CPU quota")
    assert info["files_after_crash"].startswith("lost")
    assert out["big"] == "MemoryError"  # 2 GiB: over the 1 GiB limit
    assert out["small"] == str(200 << 20)  # control: ordinary allocations still work
    cmdline = json.loads(out["cmdline"])
    assert "bwrap" in cmdline and str(ROOT) not in cmdline and "/tmp/" not in cmdline
    assert out["oom"] == "1000"  # the OOM killer's first choice, as in root mode
    started, err = out["forks"].split()
    assert int(started) < 256 and err == str(errno.EAGAIN)  # RLIMIT_NPROC stops a fork bomb
    assert "RLIMIT_NPROC 256, counted in the sandbox's user namespace" in info["processes"]
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert len(out["boot_id"]) == 36 and out["boot_id"] != f.read().strip()  # masked
    lost = json.loads(out["lost"])
    assert "the files are gone too" in lost and "were kept" not in lost
    assert "kept.txt" not in json.loads(out["after"])  # ... and they are

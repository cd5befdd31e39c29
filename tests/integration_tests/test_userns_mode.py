"""User-namespace mode, as an ordinary user would run it (root drops to nobody first)."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import textwrap
from pathlib import Path

import pytest

from langchain_daytona_exec.backends.local import LocalBackend
from langchain_daytona_exec.backends.local.backend import _traversable_by_others

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
    if not all(_traversable_by_others(p) for p in paths):
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

"""Start an emulator and run ``data_analysis_client.py`` with another virtualenv's Python.

Usage: ``python tests/compat/run_data_analysis.py /path/to/other/venv/bin/python``.
"""

from __future__ import annotations

import os
import subprocess
import sys

from langchain_daytona_exec.emulator import Emulator

CLIENT_TIMEOUT_S = 300


def main(python: str) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    with Emulator() as emu:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "DAYTONA_API_KEY": "compat-check",
            "DAYTONA_API_URL": emu.api_url,
            "DAYTONA_USE_DEPRECATED_POLLING": "true",
        }
        done = subprocess.run(
            [python, os.path.join(here, "data_analysis_client.py")],
            env=env,
            timeout=CLIENT_TIMEOUT_S,
            check=False,
        )
        left = emu.sandbox_ids()
    if left:
        print(f"sandboxes left behind: {left}", file=sys.stderr)
        return 1
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

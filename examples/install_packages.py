"""The model installs a package through the network allow-list, then uses it at once.

Run: `.venv/bin/python examples/install_packages.py [PACKAGE]` (default: pyfiglet).
The sandbox may reach only the package index pip is configured with on this machine
(and its file host); everything else is refused, and every request is logged.
"""

from __future__ import annotations

import sys
import time

from langchain_daytona_exec import DaytonaShellTool, LocalBackend, SandboxPool


def main(package: str = "pyfiglet") -> None:
    """Install ``package`` through the allow-list with the shell tool, then use it."""
    backend = LocalBackend(network="packages")
    print(f"network policy: {backend.describe_network()}")
    with SandboxPool(backend) as pool:
        shell = DaytonaShellTool(pool=pool)
        print(f"the shell tool tells the model: ...{shell.description[-150:]}")
        config = {"configurable": {"thread_id": "install-demo"}}
        start = time.perf_counter()
        out = shell.invoke(
            {"command": f"pip install --no-cache-dir {package} 2>&1 | tail -1"}, config
        )
        print(f"$ pip install {package}  ({time.perf_counter() - start:.1f} s)\n{out}")
        with pool.session("install-demo") as sb:
            r = sb.run_code(f"import {package}\n{package}.__name__")
            print(f">>> import {package}  ->  {r.result or r.error}")
            r = sb.run_code(
                "import urllib.request\ntry:\n"
                "    urllib.request.urlopen('https://example.com', timeout=10)\n"
                "except Exception as e:\n    print(e)"
            )
            print(f">>> urlopen('https://example.com')  ->  {r.stdout.strip()}")
            print("network log:")
            for e in sb.network_log():
                verdict = "allowed" if e.allowed else "REFUSED"
                print(f"  {verdict:8} {e.method} {e.host}:{e.port}  {e.bytes_in} bytes in")


if __name__ == "__main__":
    main(*sys.argv[1:2])

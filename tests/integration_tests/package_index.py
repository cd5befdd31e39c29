"""A tiny PEP 503 package index on loopback, serving a wheel built on the spot.

Used by the environment and network allow-list tests: everything stays on this
machine (127.0.0.1), and the server stops with the test.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "ldxdemo"
VERSION = "0.1"


def build_wheel(folder: Path, name: str = PACKAGE, version: str = VERSION) -> Path:
    """A minimal pure-Python wheel whose module says hello with its version."""
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": (
            f"VERSION = {version!r}\n\ndef hello():\n    return 'hi from {name}'\n"
        ),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


@dataclass
class Index:
    """A running index: its base URL and port, and how many requests it served."""

    url: str
    port: int
    hits: list[str]


@contextmanager
def serve_index(folder: Path, *, redirect_to: str | None = None) -> Iterator[Index]:
    """Serve ``/simple/<name>/`` and ``/files/<wheel>`` for the wheels in ``folder``.

    ``/redirect`` answers 302 to ``redirect_to`` (a test of redirects to refused hosts).
    """
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            wheels = sorted(folder.glob("*.whl"))
            if self.path == "/redirect" and redirect_to:
                self.send_response(302)
                self.send_header("Location", redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path in ("/simple/", "/simple"):
                names = sorted({w.name.split("-")[0] for w in wheels})
                body = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
                return self._send(200, body.encode(), "text/html")
            if self.path.startswith("/simple/"):
                name = self.path.split("/")[2]
                links = [
                    f'<a href="/files/{w.name}">{w.name}</a>\n'
                    for w in wheels
                    if w.name.split("-")[0] == name
                ]
                if not links:
                    return self._send(404, b"not found", "text/plain")
                return self._send(200, "".join(links).encode(), "text/html")
            if self.path.startswith("/files/"):
                path = folder / self.path.split("/")[2]
                if path.exists():
                    return self._send(200, path.read_bytes(), "application/octet-stream")
            if self.path == "/hello":
                return self._send(200, b"hello from the index\n", "text/plain")
            self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    port = server.server_address[1]
    try:
        yield Index(f"http://127.0.0.1:{port}", port, hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

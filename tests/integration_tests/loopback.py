"""A test server for network probes: bounded, on a socket the test made (loopback/Unix)."""

from __future__ import annotations

import socket
import threading


class PongServer:
    """A bounded accept loop (at most 16 connections) on a listening-ready socket.

    It records the first bytes (up to 64) each connection sends and answers ``pong``.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port (for a socket bound to an internet address)."""
        return int(self.sock.getsockname()[1])

    def _loop(self) -> None:
        while not self._stop.is_set() and len(self.received) < 16:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(64))
                    conn.sendall(b"pong")
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

"""Runs INSIDE the sandbox (stdlib only): the sandbox's end of the egress proxy.

With a network allow-list the sandbox keeps its own, empty network namespace: only its
loopback exists. The host's filtering proxy listens on a Unix socket bound into the
sandbox; this forwarder listens on the sandbox's ``127.0.0.1`` and copies each TCP
connection to that socket, so ordinary clients (pip, requests, urllib, curl) reach the
proxy through ``HTTP_PROXY``/``HTTPS_PROXY``. It enforces nothing: every decision is
the host proxy's, and code that bypasses this forwarder (connecting to the socket
itself) meets the same policy.

One process, one thread, a ``selectors`` loop: threads would count against the
sandbox's pids limit.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket

BUFFER = 65536
"""Bytes read per wakeup, and the most held per direction before reading pauses."""

BACKLOG = 128


def start(port: int, socket_path: str, close_fds: list[int]) -> int:
    """Listen on ``127.0.0.1:port`` now, then serve from a forked child.

    Binding before the fork means a client may connect as soon as this returns.

    Args:
        port: The TCP port on the sandbox's loopback.
        socket_path: The host proxy's Unix socket, as mounted in the sandbox.
        close_fds: The kernel's channel fds, which the child must not keep.

    Returns:
        The child's pid.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(BACKLOG)
    pid = os.fork()
    if pid:
        listener.close()
        return pid
    try:  # the child: its own session, so a shell command's killpg never reaches it
        os.setsid()
        for fd in close_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        serve(listener, socket_path)
    finally:
        os._exit(0)


class _Pipe:
    """One direction of a forwarded connection, with its pending bytes."""

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src, self.dst = src, dst
        self.pending = b""
        self.eof = False


def serve(listener: socket.socket, socket_path: str) -> None:
    """Forward every accepted connection to ``socket_path`` until killed."""
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    peers: dict[socket.socket, socket.socket] = {}
    pipes: dict[socket.socket, _Pipe] = {}  # keyed by the pipe's source

    def drop(sock: socket.socket) -> None:
        for s in (sock, peers.get(sock)):
            if s is None or s not in peers:
                continue
            peers.pop(s, None)
            pipes.pop(s, None)
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(s)
            s.close()

    def update(sock: socket.socket) -> None:
        """Read from ``sock`` unless its bytes wait; write when the peer's bytes wait."""
        if sock not in peers:
            return
        events = 0
        mine = pipes[sock]
        if not mine.eof and not mine.pending:
            events |= selectors.EVENT_READ
        if pipes[peers[sock]].pending:
            events |= selectors.EVENT_WRITE
        try:
            if events:
                sel.modify(sock, events) if sock in sel.get_map() else sel.register(sock, events)
            elif sock in sel.get_map():
                sel.unregister(sock)
        except (KeyError, ValueError, OSError):
            drop(sock)

    while True:
        for key, mask in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock is listener:
                try:
                    client, _ = listener.accept()
                except OSError:
                    continue
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    upstream.connect(socket_path)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                for s in (client, upstream):
                    s.setblocking(False)
                peers[client], peers[upstream] = upstream, client
                pipes[client], pipes[upstream] = _Pipe(client, upstream), _Pipe(upstream, client)
                update(client)
                update(upstream)
                continue
            if sock not in peers:
                continue
            peer = peers[sock]
            if mask & selectors.EVENT_READ:
                pipe = pipes[sock]
                try:
                    data = sock.recv(BUFFER)
                except BlockingIOError:
                    data = None
                except OSError:
                    drop(sock)
                    continue
                if data == b"":
                    pipe.eof = True
                    with contextlib.suppress(OSError):
                        peer.shutdown(socket.SHUT_WR)
                elif data:
                    pipe.pending = data
            if mask & selectors.EVENT_WRITE and sock in peers:
                incoming = pipes[peer]
                try:
                    sent = sock.send(incoming.pending)
                    incoming.pending = incoming.pending[sent:]
                except BlockingIOError:
                    pass
                except OSError:
                    drop(sock)
                    continue
            if sock in peers:
                if (
                    pipes[sock].eof
                    and pipes[peer].eof
                    and not (pipes[sock].pending or pipes[peer].pending)
                ):
                    drop(sock)
                    continue
                update(sock)
                update(peer)

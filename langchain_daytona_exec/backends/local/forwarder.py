"""Runs INSIDE the sandbox (stdlib only): the sandbox's end of the egress proxy.

With a network allow-list the sandbox keeps its own, empty network namespace: only its
loopback exists. The host's filtering proxy listens on a Unix socket bound into the
sandbox; this forwarder listens on the sandbox's ``127.0.0.1`` and copies each TCP
connection to that socket, so ordinary clients (pip, requests, urllib, curl) reach the
proxy through ``HTTP_PROXY``/``HTTPS_PROXY``. It enforces nothing: every decision is
the host proxy's, and code that bypasses this forwarder (connecting to the socket
itself) meets the same policy.

One process, one thread, one ``poll`` loop: threads would count against the sandbox's
pids limit. It uses the C modules ``_socket`` and ``select`` directly: ``socket.py``
and ``selectors`` pull in ``enum`` and cost every new sandbox ~10 ms of imports.
"""

from __future__ import annotations

import _socket
import os
import select

BUFFER = 65536
"""Bytes read per wakeup; a direction holds at most this much before reading pauses."""

BACKLOG = 128

_IN = select.POLLIN
_OUT = select.POLLOUT
_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL


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
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(BACKLOG)
    pid = os.fork()
    if pid:
        listener.close()
        return pid
    try:  # the child: its own session, so a shell command's killpg never reaches it
        os.setsid()
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        serve(listener, socket_path)
    finally:
        os._exit(0)


class _End:
    """One socket of a forwarded pair, with the bytes waiting to be written to it."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer: _End | None = None
        self.outbox = b""  # bytes read from the peer, not yet sent here
        self.read_done = False  # this socket sent EOF: nothing more to read from it


def serve(listener: _socket.socket, socket_path: str) -> None:
    """Forward every accepted connection to ``socket_path`` until killed."""
    poller = select.poll()
    listener.setblocking(False)
    poller.register(listener.fileno(), _IN)
    ends: dict[int, _End] = {}

    def close(end: _End) -> None:
        for e in (end, end.peer):
            if e is not None and e.fd in ends:
                del ends[e.fd]
                try:
                    poller.unregister(e.fd)
                except (KeyError, ValueError):
                    pass
                e.sock.close()

    while True:
        for fd, events in poller.poll():
            if fd == listener.fileno():
                try:
                    client_fd, _ = listener._accept()  # type: ignore[attr-defined]
                except OSError:
                    continue
                client = _socket.socket(fileno=client_fd)
                upstream = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                try:
                    upstream.connect(socket_path)
                except OSError:
                    client.close()
                    upstream.close()
                    continue
                a, b = _End(client), _End(upstream)
                a.peer, b.peer = b, a
                for new in (a, b):
                    new.sock.setblocking(False)
                    ends[new.fd] = new
                    poller.register(new.fd, _IN)
                continue
            found = ends.get(fd)
            if found is None:
                continue
            end = found
            peer = end.peer
            assert peer is not None
            if events & _IN:
                try:
                    data = end.sock.recv(BUFFER)
                except BlockingIOError:
                    data = None
                except OSError:
                    close(end)
                    continue
                if data == b"":
                    end.read_done = True
                    if not peer.outbox:
                        _shut(peer)
                elif data:
                    peer.outbox = data
            elif events & _GONE:
                close(end)
                continue
            if events & _OUT and end.outbox:
                try:
                    sent = end.sock.send(end.outbox)
                    end.outbox = end.outbox[sent:]
                except BlockingIOError:
                    pass
                except OSError:
                    close(end)
                    continue
                if not end.outbox and peer.read_done:
                    _shut(end)
            if end.read_done and peer.read_done and not (end.outbox or peer.outbox):
                close(end)
                continue
            for e in (end, peer):
                if e.fd in ends:
                    _update(poller, e)


def _shut(end: _End) -> None:
    """No more bytes will be written to ``end``: pass the EOF on."""
    try:
        end.sock.shutdown(_socket.SHUT_WR)
    except OSError:
        pass


def _update(poller: select.poll, end: _End) -> None:
    """Read from ``end`` while its peer's outbox is empty; write while its own is not."""
    peer = end.peer
    assert peer is not None
    mask = 0
    if not peer.outbox and not end.read_done:
        mask |= _IN
    if end.outbox:
        mask |= _OUT
    poller.modify(end.fd, mask)

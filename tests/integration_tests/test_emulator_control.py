"""Control plane: archive, resize, network settings and preview links, through the SDK."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
from daytona import CreateSandboxFromSnapshotParams, DaytonaError, Resources

from tests.integration_tests.daytona_support import emu, sdk, sdk_sandbox  # noqa: F401

SERVER = """
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from the sandbox " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
socketserver.TCPServer.allow_reuse_address = True
http.server.HTTPServer(("127.0.0.1", PORT), H).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_when_up(url: str, token: str) -> httpx.Response:
    """GET through the preview link, waiting (bounded) for the server to listen."""
    deadline = time.monotonic() + 15
    while True:
        answer = httpx.get(url, headers={"x-daytona-preview-token": token}, timeout=10)
        if answer.status_code != 502 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_preview_link_reaches_a_server_in_the_sandbox_and_only_there(sdk: Any, emu: Any) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=False), timeout=60)
    host_port = _free_port()
    host_server = socket.create_server(("127.0.0.1", host_port))  # a host service
    try:
        port = _free_port()
        sb.fs.upload_file(SERVER.replace("PORT", str(port)).encode(), "server.py")
        sb.process.exec("nohup python3 server.py > /dev/null 2>&1 &")
        link = sb.get_preview_link(port)
        answer = _get_when_up(f"{link.url}/some/path?q=1", link.token)
        assert answer.status_code == 200
        assert answer.text == "hello from the sandbox /some/path?q=1"
        assert httpx.get(f"{link.url}/").status_code == 401  # no token
        # The host firewall keeps the sandbox off every host address, its own server too.
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3)"
        assert sb.process.exec(f'python3 -c "{probe}"').exit_code != 0
        # A port the sandbox does not own (a host service) is never forwarded.
        other = sb.get_preview_link(host_port)
        refused = httpx.get(f"{other.url}/", headers={"x-daytona-preview-token": other.token})
        assert refused.status_code == 502 and "no server of this sandbox" in refused.text
    finally:
        host_server.close()
        sdk.delete(sb, timeout=60)


def test_preview_of_a_blocked_sandbox_says_why(sdk_sandbox: Any) -> None:
    link = sdk_sandbox.get_preview_link(8080)
    answer = httpx.get(f"{link.url}/", headers={"x-daytona-preview-token": link.token})
    assert answer.status_code == 502 and "networkBlockAll" in answer.json()["message"]


def test_update_network_settings_opens_and_blocks(sdk: Any) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60)
    make_socket = "python3 -c 'import socket; socket.socket(); print(1)'"
    try:
        assert sb.process.exec(make_socket).exit_code != 0
        sb.update_network_settings(network_block_all=False)
        assert sb.network_block_all is False
        assert sb.process.exec(make_socket).result.strip() == "1"
        sb.update_network_settings(network_block_all=True)
        assert sb.process.exec(make_socket).exit_code != 0
        with pytest.raises(DaytonaError, match="networkAllowList"):
            sb.update_network_settings(network_allow_list="not-a-cidr")
    finally:
        sdk.delete(sb, timeout=60)


ALLOW_PROBE = """
import socket, sys
for port in sys.argv[1:]:
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("192.0.2.1", int(port)))  # TEST-NET-1
        print("connected")
    except OSError as exc:  # 113 (EHOSTUNREACH): the allow-list's administrative REJECT
        print("blocked" if exc.errno == 113 else "left")  # else: refused/timed out outside
"""


def test_network_allow_list_lets_only_those_ranges_out(sdk: Any, emu: Any) -> None:
    params = CreateSandboxFromSnapshotParams(
        network_block_all=True, network_allow_list="198.51.100.0/24"
    )
    sb = sdk.create(params, timeout=60)
    try:
        assert sb.network_allow_list == "198.51.100.0/24"
        sb.fs.upload_file(ALLOW_PROBE.encode(), "probe.py")
        assert sb.process.exec("python3 probe.py 9", timeout=20).result.split() == ["blocked"]
        sb.update_network_settings(network_allow_list="192.0.2.0/24")
        out = sb.process.exec("python3 probe.py 9", timeout=20).result.split()
        assert out in (["left"], ["connected"])  # allowed now: the attempt left the host
        uid = emu.registry.get(sb.id).local.uid
    finally:
        sdk.delete(sb, timeout=60)
    import subprocess

    chains = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert f"ldx-{uid}" not in chains  # the sandbox's rules went with it


def test_archive_needs_a_stopped_sandbox_and_keeps_files(sdk: Any) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60)
    try:
        sb.fs.upload_file(b"kept", "keep.txt")
        with pytest.raises(DaytonaError, match="stopped"):
            sb.archive()
        sb.stop()
        sb.archive()
        assert sb.state == "archived"
        sb.start()
        assert sb.fs.download_file("keep.txt") == b"kept"
    finally:
        sdk.delete(sb, timeout=60)


def test_resize_applies_the_local_limits(sdk: Any, emu: Any) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60)
    read_limit = (
        "cat /sys/fs/cgroup/memory.max 2>/dev/null"
        " || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    try:
        sb.resize(Resources(cpu=2, memory=2))
        assert (sb.cpu, sb.memory) == (2, 2)
        local = emu.registry.get(sb.id).local
        assert (local.limits.cpu_cores, local.limits.memory_bytes) == (2.0, 2 * 1024**3)
        limit = sb.process.exec(read_limit).result.strip()
        if limit.isdigit():  # the cgroup is visible inside (v2 namespaced or v1)
            assert int(limit) == 2 * 1024**3
        with pytest.raises(DaytonaError, match="stopped"):
            sb.resize(Resources(disk=10))
        with pytest.raises(DaytonaError, match="increas"):
            sb.resize(Resources(memory=1))
        sb.stop()
        sb.resize(Resources(cpu=1, memory=1, disk=10))
        assert (sb.cpu, sb.memory, sb.disk) == (1, 1, 10)
        with pytest.raises(DaytonaError, match="increased"):
            sb.resize(Resources(disk=5))
    finally:
        sdk.delete(sb, timeout=60)


def test_admin_routes_stop_and_drop_a_sandbox_and_404_an_unknown_one(sdk: Any, emu: Any) -> None:
    import urllib.error

    from langchain_daytona_exec.emulator import admin

    sb = sdk.create(CreateSandboxFromSnapshotParams(network_block_all=True), timeout=60)
    try:
        assert admin(emu.base_url, f"/sandbox/{sb.id}/stop", {}) == {"ok": True}
        sb.refresh_data()
        assert sb.state == "stopped"
        assert admin(emu.base_url, f"/sandbox/{sb.id}/drop", {}) == {"ok": True}
        assert sb.id not in emu.sandbox_ids()
        for action in ("stop", "drop"):
            with pytest.raises(urllib.error.HTTPError) as caught:
                admin(emu.base_url, f"/sandbox/{sb.id}/{action}", {})
            assert caught.value.code == 404
            caught.value.close()
    finally:
        if sb.id in emu.sandbox_ids():
            sdk.delete(sb, timeout=60)

"""The emulator behaves like Daytona where it answers: dirs, intervals, create, network, errors.

Everything goes through the real ``daytona`` SDK (or plain HTTP for the error shapes).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import httpx_ws
import pytest
from daytona import (
    CreateSandboxFromImageParams,
    CreateSandboxFromSnapshotParams,
    DaytonaError,
    DaytonaNotFoundError,
    Image,
)

from tests.integration_tests.daytona_support import emu, sdk, sdk_sandbox  # noqa: F401
from tests.integration_tests.package_index import serve_index

HOME = "/home/daytona"


def test_home_and_work_dir_are_home_daytona(sdk_sandbox: Any) -> None:
    assert sdk_sandbox.get_user_home_dir() == HOME
    assert sdk_sandbox.get_work_dir() == HOME
    assert sdk_sandbox.process.exec("pwd").result.strip() == HOME
    assert sdk_sandbox.process.exec("echo $HOME").result.strip() == HOME


def test_uploads_and_exec_cwd_under_home_and_workspace_still_works(sdk_sandbox: Any) -> None:
    sdk_sandbox.fs.upload_file(b"a,b\n1,2\n", f"{HOME}/data.csv")
    res = sdk_sandbox.process.exec("cat data.csv", cwd=HOME)
    assert res.exit_code == 0 and res.result == "a,b\n1,2\n"
    assert sdk_sandbox.process.exec("cat /workspace/data.csv").result == "a,b\n1,2\n"
    assert sdk_sandbox.fs.download_file("data.csv") == b"a,b\n1,2\n"  # relative: work dir


def test_auto_delete_can_be_disabled_with_minus_one(sdk_sandbox: Any) -> None:
    sdk_sandbox.set_auto_delete_interval(0)
    sdk_sandbox.set_auto_delete_interval(-1)
    sdk_sandbox.refresh_data()
    assert sdk_sandbox.auto_delete_interval == -1


def test_negative_auto_stop_is_refused(sdk_sandbox: Any) -> None:
    with pytest.raises(DaytonaError, match="negative"):
        sdk_sandbox.set_autostop_interval(-5)


def test_create_rejects_an_unknown_snapshot(sdk: Any) -> None:
    before = len(list(sdk.list()))
    with pytest.raises(DaytonaNotFoundError, match="no-such-snapshot"):
        sdk.create(CreateSandboxFromSnapshotParams(snapshot="no-such-snapshot"), timeout=30)
    assert len(list(sdk.list())) == before


def test_image_with_a_package_that_is_not_installed_fails_with_the_reason(
    sdk: Any, tmp_path: Any
) -> None:
    with serve_index(tmp_path) as index:  # loopback: pip asks nothing outside
        image = Image.debian_slim("3.12").pip_install(
            "surely-not-a-real-package-xyz", index_url=f"{index.url}/simple/"
        )
        with pytest.raises(DaytonaError, match="surely-not-a-real-package-xyz"):
            sdk.create(
                CreateSandboxFromImageParams(image=image, network_block_all=True), timeout=30
            )


def test_image_with_local_files_is_refused_clearly(sdk: Any, tmp_path: Any) -> None:
    (tmp_path / "f.txt").write_text("x")
    image = Image.debian_slim("3.12").add_local_file(tmp_path / "f.txt", "/app/f.txt")
    with pytest.raises(DaytonaError, match=r"object storage.*not supported by the Daytona"):
        sdk.create(CreateSandboxFromImageParams(image=image, network_block_all=True), timeout=30)


def test_declarative_image_is_built_offline(sdk: Any) -> None:
    image = (
        Image.debian_slim("3.12")
        .pip_install("pytest")  # installed next to the emulator: satisfied offline
        .env({"GREETING": "hello"})
        .workdir("/home/daytona/app")
        .run_commands("echo built > /home/daytona/app/marker")
    )
    sb = sdk.create(CreateSandboxFromImageParams(image=image, network_block_all=True), timeout=60)
    try:
        out = sb.process.exec("echo $GREETING; cat /home/daytona/app/marker").result
        assert out.split() == ["hello", "built"]
        assert sb.process.exec("python3 -c 'import pytest'").exit_code == 0
    finally:
        sdk.delete(sb, timeout=60)


def test_image_name_runs_the_local_runtime(sdk: Any) -> None:
    sb = sdk.create(CreateSandboxFromImageParams(image="python:3.12", network_block_all=True))
    try:
        assert sb.process.exec("python3 -c 'print(6*7)'").result.strip() == "42"
    finally:
        sdk.delete(sb, timeout=60)


# -- network ----------------------------------------------------------------------------


@pytest.fixture
def host_server() -> Iterator[int]:
    """A TCP server on the host's loopback that answers "secret" to anyone who connects."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"secret")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    server.close()
    thread.join(5)


PROBE = """
import socket, sys
for host, port in [(h, int(p)) for h, p in (a.split(":") for a in sys.argv[1:])]:
    try:
        s = socket.create_connection((host, port), timeout=3)
        print("reached", host, port, s.recv(16))
    except OSError as exc:
        print("refused", host, port, type(exc).__name__)
"""


def test_open_network_is_the_default_and_cannot_reach_host_services(
    sdk: Any, emu: Any, host_server: int
) -> None:
    sb = sdk.create(CreateSandboxFromSnapshotParams(), timeout=60)
    try:
        assert sb.network_block_all is False
        sb.fs.upload_file(PROBE.encode(), "probe.py")
        host_ip = socket.gethostbyname(socket.gethostname())
        targets = [f"127.0.0.1:{emu.port}", f"127.0.0.1:{host_server}", f"{host_ip}:{emu.port}"]
        out = sb.process.exec("python3 probe.py " + " ".join(targets), timeout=30).result
        assert out.count("refused") == 3, out
        assert "reached" not in out
        # The sandbox does have a network: it can open sockets and listen.
        listen = "import socket; s = socket.socket(); s.bind(('0.0.0.0', 0)); print('ok')"
        assert sb.process.exec(f'python3 -c "{listen}"').result.strip() == "ok"
    finally:
        sdk.delete(sb, timeout=60)


def test_blocked_network_has_no_sockets(sdk_sandbox: Any) -> None:
    assert sdk_sandbox.network_block_all is True
    code = (
        "import socket\ntry:\n    socket.socket()\nexcept OSError as e:\n    print('no', e.errno)"
    )
    assert sdk_sandbox.process.exec(f'python3 -c "{code}"').result.startswith("no")


# -- error envelopes ----------------------------------------------------------------------


def _envelope(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) >= {"statusCode", "message", "source"}
    assert body["statusCode"] == response.status_code
    return body


def test_unknown_routes_answer_a_json_404(emu: Any, sdk_sandbox: Any) -> None:
    headers = {"Authorization": "Bearer test-key"}
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=10) as client:
        for path in ("/api/no-such-route", f"/toolbox/{sdk_sandbox.id}/no/such", "/nothing"):
            response = client.get(path)
            assert response.status_code == 404
            assert "Cannot GET" in _envelope(response)["message"]
        response = client.patch("/api/sandbox")
        assert response.status_code == 405
        _envelope(response)


def test_unsupported_features_answer_a_clear_json_error(sdk_sandbox: Any, emu: Any) -> None:
    with pytest.raises(DaytonaError, match="not supported by the Daytona emulator"):
        sdk_sandbox.create_lsp_server("python", HOME).start()
    headers = {"Authorization": "Bearer test-key"}
    url = f"{emu.base_url}/toolbox/{sdk_sandbox.id}/computeruse/status"
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.status_code == 501
    assert _envelope(response)["code"] == "NOT_SUPPORTED_BY_EMULATOR"


@pytest.mark.parametrize(
    ("method", "path", "feature"),
    [
        ("POST", "/api/sandbox/{id}/fork", "Forking"),
        ("POST", "/api/sandbox/{id}/backup", "backups"),
        ("POST", "/api/sandbox/{id}/ssh-access", "SSH"),
        ("GET", "/api/secrets", "Secrets"),
        ("GET", "/api/socket.io/?EIO=4&transport=polling", "Socket.IO"),
        ("GET", "/api/object-storage/push-access", "object storage"),
    ],
)
def test_unemulated_control_plane_features_name_themselves(
    emu: Any, sdk_sandbox: Any, method: str, path: str, feature: str
) -> None:
    headers = {"Authorization": "Bearer test-key"}
    url = emu.base_url + path.replace("{id}", sdk_sandbox.id)
    response = httpx.request(method, url, headers=headers, timeout=10)
    assert response.status_code == 501
    body = _envelope(response)
    assert feature in body["message"] and "not supported by the Daytona emulator" in body["message"]


def test_a_refused_websocket_gets_a_json_answer_not_a_bare_403(emu: Any, sdk_sandbox: Any) -> None:
    auth = {"Authorization": "Bearer test-key"}
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    cases = [
        (f"/toolbox/{sdk_sandbox.id}/no/such/socket", auth, 404),
        (f"/toolbox/{sdk_sandbox.id}/process/interpreter/execute", {}, 401),
        ("/toolbox/no-such-sandbox/process/interpreter/execute", auth, 404),
    ]
    for path, hdrs, status in cases:
        # What a websocket client sees: the upgrade refused with the status...
        with (
            httpx.Client(timeout=10) as client,
            pytest.raises(httpx_ws.WebSocketUpgradeError) as info,
            httpx_ws.connect_ws(emu.base_url + path, client, headers=hdrs),
        ):
            pass
        assert info.value.response.status_code == status
        # ...and the body of that answer is Daytona's JSON envelope.
        response = httpx.get(emu.base_url + path, headers={**hdrs, **upgrade}, timeout=10)
        assert response.status_code == status
        _envelope(response)

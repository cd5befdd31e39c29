"""Network allow-lists on the local backend: what they let through, and every bypass tried.

All traffic stays on loopback: a tiny package index and a second "refused" server on
127.0.0.1, both stopped with the module. Every test is bounded by short timeouts.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from langchain_daytona_exec import IsolationUnavailableError, LocalBackend, LocalLimits
from langchain_daytona_exec.backends.local import EgressLimits
from langchain_daytona_exec.backends.local._isolation import SANDBOX_PROXY_SOCKET
from tests.integration_tests.package_index import Index, build_wheel, serve_index

pytestmark = pytest.mark.attack

LIMITS = LocalLimits(timeout_s=60, grace_s=1.0)


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """A server the allow-list does not name (its port differs)."""
    with serve_index(tmp_path_factory.mktemp("refused")) as index:
        yield index


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, refused: Index) -> Iterator[Index]:
    folder = tmp_path_factory.mktemp("index")
    build_wheel(folder)
    with serve_index(folder, redirect_to=f"{refused.url}/hello") as idx:
        yield idx


@pytest.fixture(scope="module")
def allowed_backend(index: Index) -> LocalBackend:
    return LocalBackend(network=[f"127.0.0.1:{index.port}"], limits=LIMITS)


def fetch(url: str) -> str:
    """Python run in the sandbox: fetch ``url`` through the proxy; print status or error."""
    return textwrap.dedent(
        f"""
        import urllib.request, urllib.error
        try:
            with urllib.request.urlopen({url!r}, timeout=10) as r:
                print("STATUS", r.status, r.read()[:200])
        except urllib.error.HTTPError as e:
            print("HTTPERROR", e.code, e.reason)
        except Exception as e:
            print("ERROR", type(e).__name__, e)
        """
    )


def test_pip_install_from_allowed_index_then_import_in_same_session(
    allowed_backend: LocalBackend, index: Index
) -> None:
    with allowed_backend.create() as sb:
        missing = sb.run_code("import ldxdemo")
        assert missing.error is not None and missing.error.name == "ModuleNotFoundError"
        c = sb.exec(
            f"python3 -m pip install --index-url {index.url}/simple/ --trusted-host 127.0.0.1 "
            "--no-cache-dir ldxdemo",
            timeout=120,
        )
        assert c.exit_code == 0, c.stdout + c.stderr
        r = sb.run_code("import ldxdemo\nldxdemo.hello()")
        assert r.error is None, r.error
        assert r.result == "'hi from ldxdemo'"
        assert any(p.startswith("/files/ldxdemo") for p in index.hits)
        log = sb.network_log()
        assert any(e.allowed and e.port == index.port for e in log)


def test_refused_host_gets_a_clear_error_naming_host_and_policy(
    allowed_backend: LocalBackend, index: Index, refused: Index
) -> None:
    with allowed_backend.create() as sb:
        ok = sb.run_code(fetch(f"{index.url}/hello"))
        assert "STATUS 200" in ok.stdout  # control: the allowed host answers
        r = sb.run_code(fetch(f"{refused.url}/hello"))
        assert "HTTPERROR 403" in r.stdout
        assert f"127.0.0.1:{refused.port} is not allowed" in r.stdout
        assert f"127.0.0.1:{index.port}" in r.stdout  # the policy is named
        assert refused.hits == []
        refusals = [e for e in sb.network_log() if not e.allowed]
        assert refusals and refusals[-1].port == refused.port


def test_connect_to_refused_host_is_refused(allowed_backend: LocalBackend, refused: Index) -> None:
    code = textwrap.dedent(
        f"""
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
        c.set_tunnel("127.0.0.1", {refused.port})
        try:
            c.request("GET", "/hello")
            print("TUNNEL OPEN", c.getresponse().status)
        except OSError as e:
            print("REFUSED", e)
        """
    )
    with allowed_backend.create() as sb:
        r = sb.run_code(code)
        assert "REFUSED" in r.stdout and "403" in r.stdout, r.stdout
        assert refused.hits == []


def test_no_direct_socket_and_no_dns(allowed_backend: LocalBackend, index: Index) -> None:
    code = textwrap.dedent(
        f"""
        import socket
        try:
            socket.create_connection(("127.0.0.1", {index.port}), timeout=5)
            print("DIRECT CONNECTED")
        except OSError as e:
            print("DIRECT FAILED", type(e).__name__)
        try:
            socket.getaddrinfo("pypi.org", 443)
            print("DNS RESOLVED")
        except OSError as e:
            print("DNS FAILED", type(e).__name__)
        """
    )
    with allowed_backend.create() as sb:
        r = sb.run_code(code)
        # The sandbox's 127.0.0.1 is its own: the host's index port is not there.
        assert "DIRECT FAILED ConnectionRefusedError" in r.stdout, r.stdout
        assert "DNS FAILED" in r.stdout, r.stdout
        assert sb.exec("ls -A /run").stdout.split() == ["ldx-egress.sock"]


def test_host_header_mismatch_is_refused(
    allowed_backend: LocalBackend, index: Index, refused: Index
) -> None:
    code = textwrap.dedent(
        f"""
        import socket
        s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
        s.sendall(b"GET http://127.0.0.1:{index.port}/hello HTTP/1.1\\r\\n"
                  b"Host: 127.0.0.1:{refused.port}\\r\\n\\r\\n")
        print(s.recv(300).decode().splitlines()[0])
        """
    )
    with allowed_backend.create() as sb:
        r = sb.run_code(code)
        assert r.stdout.startswith("HTTP/1.1 403"), r.stdout
        assert "does not match" in r.stdout


def test_redirect_to_refused_host_is_refused(
    allowed_backend: LocalBackend, index: Index, refused: Index
) -> None:
    with allowed_backend.create() as sb:
        r = sb.run_code(fetch(f"{index.url}/redirect"))
        assert "HTTPERROR 403" in r.stdout, r.stdout
        assert "/redirect" in index.hits
        assert refused.hits == []


def test_proxy_socket_itself_applies_the_policy(
    allowed_backend: LocalBackend, refused: Index
) -> None:
    code = textwrap.dedent(
        f"""
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect({SANDBOX_PROXY_SOCKET!r})
        s.sendall(b"CONNECT 127.0.0.1:{refused.port} HTTP/1.1\\r\\n\\r\\n")
        print(s.recv(300).decode().splitlines()[0])
        """
    )
    with allowed_backend.create() as sb:
        r = sb.run_code(code)
        assert r.stdout.startswith("HTTP/1.1 403"), r.stdout
        assert refused.hits == []


def test_a_name_never_allows_its_ip_and_loopback_names_are_refused(index: Index) -> None:
    backend = LocalBackend(network=[f"localhost:{index.port}"], limits=LIMITS)
    with backend.create() as sb:
        by_ip = sb.run_code(fetch(f"{index.url}/hello"))
        assert "HTTPERROR 403" in by_ip.stdout and "is not allowed" in by_ip.stdout
        by_name = sb.run_code(fetch(f"http://localhost:{index.port}/hello"))
        assert "HTTPERROR 403" in by_name.stdout, by_name.stdout
        assert "loopback or private address" in by_name.stdout


def test_request_limit_is_enforced(index: Index) -> None:
    backend = LocalBackend(
        network=[f"127.0.0.1:{index.port}"],
        limits=LIMITS,
        network_limits=EgressLimits(max_requests=2),
    )
    with backend.create() as sb:
        outs = [sb.run_code(fetch(f"{index.url}/hello")).stdout for _ in range(3)]
        assert all("STATUS 200" in o for o in outs[:2]), outs
        assert "HTTPERROR 429" in outs[2], outs


def test_without_allow_list_nothing_is_reachable(index: Index) -> None:
    with LocalBackend(limits=LIMITS).create() as sb:
        r = sb.run_code(fetch(f"{index.url}/hello"))
        assert "ERROR" in r.stdout and "STATUS" not in r.stdout
        assert sb.network_log() == []


def test_allow_list_refuses_unsafe_mode() -> None:
    backend = LocalBackend(network=["pypi.org"], unsafe_no_isolation=True)
    backend.__dict__["mode"] = "unsafe"  # as on a host where bubblewrap cannot run
    with pytest.raises(IsolationUnavailableError, match="allow-list"):
        backend.create()


def test_file_written_by_pip_survives_in_user_site(
    allowed_backend: LocalBackend, index: Index, tmp_path: Path
) -> None:
    """pip installs into the sandbox's writable user site, not the read-only runtime."""
    with allowed_backend.create() as sb:
        c = sb.exec(
            f"python3 -m pip install --index-url {index.url}/simple/ --trusted-host 127.0.0.1 "
            "--no-cache-dir ldxdemo && python3 -c 'import ldxdemo; print(ldxdemo.__file__)'",
            timeout=120,
        )
        assert c.exit_code == 0, c.stdout + c.stderr
        assert c.stdout.strip().splitlines()[-1].startswith("/workspace/.local/lib/")


def test_network_log_through_the_pool(allowed_backend: LocalBackend, index: Index) -> None:
    from langchain_daytona_exec import SandboxPool

    with SandboxPool(allowed_backend) as pool, pool.session("t") as sb:
        assert sb.network_log() == []
        assert "STATUS 200" in sb.run_code(fetch(f"{index.url}/hello")).stdout
        events = sb.network_log()
        assert [(e.method, e.port, e.allowed) for e in events] == [("GET", index.port, True)]
        assert events[0].bytes_in > 0 and events[0].bytes_out > 0

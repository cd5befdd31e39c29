from __future__ import annotations

import pytest

from langchain_daytona_exec import Environment, NetworkPolicyError
from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import _limits as limits
from langchain_daytona_exec.netpolicy import HostPattern, NetworkPolicy


@pytest.mark.parametrize(
    ("pattern", "host", "port", "ok"),
    [
        ("pypi.org", "pypi.org", 443, True),
        ("pypi.org", "PyPI.org.", 80, True),
        ("pypi.org", "evil-pypi.org", 443, False),
        ("pypi.org:443", "pypi.org", 80, False),
        ("*.pythonhosted.org", "files.pythonhosted.org", 443, True),
        ("*.pythonhosted.org", "pythonhosted.org", 443, False),
        ("*.pythonhosted.org", "files.pythonhosted.org.evil.com", 443, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("127.0.0.1:8080", "localhost", 8080, False),
        ("localhost:8080", "127.0.0.1", 8080, False),
        ("[::1]:8080", "::1", 8080, True),
        ("[::1]:8080", "[::1]", 8080, True),
        ("203.0.113.7", "203.0.113.7", 1234, True),
    ],
)
def test_host_patterns(pattern: str, host: str, port: int, ok: bool) -> None:
    assert HostPattern.parse(pattern).matches(host, port) is ok


@pytest.mark.parametrize(
    "bad", ["", "http://pypi.org", "pypi.org/simple", "a*b.com", "pypi.org:0", "x:99999", "u@h"]
)
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(NetworkPolicyError):
        NetworkPolicy.parse([bad])


def test_policy_modes() -> None:
    assert NetworkPolicy.parse(False).mode == "off"
    assert NetworkPolicy.parse(True).mode == "open"
    allow = NetworkPolicy.parse(["pypi.org"])
    assert allow.filtered and allow.allows("pypi.org", 443) and not allow.allows("x.org", 443)
    with pytest.raises(NetworkPolicyError, match="unknown network preset"):
        NetworkPolicy.parse("everything")
    with pytest.raises(NetworkPolicyError):
        NetworkPolicy.parse(3)  # type: ignore[arg-type]


def test_packages_preset_names_the_index_and_its_file_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from langchain_daytona_exec import netpolicy

    netpolicy.package_index_urls.cache_clear()
    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.org/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///opt/local http://mirror.example:8080/s")
    try:
        policy = NetworkPolicy.parse("packages")
        assert [str(p) for p in policy.allow] == [
            "pypi.org:443",
            "files.pythonhosted.org:443",
            "mirror.example:8080",
        ]
    finally:
        netpolicy.package_index_urls.cache_clear()


def test_environment_is_hashable_validated_and_immutable() -> None:
    a = Environment(packages=["pandas>=2", "tabulate"], env={"A": "1"}, files={"x.txt": b"1"})
    b = Environment(packages=("pandas>=2", "tabulate"), env={"A": "1"}, files={"x.txt": b"1"})
    assert a == b and hash(a) == hash(b) and a.digest == b.digest
    assert a.digest != Environment(packages=["pandas>=2"]).digest
    assert (
        Environment(packages=["b", "a"]).package_digest
        == Environment(packages=["a", "b"], env={"X": "y"}).package_digest
    )
    with pytest.raises(TypeError):
        a.env["B"] = "2"  # type: ignore[index]
    with pytest.raises(TypeError, match="list of requirement"):
        Environment(packages="pandas")
    with pytest.raises(ValueError, match="no pip options"):
        Environment(packages=["--index-url=http://evil"])
    with pytest.raises(ValueError, match="relative path"):
        Environment(files={"../x": "1"})


def test_bwrap_argv_binds_the_layer_read_only_and_the_proxy_socket() -> None:
    paths = isolation.SandboxPaths(python="/usr/bin/python3", prefixes=(), site_packages=())
    argv = isolation.bwrap_argv(
        mode="root",
        paths=paths,
        limits=limits.LocalLimits(),
        network=False,
        host_workspace="/h/work",
        seccomp_fd=3,
        passwd_fd=4,
        group_fd=5,
        kernel_argv=["k"],
        egress_socket="/h/egress.sock",
        layer="/cache/layer",
    )
    joined = " ".join(argv)
    assert "--ro-bind /cache/layer /opt/ldx-env" in joined
    assert "--bind /h/egress.sock /run/ldx-egress.sock" in joined
    assert "--unshare-net" in argv  # an allow-list keeps the private network namespace


def test_tool_descriptions_say_what_the_network_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_daytona_exec import DaytonaPythonTool, DaytonaShellTool, LocalBackend, netpolicy
    from langchain_daytona_exec.pool import SandboxPool

    monkeypatch.setenv("PIP_INDEX_URL", "https://pypi.org/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    netpolicy.package_index_urls.cache_clear()
    monkeypatch.setattr(netpolicy, "_pip_config", lambda key: None)

    closed = SandboxPool(LocalBackend(), min_idle=0)
    packages = SandboxPool(LocalBackend(network=["pypi.org:443", "files.pythonhosted.org:443"]))
    other = SandboxPool(LocalBackend(network=["example.com"]))
    try:
        text = DaytonaPythonTool(pool=closed).description
        assert "No network access" in text and "cannot reach an index" in text
        text = DaytonaShellTool(pool=packages).description
        assert "pip install <package>` works" in text and "pypi.org:443" in text
        text = DaytonaPythonTool(pool=other).description
        assert "only example.com" in text and "pip install" not in text
    finally:
        for p in (closed, packages, other):
            p.close()
        netpolicy.package_index_urls.cache_clear()


def test_data_analysis_description_lists_the_environments_packages() -> None:
    from langchain_daytona_exec import DaytonaDataAnalysisTool, LocalBackend
    from langchain_daytona_exec.pool import SandboxPool

    env = Environment(packages=["scikit-learn>=1.4", "openpyxl"])
    with SandboxPool(LocalBackend(environment=env)) as pool:
        text = DaytonaDataAnalysisTool(pool=pool).description
    assert "The environment also provides: scikit-learn>=1.4, openpyxl." in text
    with SandboxPool(LocalBackend()) as pool:
        assert "environment also provides" not in DaytonaDataAnalysisTool(pool=pool).description


def test_python_description_says_which_analysis_packages_exist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    from types import SimpleNamespace

    from langchain_daytona_exec.tools._network import packages_sentence

    local = SimpleNamespace(name="local", environment=Environment(packages=["tabulate"]))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda m, *a: None if m == "pandas" else real(m, *a)
    )
    text = packages_sentence(local)
    assert "pandas NOT installed" in text and "the environment adds tabulate" in text
    assert "usually installed" in packages_sentence(SimpleNamespace(name="daytona"))

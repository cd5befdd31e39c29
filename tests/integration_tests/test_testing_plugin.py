"""The pytest plugin of ``langchain_daytona_exec.testing``, run as a user's suite would run it.

A fresh pytest process collects a user's ``conftest.py`` (which enables the plugin)
and a test file that takes the ``daytona_backend`` fixture: the emulator starts, the
real SDK creates sandboxes on it, and each test's sandboxes are deleted after it.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

USER_CONFTEST = 'pytest_plugins = ["langchain_daytona_exec.testing.pytest_plugin"]\n'

USER_TESTS = textwrap.dedent(
    """
    from langchain_daytona_exec import DaytonaBackend, DaytonaToolkit, SandboxPool
    from langchain_daytona_exec.backends.daytona import OWNER_LABEL


    def test_code_runs_on_the_emulated_daytona(daytona_backend):
        assert isinstance(daytona_backend, DaytonaBackend)
        with daytona_backend.create() as sb:
            assert sb.run_code("x = 6 * 7\\nx").result == "42"
            sb.write_file("a.txt", "hi")
            assert sb.exec("cat a.txt").stdout == "hi"


    def test_tools_work_through_a_pool(daytona_backend):
        with SandboxPool(daytona_backend) as pool:
            python = DaytonaToolkit(pool=pool).get_tools()[0]
            out = python.invoke({"code": "print(2 + 2)"}, {"configurable": {"thread_id": "t"}})
            assert "4" in out


    def test_sandboxes_left_open_are_deleted_after_their_test(daytona_backend):
        left_open = daytona_backend.create()
        assert left_open.run_code("1").result == "1"
        # the next test checks that the emulator holds no sandbox of this owner


    def test_previous_tests_left_nothing(daytona_backend, daytona_emulator):
        owners = [
            e.id for e in daytona_backend.gc(0, labels={OWNER_LABEL: "pytest-3@emulator"},
                                             dry_run=True)
        ]
        assert owners == []
    """
)


def test_the_plugin_gives_a_working_daytona_backend(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", timeout=300)
    result.assert_outcomes(passed=4)

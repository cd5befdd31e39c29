"""The Deep Agents adapter's own mapping logic, on in-memory fake sandboxes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import pytest

pytest.importorskip("deepagents")

from deepagents.backends.composite import CompositeBackend
from deepagents.backends.protocol import (
    ExecuteResponse,
    FileDownloadResponse,
    FileUploadResponse,
)
from langchain_core.runnables import RunnableLambda

from langchain_daytona_exec import SandboxPool
from langchain_daytona_exec.deepagents import (
    ARTIFACTS_ROOT,
    MERGE_STDERR,
    NO_TIMEOUT_CAP_S,
    DeepAgentsSandbox,
    PooledDeepAgentsSandbox,
    deep_agent_backend,
)
from langchain_daytona_exec.errors import SandboxFileError, SandboxLostError
from langchain_daytona_exec.types import CommandResult
from tests.unit_tests.fakes import FakeBackend, FakeSandbox

T = TypeVar("T")


class ScriptedSandbox(FakeSandbox):
    """A fake sandbox that records ``exec`` calls and can play canned results."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.commands: list[tuple[str, float | None]] = []
        self.results: list[CommandResult | Exception] = []

    def exec(
        self,
        command: str,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        assert command.startswith(MERGE_STDERR), command
        command = command[len(MERGE_STDERR) :]
        self.commands.append((command, timeout))
        if self.results:
            result = self.results.pop(0)
            if isinstance(result, Exception):
                raise result
            return result
        return super().exec(command, cwd, env, timeout)


class ScriptedBackend(FakeBackend):
    def create(self, *, labels: Mapping[str, str] | None = None) -> ScriptedSandbox:
        sandbox = ScriptedSandbox(self, f"fake-{len(self.created) + 1}", labels)
        with self.lock:
            self.created.append(sandbox)
        return sandbox


@pytest.fixture
def fake() -> ScriptedSandbox:
    return ScriptedBackend().create()


# -- execute ---------------------------------------------------------------------------


def test_execute_merges_streams_and_keeps_exit_code(fake: ScriptedSandbox) -> None:
    fake.results.append(CommandResult(exit_code=3, stdout="out", stderr="[sandbox] note\n"))
    response = DeepAgentsSandbox(fake).execute("whatever")
    assert response == ExecuteResponse(output="out\n[sandbox] note\n", exit_code=3)


def test_execute_reports_cut_output_as_truncated(fake: ScriptedSandbox) -> None:
    fake.results.append(CommandResult(exit_code=0, stdout="a...b", stdout_truncated_bytes=10))
    assert DeepAgentsSandbox(fake).execute("x").truncated is True


def test_execute_timeout_is_124_with_partial_output(fake: ScriptedSandbox) -> None:
    fake.results.append(
        CommandResult(exit_code=124, stdout="started\n", timed_out=True, duration_ms=2000)
    )
    response = DeepAgentsSandbox(fake).execute("sleep 100", timeout=2)
    assert response.exit_code == 124
    assert response.output.startswith("started\n")
    assert "timed out after 2 s" in response.output
    assert fake.commands == [("sleep 100", 2.0)]


@pytest.mark.parametrize(
    ("default", "given", "passed"),
    [(None, None, None), (45.0, None, 45.0), (45.0, 5, 5.0), (None, 0, NO_TIMEOUT_CAP_S)],
)
def test_execute_timeout_choice(
    fake: ScriptedSandbox, default: float | None, given: int | None, passed: float | None
) -> None:
    DeepAgentsSandbox(fake, timeout=default).execute("true", timeout=given)
    assert fake.commands == [("true", passed)]


def test_execute_turns_a_lost_sandbox_into_an_unknown_exit_code(fake: ScriptedSandbox) -> None:
    fake.results.append(SandboxLostError("kernel died"))
    response = DeepAgentsSandbox(fake).execute("true")
    assert response.exit_code is None
    assert "died" in response.output and "Retry" in response.output


async def test_aexecute_matches_execute(fake: ScriptedSandbox) -> None:
    fake.results.append(CommandResult(exit_code=0, stdout="hi\n"))
    assert await DeepAgentsSandbox(fake).aexecute("echo hi") == ExecuteResponse("hi\n", 0)


# -- files -----------------------------------------------------------------------------


class PickySandbox(ScriptedSandbox):
    """Refuses some paths the way a real sandbox would."""

    def read_file(self, path: str, *, max_bytes: int | None = None) -> bytes:
        if path == "/secret":
            raise SandboxFileError("cannot open /secret: Permission denied", path)
        return super().read_file(path, max_bytes=max_bytes)

    def write_file(self, path: str, content: str | bytes) -> None:
        if path.startswith("/usr/"):
            raise SandboxFileError(f"cannot write {path}: Read-only file system", path)
        super().write_file(path, content)


@pytest.fixture
def picky() -> PickySandbox:
    return PickySandbox(FakeBackend(), "picky")


def test_upload_reports_each_file(picky: PickySandbox) -> None:
    responses = DeepAgentsSandbox(picky).upload_files(
        [
            ("/workspace/a.txt", b"a"),
            ("relative.txt", b"r"),
            ("/workspace/bad\0name", b"n"),
            ("/usr/x", b"x"),
            ("/workspace", b"dir"),
            ("/workspace/b.txt", b"b"),
        ]
    )
    assert responses == [
        FileUploadResponse("/workspace/a.txt"),
        FileUploadResponse("relative.txt", "invalid_path"),
        FileUploadResponse("/workspace/bad\0name", "invalid_path"),
        FileUploadResponse("/usr/x", "cannot write /usr/x: Read-only file system"),
        FileUploadResponse("/workspace", "is_directory"),
        FileUploadResponse("/workspace/b.txt"),
    ]
    assert picky.files == {"/workspace/a.txt": b"a", "/workspace/b.txt": b"b"}


def test_download_reports_each_file(picky: PickySandbox) -> None:
    picky.files["/workspace/a.txt"] = b"\x00\xff"
    responses = DeepAgentsSandbox(picky).download_files(
        ["/workspace/a.txt", "a.txt", "/workspace/missing", "/workspace", "/secret"]
    )
    assert responses == [
        FileDownloadResponse("/workspace/a.txt", b"\x00\xff"),
        FileDownloadResponse("a.txt", None, "invalid_path"),
        FileDownloadResponse("/workspace/missing", None, "file_not_found"),
        FileDownloadResponse("/workspace", None, "is_directory"),
        FileDownloadResponse("/secret", None, "permission_denied"),
    ]


async def test_async_file_twins_match(picky: PickySandbox) -> None:
    backend = DeepAgentsSandbox(picky)
    up = await backend.aupload_files([("/tmp/x", b"1"), ("x", b"2")])
    assert up == [FileUploadResponse("/tmp/x"), FileUploadResponse("x", "invalid_path")]
    down = await backend.adownload_files(["/tmp/x", "/secret"])
    assert down == [
        FileDownloadResponse("/tmp/x", b"1"),
        FileDownloadResponse("/secret", None, "permission_denied"),
    ]


def test_close_closes_the_sandbox(fake: ScriptedSandbox) -> None:
    with DeepAgentsSandbox(fake) as backend:
        assert backend.id == fake.id and backend.sandbox is fake
    assert fake.closed


# -- one sandbox per thread ------------------------------------------------------------


@pytest.fixture
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(ScriptedBackend(), handle_sigterm=False) as p:
        yield p


def _in_thread(thread_id: str, fn: Callable[[], T]) -> T:
    """Call ``fn()`` inside a runnable whose config carries ``thread_id``."""

    def call(_: object) -> T:
        return fn()

    result: T = RunnableLambda(call).invoke(None, {"configurable": {"thread_id": thread_id}})
    return result


def test_pooled_backend_gives_each_thread_its_sandbox(pool: SandboxPool) -> None:
    backend = PooledDeepAgentsSandbox(pool)
    backend_ = pool.backend
    assert isinstance(backend_, ScriptedBackend)
    _in_thread("t1", lambda: backend.upload_files([("/workspace/f", b"one")]))
    _in_thread("t2", lambda: backend.upload_files([("/workspace/f", b"two")]))
    t1 = _in_thread("t1", lambda: backend.download_files(["/workspace/f"]))
    assert t1 == [FileDownloadResponse("/workspace/f", b"one")]
    assert backend_.creates == 2
    assert _in_thread("t1", lambda: backend.id) == f"{pool.id}/t1"
    # Outside a graph run: the fallback key, a third sandbox.
    assert backend.thread_key() == "default"
    assert backend.execute("echo hi").output == "hi\n"
    assert backend_.creates == 3


async def test_pooled_backend_async_uses_the_thread(pool: SandboxPool) -> None:
    backend = PooledDeepAgentsSandbox(pool)

    async def call(_: object) -> ExecuteResponse:
        return await backend.aexecute("pwd")

    response = await RunnableLambda(call).ainvoke(None, {"configurable": {"thread_id": "a1"}})
    assert response == ExecuteResponse("/workspace\n", 0)
    assert pool.stats().live == 1


def test_pooled_backend_tells_the_model_once_that_state_was_lost(pool: SandboxPool) -> None:
    backend = PooledDeepAgentsSandbox(pool)
    fakes = pool.backend
    assert isinstance(fakes, ScriptedBackend)
    _in_thread("t1", lambda: backend.execute("true"))
    fakes.created[0].kill()
    first = _in_thread("t1", lambda: backend.execute("echo back"))
    assert isinstance(first, ExecuteResponse)
    assert first.output.startswith("[sandbox] Your previous sandbox state was lost")
    assert first.output.endswith("back\n") and first.exit_code == 0
    again = _in_thread("t1", lambda: backend.execute("echo back"))
    assert again == ExecuteResponse("back\n", 0)


def test_pooled_notice_waits_for_a_result_that_can_carry_it(pool: SandboxPool) -> None:
    backend = PooledDeepAgentsSandbox(pool)
    fakes = pool.backend
    assert isinstance(fakes, ScriptedBackend)
    _in_thread("t1", lambda: backend.execute("true"))
    fakes.created[0].kill()
    # A successful download cannot carry it; the next error can.
    _in_thread("t1", lambda: backend.upload_files([("/workspace/x", b"x")]))
    failed = _in_thread("t1", lambda: backend.read("/workspace/x"))  # the fake has no python3
    assert failed.error is not None and "previous sandbox state was lost" in failed.error


def test_pooled_backend_reports_pool_failures_as_results(pool: SandboxPool) -> None:
    backend = PooledDeepAgentsSandbox(pool)
    pool.close()
    response = backend.execute("true")
    assert response.exit_code is None and "closed" in response.output
    assert backend.read("/x").error is not None
    assert backend.upload_files([("/a", b""), ("/b", b"")])[1].error is not None


def test_deep_agent_backend_wraps_what_it_is_given(
    fake: ScriptedSandbox, pool: SandboxPool
) -> None:
    one = deep_agent_backend(fake, timeout=5)
    assert isinstance(one, CompositeBackend) and one.artifacts_root == ARTIFACTS_ROOT
    assert isinstance(one.default, DeepAgentsSandbox) and one.default.sandbox is fake
    assert one.execute("echo hi").output == "hi\n"
    assert fake.commands == [("echo hi", 5.0)]
    pooled = deep_agent_backend(pool, artifacts_root="/workspace/.agent")
    assert isinstance(pooled.default, PooledDeepAgentsSandbox) and pooled.default.pool is pool
    assert pooled.artifacts_root == "/workspace/.agent"
    made = DeepAgentsSandbox(fake)
    assert deep_agent_backend(made).default is made

"""DaytonaSandbox resolves relative paths against the work dir the sandbox reports.

A fake SDK sandbox records what the backend sends; its work dir is ``/home/daytona``
(Daytona's own images), not the emulator's or the local backend's folder.
"""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from typing import Any

from langchain_daytona_exec.backends.daytona import DaytonaBackend, DaytonaSandbox

WORK_DIR = "/home/daytona"


class FakeSdkSandbox:
    """Just enough of ``daytona.Sandbox`` for the file and shell calls."""

    def __init__(self) -> None:
        self.id = "sb-1"
        self.labels: dict[str, str] = {}
        self.work_dir_asked = 0
        self.sent: list[tuple[str, Any]] = []
        self.files: dict[str, bytes] = {}
        self.fs = SimpleNamespace(
            upload_file=self._upload,
            get_file_info=self._info,
            download_files=self._download,
            list_files=self._list,
        )
        self.process = SimpleNamespace(exec=self._exec)

    def get_work_dir(self) -> str:
        self.work_dir_asked += 1
        return WORK_DIR

    def _upload(self, data: bytes, path: str, timeout: int) -> None:
        self.sent.append(("upload", path))
        self.files[path] = data

    def _info(self, path: str, request_timeout: int) -> Any:
        self.sent.append(("info", path))
        return SimpleNamespace(is_dir=False, size=len(self.files[path]))

    def _download(self, requests: list[Any], timeout: int) -> list[Any]:
        self.sent.append(("download", [r.source for r in requests]))
        return [
            SimpleNamespace(source=r.source, error=None, result=self.files[r.source])
            for r in requests
        ]

    def _list(self, path: str, depth: int | None, request_timeout: int) -> list[Any]:
        self.sent.append(("list", path))
        stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).isoformat()
        return [
            SimpleNamespace(
                name=name.rsplit("/", 1)[1], path=name, is_dir=False, size=1, modified_at=stamp
            )
            for name in self.files
            if name.startswith(path.rstrip("/") + "/")
        ]

    def _exec(self, command: str, cwd: str | None, env: Any, timeout: int) -> Any:
        self.sent.append(("exec", cwd))
        return SimpleNamespace(result="", exit_code=0)


def make() -> tuple[DaytonaSandbox, FakeSdkSandbox]:
    sdk = FakeSdkSandbox()
    backend = DaytonaBackend(api_key="k", api_url="http://127.0.0.1:9/api", client=object())
    return DaytonaSandbox(backend, sdk), sdk


def test_relative_paths_resolve_against_the_reported_work_dir() -> None:
    sandbox, sdk = make()
    sandbox.write_file("data/a.csv", b"x,y\n")
    assert sandbox.read_file("data/a.csv") == b"x,y\n"
    listed = sandbox.list_files("data")
    sandbox.exec("pwd", cwd="sub/../sub")
    sandbox.exec("pwd")
    assert sdk.sent == [
        ("upload", f"{WORK_DIR}/data/a.csv"),
        ("info", f"{WORK_DIR}/data/a.csv"),
        ("download", [f"{WORK_DIR}/data/a.csv"]),
        ("list", f"{WORK_DIR}/data"),
        ("exec", f"{WORK_DIR}/sub"),
        ("exec", None),  # no cwd: the sandbox's own default, its work dir
    ]
    assert [(f.name, f.path) for f in listed] == [("a.csv", "data/a.csv")]
    assert sandbox.workdir == WORK_DIR and sdk.work_dir_asked == 1  # asked once


def test_absolute_paths_are_sent_as_given_without_asking_for_the_work_dir() -> None:
    sandbox, sdk = make()
    sandbox.write_file("/tmp/t.txt", b"t")
    assert sandbox.read_file("/tmp/t.txt") == b"t"
    sandbox.exec("ls", cwd="/tmp")
    assert [path for _, path in sdk.sent] == ["/tmp/t.txt", "/tmp/t.txt", ["/tmp/t.txt"], "/tmp"]
    assert sdk.work_dir_asked == 0

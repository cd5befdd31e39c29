from __future__ import annotations

from langchain_daytona_exec.backends.local import _isolation as isolation
from langchain_daytona_exec.backends.local import kernel
from langchain_daytona_exec.backends.local.capture import Capture


def test_capture_under_budget_keeps_everything() -> None:
    cap = Capture(100)
    cap.feed(b"hello ")
    cap.feed(b"world")
    assert cap.text() == ("hello world", 0)


def test_capture_keeps_head_and_tail_and_counts_the_cut() -> None:
    cap = Capture(10)
    cap.feed(b"0123456789" * 10)
    text, cut = cap.text()
    assert cut == 90
    assert text.startswith("01234")
    assert text.endswith("56789")
    assert "[90 bytes of output cut]" in text


def test_capture_many_small_chunks_is_exact() -> None:
    cap = Capture(8)
    for i in range(100):
        cap.feed(bytes([65 + i % 26]))
    text, cut = cap.text()
    assert cut == 92
    assert text.startswith("ABCD") and text.endswith("STUV")


def test_capture_survives_undecodable_bytes() -> None:
    cap = Capture(100)
    cap.feed(b"ok \xff\xfe end")
    text, _ = cap.text()
    assert text == "ok \\xff\\xfe end"


def test_the_kernel_drops_every_module_the_host_copies_in() -> None:
    # kernel.MODULES leave sys.modules before user code runs; the host copies in KERNEL_MODULES
    assert kernel.MODULES == isolation.KERNEL_MODULES

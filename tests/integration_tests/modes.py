"""Which isolation mode this host runs sandboxes in, for tests that need one."""

from __future__ import annotations

import os

import pytest

from langchain_daytona_exec.backends.local import _detect as detect
from langchain_daytona_exec.errors import IsolationUnavailableError


def root_mode() -> bool:
    """Whether sandboxes start in root mode here (bwrap works and this process is root)."""
    try:
        return os.geteuid() == 0 and detect.detect_mode() == "root"
    except IsolationUnavailableError:
        return False


FORKSERVER_ONLY = pytest.mark.skipif(not root_mode(), reason="the fork-server is root mode only")
"""Skips a test module (``pytestmark``) where the fork-server cannot run."""

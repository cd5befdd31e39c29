"""Optional dependencies: each feature names the extra that installs it.

The local backend and the tools need only the core dependencies; Daytona, the
emulator and the reference agent are extras (see ``pyproject.toml``). A feature calls
:func:`require_extra` before importing them, so a missing package is reported as the
``pip install`` line to run, not as a bare ``ModuleNotFoundError`` deep in a traceback.
"""

from __future__ import annotations

import importlib.util

from langchain_daytona_exec.errors import MissingExtraError

__all__ = ["require_extra"]

DISTRIBUTION = "langchain-daytona-exec"
"""The name to ``pip install`` (with the extra in brackets)."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a None in sys.modules
        return False


def require_extra(extra: str, *modules: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` unless every module can be imported.

    Looks the modules up without importing them.

    Args:
        extra: The extra of this distribution that installs the modules.
        *modules: Importable module names (``"daytona"``, ``"langgraph.checkpoint.sqlite"``).
        feature: What needs them, for the message (``"DaytonaBackend"``).

    Raises:
        MissingExtraError: Some module is missing; the message names the extra.
    """
    missing = tuple(m for m in modules if not _installed(m))
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)} (not installed): "
            f"pip install '{DISTRIBUTION}[{extra}]'",
            extra=extra,
            missing=missing,
        )

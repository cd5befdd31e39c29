"""Standard modules that ``exec``'s imports name but its run never uses: loaded on first use.

``dataclasses`` imports ``inspect`` at its top, and ``inspect`` brings ``ast``, ``dis``,
``tokenize`` and ``linecache``: ~5 ms before the sandbox can start, for one call
(``inspect.signature``, to write the docstring of a dataclass that has none; ours all
have one). The console script puts a stand-in in ``sys.modules`` before its first
import; the first attribute read imports the real module, and the stand-in becomes a
view of it (same functions, same globals), so every user of it sees the real module.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable

__all__ = ["DEFERRED", "defer"]

DEFERRED = ("inspect",)
"""What ``daytona-exec exec`` defers (see the module docstring)."""


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is read."""

    def __getattr__(self, name: str) -> object:
        real = sys.modules.get(self.__name__)
        if real is None or real is self:
            del sys.modules[self.__name__]
            from importlib import import_module

            try:
                real = import_module(self.__name__)
            except BaseException:
                sys.modules[self.__name__] = self  # as it was: the next read tries again
                raise
        self.__dict__.update(real.__dict__)  # later reads find it here, without this hook
        return getattr(real, name)


def defer(names: Iterable[str]) -> None:
    """Import each of ``names`` on the first read of one of its attributes.

    A module already imported is left alone.
    """
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = _Deferred(name)

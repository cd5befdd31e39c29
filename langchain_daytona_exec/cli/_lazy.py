"""Standard modules that ``exec``'s imports name but its run never uses: loaded on first use.

Modules imported at the top of others for a rarely used function cost ~8 ms before the
sandbox can start (:data:`DEFERRED` says which and why). The console script puts a
stand-in in ``sys.modules`` for each before its first import; the first attribute read
imports the real module, and the stand-in becomes a view of it (same functions, same
globals), so every user of it sees the real module.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable

__all__ = ["DEFERRED", "defer"]

DEFERRED = {
    "inspect": "dataclasses imports it (with ast, dis, tokenize, linecache: ~5 ms) only to "
    "write the docstring of a dataclass that has none; ours all have one",
    "copy": "dataclasses imports it for replace() and asdict()",
    "bz2": "shutil imports it (and lzma, zlib) to know which archive formats it can "
    "write; nothing here makes archives",
    "lzma": "see bz2",
    "zlib": "see bz2",
    "locale": "subprocess imports it for text-mode pipes; the sandbox's pipes are bytes",
    "contextvars": "the async twins use it (run_blocking); the command is synchronous",
}
"""What ``daytona-exec exec`` defers, and why its run does not need it (~8 ms together)."""


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

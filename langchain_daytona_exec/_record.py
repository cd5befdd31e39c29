"""A base for the small immutable value classes on the sandbox's start-up path.

A frozen dataclass compiles its generated ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` from source text when its module is
imported: about 0.5 ms per class, measured here, paid by every ``daytona-exec exec``
before its sandbox can start. :class:`FrozenRecord` gives the same behaviour (equality
and hash by field values, the dataclass ``repr``, assignment refused, pickling) from
``__slots__``, compiling nothing; a subclass lists its fields in ``__slots__`` and
writes a typed ``__init__`` that calls :meth:`FrozenRecord._assign`.
"""

from __future__ import annotations

__all__ = ["FrozenRecord"]


class FrozenRecord:
    """Immutable fields named by ``__slots__``, in order; compared and hashed by value."""

    __slots__ = ()

    def _fields(self) -> tuple[str, ...]:
        names: tuple[str, ...] = type(self).__slots__
        return names

    def _assign(self, *values: object) -> None:
        """Set every field, in ``__slots__`` order (from ``__init__`` only)."""
        for name, value in zip(self._fields(), values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, FrozenRecord)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields())
        return f"{type(self).__qualname__}({fields})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (type(self), self._values())

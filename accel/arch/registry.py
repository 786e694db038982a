"""Registry of arch schemas keyed by ``kind:`` (one file per device kind registers itself)."""

from __future__ import annotations

from typing import Callable, TypeVar

from accel.arch.base import DeviceSpec

_KINDS: dict[str, type[DeviceSpec]] = {}

T = TypeVar("T", bound=type[DeviceSpec])


def register_kind(kind: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`DeviceSpec` subclass as the schema for ``kind:``."""

    def deco(cls: T) -> T:
        if kind in _KINDS and _KINDS[kind] is not cls:
            raise ValueError(f"arch kind {kind!r} registered twice ({_KINDS[kind].__name__}, {cls.__name__})")
        cls.KIND = kind
        _KINDS[kind] = cls
        return cls

    return deco


def schema_for(kind: str) -> type[DeviceSpec]:
    _import_builtin_kinds()
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(kind) from None


def known_kinds() -> list[str]:
    _import_builtin_kinds()
    return sorted(_KINDS)


_BUILTIN_MODULES = ("cpu", "gpu", "systolic", "fpga", "dsp", "link", "system")


def _import_builtin_kinds() -> None:
    import importlib

    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(f"accel.arch.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"accel.arch.{mod}":
                raise

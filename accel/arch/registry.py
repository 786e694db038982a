"""Registry of arch schemas keyed by ``kind:``: the module ``accel/arch/<kind>.py`` registers the schema of
``kind: <kind>`` (:func:`register_kind`) when imported. Kinds are discovered by module name: a YAML's
``kind: foo`` imports ``accel.arch.foo``; :func:`known_kinds` imports every module of the package that
is not infrastructure (:data:`NOT_KINDS`). No hand-kept list (ARCHITECTURE.md, "a new device kind")."""

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
    """The schema registered for ``kind`` (imports ``accel.arch.<kind>`` on first use); KeyError if none."""
    if kind not in _KINDS:
        _import_kind_module(kind)
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(kind) from None


def known_kinds() -> list[str]:
    """Every kind the package's modules register (and any registered by other code)."""
    import pkgutil

    import accel.arch as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name not in NOT_KINDS:
            _import_kind_module(m.name)
    return sorted(_KINDS)


#: modules of ``accel.arch`` that are infrastructure, not a device kind
NOT_KINDS = frozenset({"base", "loader", "registry", "device_check"})


def _import_kind_module(name: str) -> None:
    import importlib

    if not name.isidentifier() or name in NOT_KINDS:
        return
    try:
        importlib.import_module(f"accel.arch.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"accel.arch.{name}":
            raise

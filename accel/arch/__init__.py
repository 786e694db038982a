"""Arch YAML schemas (one per device kind) and loading. See ``accel/arch/base.py``."""

from accel.arch.base import DeviceSpec
from accel.arch.loader import list_archs, load_arch, validate_arch_dict
from accel.arch.registry import known_kinds, register_kind, schema_for

__all__ = ["DeviceSpec", "list_archs", "load_arch", "validate_arch_dict", "known_kinds", "register_kind", "schema_for"]

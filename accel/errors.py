"""Error types that name the file, the field and the reason, so bad input is never silent."""

from __future__ import annotations

from typing import Any, Sequence


class AccelError(Exception):
    """Base class of every error accel raises on purpose."""


class ConfigError(AccelError, ValueError):
    """A configuration file (arch YAML, sweep spec, measurement CSV) is invalid.

    The message always reads ``<file>: <field>: <reason>`` so a user can fix the
    exact line without reading a traceback.
    """

    def __init__(self, file: str | None, field: str | None, reason: str):
        self.file = str(file) if file is not None else "<memory>"
        self.field = field or "<root>"
        self.reason = reason
        super().__init__(f"{self.file}: {self.field}: {reason}")


class ResultRangeError(ConfigError):
    """A simulated quantity (time, energy, bytes, throughput) came out non-finite, negative or zero
    where it must be positive. The message names the quantity, the op and the input that caused it,
    instead of printing ``inf``/``nan``/negative numbers."""


class UnknownKindError(ConfigError, KeyError):
    """An arch ``kind`` that has no cost model (e.g. a ``system`` or ``link`` where a device is needed)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class UnknownOpError(AccelError, KeyError):
    """A cost model was asked for an op kind it does not know."""

    def __init__(self, op_kind: str, device: str, allowed: list[str] | tuple[str, ...], op_name: str | None = None):
        self.op_kind = op_kind
        self.device = device
        self.allowed = sorted(allowed)
        self.op_name = op_name
        where = f" (op {op_name!r})" if op_name else ""
        super().__init__(
            f"op kind {op_kind!r}{where} has no cost model on device {device!r}; "
            f"allowed kinds: {', '.join(self.allowed)}"
        )

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


def did_you_mean(name: str, allowed) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``allowed`` to a mistyped ``name``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def first_error(errors: Sequence[Any]) -> Any:
    """The pydantic error to report first: an unknown (e.g. mistyped) key before anything else.

    A typo such as ``clokc:`` yields both "clock: Field required" and "clokc: extra
    forbidden"; the second one names the line the user has to fix.
    """
    return next((e for e in errors if e.get("type") == "extra_forbidden"), errors[0])

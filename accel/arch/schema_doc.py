"""Field reference of an arch schema, generated from the pydantic models (``accel archs schema KIND``).

Each field: its dotted path, its type with the unit (SI base unit after parsing; YAML accepts any
unit of the same dimension), whether it is required, its default, and the description from the
``Attributes:`` section of the class docstring that declares it.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from typing import Any

from pydantic import BaseModel

#: fields every arch has that the reference leaves out (bookkeeping, not hardware)
_SKIP = {"origin", "sources", "KIND"}


def _attribute_docs(cls: type) -> dict[str, str]:
    """``name -> description`` from the ``Attributes:`` sections of ``cls`` and its bases' docstrings."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        doc = inspect.getdoc(klass) or ""
        m = re.search(r"^Attributes:\n(.*?)(?:\n\S|\Z)", doc, re.S | re.M)
        if not m:
            continue
        current = None
        for line in m.group(1).splitlines():
            hit = re.match(r"^\s{4}([\w./ ]+?):\s*(.*)$", line)
            if hit and not line.startswith(" " * 8):
                for name in re.split(r"\s*/\s*", hit.group(1)):
                    out[name.strip()] = hit.group(2).strip()
                current = [n.strip() for n in re.split(r"\s*/\s*", hit.group(1))]
            elif current and line.strip():
                for name in current:
                    out[name] = (out[name] + " " + line.strip()).strip()
    return out


def _unit(meta: list[Any]) -> str:
    from accel.arch.base import UnitOf

    for m in meta:
        if isinstance(m, UnitOf):
            return f"{m.dimension.name} ({m.dimension.base_unit})"
    return ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Pydantic model classes inside a field's annotation (through Optional, list, dict)."""
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return str(annotation).replace("typing.", "")


def field_rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str, str]]:
    """(path, type, unit, required/default, description) for every field of ``model``, nested models expanded."""
    docs = _attribute_docs(model)
    rows: list[tuple[str, str, str, str, str]] = []
    for name, f in model.model_fields.items():
        if name in _SKIP:
            continue
        path = f"{prefix}{name}"
        unit = _unit(list(f.metadata))
        if not unit:
            for a in typing.get_args(f.annotation):  # Optional[Annotated[float, unit]]
                if typing.get_origin(a) is typing.Annotated:
                    unit = _unit(list(typing.get_args(a)[1:]))
        req = "required" if f.is_required() else f"default {f.get_default(call_default_factory=True)!r}"
        rows.append((path, _type_name(f.annotation), unit, req, docs.get(name, "")))
        for sub in _models_in(f.annotation):
            suffix = "[]." if typing.get_origin(f.annotation) is list else "."
            rows += field_rows(sub, f"{path}{suffix}")
    return rows


def render_schema(kind: str) -> str:
    """The field reference of arch ``kind`` as text."""
    from accel.arch.registry import schema_for

    cls = schema_for(kind)
    rows = field_rows(cls)
    head = (f"kind: {kind}  ({cls.__module__}.{cls.__name__}); optional `format: accel.arch/1`\n"
            "units: YAML takes any unit of the dimension (e.g. '1.98 GHz', '50 MiB'); values are stored in SI\n")
    lines = [head]
    for path, typ, unit, req, doc in rows:
        lines.append(f"{path}: {typ}{' — ' + unit if unit else ''}; {req}")
        if doc:
            lines.append(f"    {doc}")
    return "\n".join(lines)

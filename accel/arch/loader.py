"""Load and validate arch YAML files; find bundled archs by name.

``load_arch("h100")`` finds ``archs/**/h100.yaml`` (bundled in the wheel as
``accel/_bundled/archs``); ``load_arch("my/dir/x.yaml")`` loads a path. Errors are
:class:`accel.errors.ConfigError` reading ``<file>: <field>: <reason>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from accel.arch.base import DeviceSpec
from accel.arch.registry import known_kinds, schema_for
from accel.errors import ConfigError, did_you_mean, first_error


def archs_dirs() -> list[Path]:
    """Directories searched for bundled arch YAML, in order."""
    here = Path(__file__).resolve().parent.parent
    dirs = [here / "_bundled" / "archs", here.parent / "archs"]
    return [d for d in dirs if d.is_dir()]


def list_archs() -> dict[str, Path]:
    """Map of arch name (file stem) -> path for every bundled arch YAML."""
    found: dict[str, Path] = {}
    for d in archs_dirs():
        for p in sorted(d.rglob("*.yaml")):
            found.setdefault(p.stem, p)
    return found


def resolve_arch_path(name_or_path: str | Path) -> Path:
    """Turn an arch name (``"h100"``) or a path into an existing file path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise ConfigError(str(p), None, "file not found")
        return p
    archs = list_archs()
    key = str(name_or_path).lower()
    if key in archs:
        return archs[key]
    raise ConfigError(
        str(name_or_path), None,
        f"no arch named {str(name_or_path)!r}; bundled archs: {', '.join(sorted(archs)) or '(none found)'}",
    )


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning syntax errors into ConfigError with line numbers."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise ConfigError(str(path), where, f"malformed YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise ConfigError(str(path), None, f"cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, f"expected a mapping at top level, got {type(data).__name__}")
    return data


def extract_sources(data: Any, path: str = "", out: dict[str, str] | None = None) -> tuple[Any, dict[str, str]]:
    """Unwrap inline ``{value: X, source: S}`` leaves; return (plain data, {dotted path: source})."""
    out = {} if out is None else out
    if isinstance(data, dict):
        if set(data) == {"value", "source"}:
            out[path] = str(data["source"])
            return data["value"], out
        plain = {}
        for k, v in data.items():
            if k == "sources" and not path:
                plain[k] = v
                continue
            plain[k], _ = extract_sources(v, f"{path}.{k}" if path else str(k), out)
        return plain, out
    if isinstance(data, list):
        return [extract_sources(v, f"{path}[{i}]", out)[0] for i, v in enumerate(data)], out
    return data, out


def _is_number_like(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, str) and bool(v.strip()) and (v.strip()[0].isdigit() or v.strip()[0] in "+-.")


def uncited_numbers(data: Any, sources: dict[str, str], path: str = "") -> list[str]:
    """Dotted paths of numeric leaves with no source at their path or any parent path."""
    missing: list[str] = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k in ("sources", "kind", "name", "description") and not path:
                continue
            missing += uncited_numbers(v, sources, f"{path}.{k}" if path else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            missing += uncited_numbers(v, sources, f"{path}[{i}]")
    elif _is_number_like(data):
        parts = path.replace("[", ".[").split(".")
        prefixes = {".".join(parts[:i]).replace(".[", "[") for i in range(1, len(parts) + 1)}
        if not prefixes & set(sources):
            missing.append(path)
    return missing


def _fields_at(schema: type, loc: tuple) -> list[str]:
    """Field names of the pydantic model reached from ``schema`` along ``loc`` (the schema's own if unknown)."""
    import typing

    from pydantic import BaseModel

    model = schema
    for part in loc:
        if isinstance(part, int):
            continue
        f = getattr(model, "model_fields", {}).get(str(part))
        if f is None:
            return list(schema.model_fields) if model is schema else list(model.model_fields)
        cands = [f.annotation, *typing.get_args(f.annotation)]
        nxt = next((c for c in cands if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            break
        model = nxt
    return list(model.model_fields)


def validate_arch_dict(data: dict[str, Any], file: str = "<memory>", require_sources: bool = False) -> DeviceSpec:
    """Validate a raw arch mapping against the schema its ``kind:`` names."""
    plain, inline_sources = extract_sources(data)
    kind = plain.get("kind")
    if kind is None:
        raise ConfigError(file, "kind", f"missing; allowed kinds: {', '.join(known_kinds())}")
    try:
        schema = schema_for(str(kind))
    except KeyError:
        raise ConfigError(file, "kind", f"unknown kind {kind!r}; allowed kinds: {', '.join(known_kinds())}") from None
    file_sources = plain.get("sources") or {}
    if not isinstance(file_sources, dict):
        raise ConfigError(file, "sources", "must be a mapping of field path -> citation")
    sources = {**{str(k): str(v) for k, v in file_sources.items()}, **inline_sources}
    if require_sources:
        missing = uncited_numbers(plain, sources)
        if missing:
            raise ConfigError(file, missing[0], f"number has no cited source (also uncited: {', '.join(missing[1:6]) or 'none'}); "
                              "write {value: ..., source: ...} or add it under `sources:`")
    plain = {**plain, "sources": sources, "origin": file}
    try:
        return schema.model_validate(plain, context={"file": file})
    except ValidationError as exc:
        err = first_error(exc.errors())
        field = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        if field is None and msg.split(" ", 1)[0] in schema.model_fields:  # cross-field check, e.g.
            field = msg.split(" ", 1)[0]                                  # "idle_power must be below tdp"
        if err["type"] == "extra_forbidden":
            names = sorted(f for f in _fields_at(schema, err["loc"][:-1]) if f not in ("origin",))
            msg = (f"unknown field{did_you_mean(str(err['loc'][-1]), names)}; "
                   f"allowed fields{' here' if len(err['loc']) > 1 else ''}: {', '.join(names)}")
        more = f" (+{len(exc.errors()) - 1} more errors)" if len(exc.errors()) > 1 else ""
        raise ConfigError(file, field, msg + more) from None


def load_arch(name_or_path: str | Path, require_sources: bool | None = None) -> DeviceSpec:
    """Load an arch by bundled name or path and validate it.

    Shipped archs (found by name) must cite a source for every number; user files
    are checked for sources only when ``require_sources=True``.
    """
    path = resolve_arch_path(name_or_path)
    bundled = any(d in path.resolve().parents for d in archs_dirs())
    if require_sources is None:
        require_sources = bundled
    return validate_arch_dict(read_yaml(path), str(path), require_sources=require_sources)

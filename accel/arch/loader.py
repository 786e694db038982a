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
    """Turn an arch name (``"h100"``) or a path into an existing file path.

    An argument that looks like a path (contains a path separator or ends in ``.yaml``/``.yml``)
    must be an existing file. Any other argument is a bundled arch name first, so a file or
    folder named ``h100`` in the current directory does not shadow the bundled ``h100``; a bare
    name that is not bundled but is an existing file is loaded as that file.
    """
    p = Path(name_or_path)
    text = str(name_or_path)
    looks_like_path = "/" in text or "\\" in text \
        or p.suffix.lower() in (".yaml", ".yml")
    if looks_like_path:
        if not p.is_file():
            raise ConfigError(str(p), None, "file not found" if not p.exists() else "not a file")
        return p
    archs = list_archs()
    key = text.lower()
    if key in archs:
        return archs[key]
    if p.is_file():
        return p
    raise ConfigError(
        str(name_or_path), None,
        f"no arch named {str(name_or_path)!r}; bundled archs: {', '.join(sorted(archs)) or '(none found)'}",
    )


#: largest YAML file accepted (bytes); the biggest shipped arch is ~10 KB
MAX_YAML_BYTES = 1 << 20
#: most YAML nodes a document may expand to, every alias counted at each use (a "billion laughs"
#: document of a few hundred bytes expands to 10**9 nodes; the biggest shipped arch has ~600)
MAX_YAML_NODES = 100_000


class _StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate mapping keys (instead of keeping the last one)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` merges; explicit keys may override merged ones
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(None, None, "unhashable mapping key",
                                                            key_node.start_mark) from None
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first defined on line {first + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _expanded_nodes(root: yaml.Node, limit: int) -> int:
    """Nodes of the document with every alias expanded (capped at ``limit + 1``); ValueError on a cycle."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        k = id(n)
        if k in memo:
            return memo[k]
        if k in active:
            raise ValueError("recursive alias (a node contains itself)")
        active.add(k)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            for c in n.value:
                total = min(total + size(c), limit + 1)
        elif isinstance(n, yaml.MappingNode):
            for kn, vn in n.value:
                total = min(total + size(kn) + size(vn), limit + 1)
        active.discard(k)
        memo[k] = total
        return total

    return size(root)


def parse_yaml_text(text: str, file: str, max_nodes: int = MAX_YAML_NODES) -> Any:
    """Parse one YAML document safely: no Python tags, no duplicate keys, bounded alias expansion."""
    loader = _StrictSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            n = _expanded_nodes(node, max_nodes)
        except ValueError as exc:
            raise ConfigError(file, None, f"malformed YAML: {exc}") from None
        if n > max_nodes:
            raise ConfigError(file, None, f"YAML expands to more than {max_nodes:,} nodes (aliases counted at "
                                          "each use); refusing a possible alias bomb")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, where, f"malformed YAML: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise ConfigError(file, None, "malformed YAML: nested too deeply") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, max_bytes: int = MAX_YAML_BYTES) -> dict[str, Any]:
    """Read a YAML mapping from a regular UTF-8 file of at most ``max_bytes`` bytes.

    Every problem is a :class:`ConfigError` naming the file (and the line where known):
    missing/non-regular/oversized files, non-UTF-8 bytes, syntax errors, duplicate keys,
    aliases expanding beyond :data:`MAX_YAML_NODES`, a top level that is not a mapping.
    Used for arch, system, sweep-spec and area-model files.
    """
    from accel.graph import read_text_checked

    path = Path(path)
    text = read_text_checked(path, max_bytes, what="YAML file")
    data = parse_yaml_text(text, str(path))
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


def _fields_at(schema: Any, loc: tuple) -> list[str]:
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


#: the arch YAML format this version reads (an optional top-level ``format:`` key must say so)
ARCH_FORMAT = "accel.arch/1"


def validate_arch_dict(data: dict[str, Any], file: str = "<memory>", require_sources: bool = False) -> DeviceSpec:
    """Validate a raw arch mapping against the schema its ``kind:`` names."""
    if not isinstance(data, dict):
        raise ConfigError(file, None, f"expected a mapping at top level, got {type(data).__name__}")
    plain, inline_sources = extract_sources(data)
    fmt = plain.pop("format", ARCH_FORMAT)
    if fmt != ARCH_FORMAT:
        raise ConfigError(file, "format", f"unsupported format {fmt!r}; allowed: {ARCH_FORMAT} (this accel reads "
                                          "that version of the arch schema; see `accel archs schema KIND`)")
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
        head = msg.split(" ", 1)[0]
        if field is None and head.rstrip(":").split(".")[0] in schema.model_fields:  # cross-field check, e.g.
            field = head.rstrip(":")                                                # "idle_power must be below tdp"
            if head.endswith(":"):                                                  # "fused_kinds: unknown ..."
                msg = msg.split(" ", 1)[1] if " " in msg else msg
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

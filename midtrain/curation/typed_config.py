"""Checking a YAML/dict config against typed dataclasses, with errors that name the key path.

``from_mapping(CurateConfig, data, "config")`` builds the dataclass or raises
:class:`midtrain.errors.ConfigError` such as ``config.executor.workers: expected int, got str
('two')`` or ``config.output.shard_mb: unknown key (known: keep_stages, shard_size_mb)``. The
supported annotations are the ones configs need: ``bool``, ``int``, ``float``, ``str``, ``Any``,
``Literal``, ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and nested dataclasses.
A nested dataclass with a ``parse(str)`` classmethod also accepts its one-string form (an eval set
``gsm8k=test.jsonl:question``). A :class:`ConfigError` raised by a dataclass's own checks
(``__post_init__``, whose messages start with the field name) gets the key path in front.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any, Literal, Union

from midtrain.errors import ConfigError

_MISSING = dataclasses.MISSING


def from_mapping(cls: type, data: Any, path: str) -> Any:
    """An instance of dataclass ``cls`` from ``data``, every value checked against its annotation."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown key (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = coerce(data[name], hints[name], f"{path}.{name}")
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{path}.{name}: required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{path}.{exc}") from None


def check_call_params(func: Any, params: Any, path: str, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check keyword arguments for ``func`` (e.g. a step's constructor) against its signature."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping of parameters, got {_describe(params)}")
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # a third-party annotation we cannot resolve: check names only
        hints = {}
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    allowed = {n: p for n, p in sig.parameters.items()
               if n != "self" and n not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    out = {}
    for key, value in params.items():
        if key not in allowed:
            if accepts_any:
                out[key] = value
                continue
            raise ConfigError(f"{path}.{key}: unknown parameter (known: {', '.join(sorted(allowed)) or 'none'})")
        out[key] = coerce(value, hints[key], f"{path}.{key}") if key in hints else value
    missing = [n for n, p in allowed.items() if p.default is p.empty and n not in params]
    if missing:
        raise ConfigError(f"{path}.{missing[0]}: required parameter is missing")
    return out


def coerce(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against ``hint`` (ints are accepted for floats; nothing else is converted)."""
    if hint is Any or hint is object:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):  # its own error names the key
                return coerce(value, arg, path)
            try:
                return coerce(value, arg, path)
            except ConfigError as exc:
                errors.append(str(exc))
        names = " or ".join(_name(a) for a in args)
        raise ConfigError(f"{path}: expected {names}, got {_describe(value)}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{path}: expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {_describe(value)}")
        item = args[0] if args else Any
        items = [coerce(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if tuple in (origin, hint) else items
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_describe(value)}")
        key_t, val_t = args if args else (Any, Any)
        return {coerce(k, key_t, f"{path}.{k}"): coerce(v, val_t, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(value, str) and hasattr(hint, "parse"):
            return hint.parse(value)
        return from_mapping(hint, value, path)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {_describe(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {_describe(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {_describe(value)}")
        return value
    if isinstance(hint, type):
        if not isinstance(value, hint):
            raise ConfigError(f"{path}: expected {hint.__name__}, got {_describe(value)}")
        return value
    return value


def _name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:60]})"

"""Strict parsing of JSON data into (frozen) dataclasses, for the index manifest.

Every key must be a field, every field without a default must be there, and every value must
have its field's type: a manifest cut short, edited by hand or written by another version is
refused, saying where (``corpora[0].items: missing``), rather than half-read. Written by hand,
not with pydantic: every command that opens an index reads a manifest, and importing pydantic
cost 120-200 ms per process here, more than loading a 17,000-item index (about 60 ms).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from enum import Enum
from typing import Any


class StrictJsonError(ValueError):
    """The data does not fit the dataclass; the message says where and why."""


def parse_dataclass(data: Any, cls: type, where: str = "") -> Any:
    """``cls(**data)``, each field parsed by its type hint, nothing unknown or missing."""
    if not isinstance(data, dict):
        raise StrictJsonError(f"{where or 'top level'}: not an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise StrictJsonError(f"{_at(where, unknown[0])}: unknown key")
    hints = _type_hints(cls)
    values = {}
    for name, field in fields.items():
        if name in data:
            values[name] = _parse(data[name], hints[name], _at(where, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise StrictJsonError(f"{_at(where, name)}: missing")
    return cls(**values)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _parse(value: Any, hint: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return parse_dataclass(value, hint, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:  # tuple[X, ...], stored as a JSON list
        if not isinstance(value, list):
            raise StrictJsonError(f"{where}: not a list")
        return tuple(_parse(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise StrictJsonError(f"{where}: not an object")
        return {k: _parse(v, args[1], _at(where, k)) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _parse(value, arg, where)
            except StrictJsonError:
                continue
        raise StrictJsonError(f"{where}: {value!r} is none of {hint}")
    if hint is Any:
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            choices = ", ".join(repr(m.value) for m in hint)
            raise StrictJsonError(f"{where}: {value!r} is not one of {choices}") from None
    if hint is float and type(value) in (int, float):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    wanted = getattr(hint, "__name__", str(hint))
    raise StrictJsonError(f"{where}: expected {wanted}, found {type(value).__name__}")

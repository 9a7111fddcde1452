"""The base of every record that crosses a module line: a frozen dataclass that serialises to
JSON and back. Profiles, diffs, cell runs and versions all use it, so the store can keep them
as JSON and the UI, CLI and explainers read the same shapes."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T", bound="Record")


def json_safe(value: Any) -> Any:
    """Plain JSON types only: NaN/inf become None, numpy scalars become Python numbers."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _identity(value: Any) -> Any:
    return value


def _none_safe(convert):
    return lambda value: None if value is None else convert(value)


@functools.lru_cache(maxsize=None)
def _converter(tp: Any):
    """A function that rebuilds a JSON value as `tp` (records, also inside tuples and dicts;
    None stays None), made once per type. `from_dict` used to walk `typing`'s introspection
    for every field of every record: a page's timeline of 300 cells (11,200 impact records)
    spent ~0.5 s of its 0.6 s there."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        arg = next((a for a in typing.get_args(tp) if a is not type(None)), None)
        return _identity if arg is None else _converter(arg)
    if isinstance(tp, type) and issubclass(tp, Record):
        return _none_safe(tp.from_dict)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _converter(args[0])
            return _none_safe(tuple if item is _identity else lambda value: tuple(item(v) for v in value))
        items = tuple(_converter(a) for a in args)
        return _none_safe(lambda value: tuple(c(v) for c, v in zip(items, value)))
    if origin is dict:
        item = _converter(typing.get_args(tp)[1])
        return _none_safe(dict if item is _identity else lambda value: {k: item(v) for k, v in value.items()})
    return _identity


@functools.lru_cache(maxsize=None)
def _fields(cls) -> tuple:
    """(name, converter) for each field of a record class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, _converter(hints[f.name])) for f in dataclasses.fields(cls))


class Record:
    """Mixin for frozen dataclasses: `to_dict`, `to_json`, `from_dict`, `from_json`."""

    def to_dict(self) -> dict:
        return json_safe(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        return cls(**{name: convert(data[name]) for name, convert in _fields(cls) if name in data})

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))

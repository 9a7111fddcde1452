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


def _rebuild(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                continue
            return _rebuild(arg, value)
        return value
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict(value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_rebuild(args[0], v) for v in value)
        return tuple(_rebuild(a, v) for a, v in zip(args, value))
    if origin is dict:
        _, vt = typing.get_args(tp)
        return {k: _rebuild(vt, v) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


class Record:
    """Mixin for frozen dataclasses: `to_dict`, `to_json`, `from_dict`, `from_json`."""

    def to_dict(self) -> dict:
        return json_safe(self)

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls: type[T], data: dict) -> T:
        hints = _hints(cls)
        kwargs = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                kwargs[f.name] = _rebuild(hints[f.name], data[f.name])
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))

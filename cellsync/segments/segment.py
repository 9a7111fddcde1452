"""The `Segment` record: checked against a frame, evaluated to a boolean mask with
vectorised pandas (never `eval`)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from ..profile import label_text
from ..records import Record
from .grammar import _FLIP, SegmentError, columns_of, parse, to_text


# --- the record ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment(Record):
    name: str
    text: str
    spec: dict
    source: str = "user"  # user | suggested | dashboard
    frame: str | None = None  # None: any frame that has the columns

    @classmethod
    def from_text(cls, text: str, name: str | None = None, source: str = "user", frame: str | None = None) -> "Segment":
        spec = parse(text)
        return cls(name=name or to_text(spec), text=to_text(spec), spec=spec, source=source, frame=frame)

    def to_spec(self) -> dict:
        return {"name": self.name, "text": self.text, "spec": self.spec, "source": self.source, "frame": self.frame}

    @classmethod
    def from_spec(cls, data: dict) -> "Segment":
        spec = data.get("spec") or parse(data["text"])
        _check_spec(spec)
        return cls(name=data.get("name") or to_text(spec), text=to_text(spec), spec=spec,
                   source=data.get("source", "user"), frame=data.get("frame"))

    @property
    def columns(self) -> list[str]:
        return columns_of(self.spec)

    def fits(self, frame: pd.DataFrame) -> bool:
        try:
            self.check(frame)
            return True
        except SegmentError:
            return False

    def check(self, frame: pd.DataFrame) -> None:
        """Raise SegmentError if a column is unknown or a value does not fit its type."""
        _check(self.spec, _column_lookup(frame), self.text)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rows are in the segment (missing values are never in a comparison)."""
        lookup = _column_lookup(frame)
        _check(self.spec, lookup, self.text)
        return _evaluate(self.spec, lookup, len(frame))


_SPEC_KEYS = {
    "and": {"args"}, "or": {"args"}, "not": {"arg"}, "cmp": {"column", "cmp", "value"},
    "cmpcol": {"column", "cmp", "other"}, "missing": {"column", "negate"},
    "in": {"column", "values", "negate"}, "truthy": {"column"},
}


def _check_spec(spec) -> None:
    """A spec from JSON (the dashboard, the store) is validated as strictly as parsed text."""
    if not isinstance(spec, dict) or spec.get("op") not in _SPEC_KEYS:
        raise SegmentError(f"not a segment spec: {str(spec)[:80]}")
    missing = _SPEC_KEYS[spec["op"]] - set(spec)
    if missing:
        raise SegmentError(f"segment spec {spec['op']!r} lacks {sorted(missing)}")
    if spec["op"] in ("and", "or"):
        for a in spec["args"]:
            _check_spec(a)
    elif spec["op"] == "not":
        _check_spec(spec["arg"])
    elif spec["op"] in ("cmp", "cmpcol") and spec["cmp"] not in _FLIP:
        raise SegmentError(f"unknown comparison {spec['cmp']!r}")
    literals = [spec.get("value")] if spec["op"] == "cmp" else list(spec.get("values", []))
    for v in literals:
        if not isinstance(v, (int, float, str, bool)):
            raise SegmentError(f"segment values are numbers, text or true/false, not {type(v).__name__}")


# --- checking and evaluating against a frame -----------------------------------------------


def _column_lookup(frame: pd.DataFrame) -> dict[str, pd.Series]:
    out = {}
    for j in range(frame.shape[1]):
        out.setdefault(label_text(frame.columns[j]), frame.iloc[:, j])
    return out


def _unknown(column: str, known, text: str) -> SegmentError:
    close = difflib.get_close_matches(column, list(known), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        if column.lower() in lowered:
            close = [lowered[column.lower()]]
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return SegmentError(f"no column {column!r} in this frame{hint} (in {text!r})")


def _kind(s: pd.Series) -> str:
    dt = s.dtype
    if pdt.is_bool_dtype(dt):
        return "bool"
    if isinstance(dt, pd.CategoricalDtype):
        return "category"
    if pdt.is_datetime64_any_dtype(dt):
        return "datetime"
    if pdt.is_numeric_dtype(dt) and not pdt.is_complex_dtype(dt):
        return "number"
    if pdt.is_string_dtype(dt) or dt == object:
        return "text"
    return "other"


def _check(spec: dict, lookup: dict, text: str) -> None:
    op = spec["op"]
    if op in ("and", "or"):
        for a in spec["args"]:
            _check(a, lookup, text)
        return
    if op == "not":
        _check(spec["arg"], lookup, text)
        return
    col = spec["column"]
    if col not in lookup:
        raise _unknown(col, lookup, text)
    kind = _kind(lookup[col])
    if op == "cmpcol":
        other = spec["other"]
        if other not in lookup:
            raise _unknown(other, lookup, text)
        if {kind, _kind(lookup[other])} - {"number", "bool"} and kind != _kind(lookup[other]):
            raise SegmentError(f"{col!r} ({kind}) and {other!r} ({_kind(lookup[other])}) cannot be compared, in {text!r}")
        return
    if op == "truthy" and kind != "bool":
        raise SegmentError(f"{col!r} holds {kind} values, not true/false: compare it, e.g. {col} == ..., in {text!r}")
    values = [spec["value"]] if op == "cmp" else spec.get("values", [])
    for v in values:
        _check_value(col, kind, v, op == "cmp" and spec["cmp"] not in ("==", "!="), text, lookup[col])


def _check_value(col, kind, value, ordered, text, series) -> None:
    if kind == "number" and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise SegmentError(f"{col!r} holds numbers, but {value!r} is not a number, in {text!r}")
    if kind == "bool" and not isinstance(value, bool):
        raise SegmentError(f"{col!r} holds true/false, but {value!r} is neither, in {text!r}")
    if kind == "datetime":
        if not isinstance(value, str):
            raise SegmentError(f"{col!r} holds dates: write them as text, e.g. \"2024-01-31\", in {text!r}")
        try:
            pd.Timestamp(value)
        except (ValueError, TypeError):
            raise SegmentError(f"{value!r} is not a date {col!r} can be compared with, in {text!r}") from None
    if kind in ("text", "category") and ordered and not isinstance(value, str):
        raise SegmentError(f"{col!r} holds text; compare it with text, not {value!r}, in {text!r}")
    if kind == "text" and isinstance(value, (int, float)) and not isinstance(value, bool):
        raise SegmentError(f"{col!r} holds text, but {value!r} is a number: write it in quotes, in {text!r}")


def _evaluate(spec: dict, lookup: dict, n: int) -> np.ndarray:
    op = spec["op"]
    if op == "and":
        out = np.ones(n, dtype=bool)
        for a in spec["args"]:
            out &= _evaluate(a, lookup, n)
        return out
    if op == "or":
        out = np.zeros(n, dtype=bool)
        for a in spec["args"]:
            out |= _evaluate(a, lookup, n)
        return out
    if op == "not":
        return ~_evaluate(spec["arg"], lookup, n)
    s = lookup[spec["column"]]
    if op == "missing":
        m = s.isna().to_numpy()
        return ~m if spec["negate"] else m
    if op == "truthy":
        return s.fillna(False).to_numpy(dtype=bool)
    if op == "in":
        values = [_coerce(s, v) for v in spec["values"]]
        m = s.isin(values).to_numpy(dtype=bool, na_value=False)
        return ~m & s.notna().to_numpy() if spec["negate"] else m
    if op == "cmpcol":
        return _compare(s, spec["cmp"], lookup[spec["other"]])
    return _compare(s, spec["cmp"], _coerce(s, spec["value"]))


def _coerce(s: pd.Series, value):
    if pdt.is_datetime64_any_dtype(s.dtype) and isinstance(value, str):
        ts = pd.Timestamp(value)
        tz = getattr(s.dtype, "tz", None)
        if tz is not None and ts.tzinfo is None:
            ts = ts.tz_localize(tz)
        return ts
    return value


def _compare(s: pd.Series, cmp: str, other) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype) and cmp not in ("==", "!="):
        if not s.cat.ordered:
            s = s.astype(object)
    if isinstance(other, pd.Series):
        other = other.to_numpy()
    ops = {"==": s.eq, "!=": s.ne, "<": s.lt, "<=": s.le, ">": s.gt, ">=": s.ge}
    result = ops[cmp](other)
    present = s.notna().to_numpy()
    # NaN != x is True in pandas; a missing value is in no comparison segment
    return result.to_numpy(dtype=bool, na_value=False) & present



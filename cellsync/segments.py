"""Segments: named predicates over a frame's columns, written as text by people.

    age >= 80                      sex == "F" and smoker           income is missing
    region in ["north", "east"]    10 <= bmi < 30                  not (status == "inactive")

Text is parsed by a small recursive-descent grammar into a spec (plain JSON) and evaluated
with vectorised pandas operations. Nothing a user typed is ever passed to `eval`,
`DataFrame.query` or `DataFrame.eval`: the only things text can become are column names
(checked against the frame) and literals (numbers, strings, booleans).

Grammar:
    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | predicate
    predicate  := operand (CMP operand)+          chained: 10 <= bmi < 30
                | column "is" ["not"] "missing"
                | column ["not"] "in" "[" literal ("," literal)* "]"
                | column                          a boolean column: smoker
    operand    := column | literal
    column     := NAME | `any text in backquotes`
    literal    := NUMBER | "string" | 'string' | true | false
    CMP        := == | = | != | < | <= | > | >=
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from .errors import CellsyncError
from .profile import FrameProfile, label_text
from .records import Record


class SegmentError(CellsyncError):
    """Segment text that cannot be parsed, or does not fit the frame it is applied to."""


# --- tokens --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bq>`[^`]+`)
  | (?P<op><=|>=|==|!=|<|>|=)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "is", "in", "missing", "true", "false"}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | col | op | punct | kw | end
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SegmentError(f"unexpected {text[pos]!r} at position {pos + 1} in {text!r}")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "num":
            toks.append(_Tok("num", float(raw) if re.search(r"[.eE]", raw) else int(raw), pos))
        elif kind == "str":
            toks.append(_Tok("str", _unquote(raw), pos))
        elif kind == "bq":
            toks.append(_Tok("col", raw[1:-1], pos))
        elif kind in ("op", "punct"):
            toks.append(_Tok(kind, raw, pos))
        elif kind == "name":
            low = raw.lower()
            toks.append(_Tok("kw", low, pos) if low in _KEYWORDS else _Tok("col", raw, pos))
        pos = m.end()
    toks.append(_Tok("end", None, len(text)))
    return toks


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# --- parser --------------------------------------------------------------------------------


MAX_DEPTH = 32  # nested parentheses / "not": far beyond any real segment, far below Python's stack


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def deeper(self, tok: _Tok | None) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            where = f" at position {tok.pos + 1}" if tok is not None else ""
            raise SegmentError(f"a segment nested more than {MAX_DEPTH} deep (parentheses or 'not'){where} is not supported")

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind, value=None) -> _Tok | None:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            return self.take()
        return None

    def expect(self, kind, value=None, what=None) -> _Tok:
        tok = self.accept(kind, value)
        if tok is None:
            got = self.peek()
            shown = "the end" if got.kind == "end" else repr(got.value)
            raise SegmentError(f"expected {what or value or kind} at position {got.pos + 1}, found {shown}, in {self.text!r}")
        return tok

    def parse(self) -> dict:
        if self.peek().kind == "end":
            raise SegmentError("a segment needs a condition, e.g. age >= 80")
        spec = self.expr()
        if self.peek().kind != "end":
            tok = self.peek()
            raise SegmentError(f"unexpected {tok.value!r} at position {tok.pos + 1} in {self.text!r}")
        return spec

    def expr(self) -> dict:
        args = [self.and_expr()]
        while self.accept("kw", "or"):
            args.append(self.and_expr())
        return args[0] if len(args) == 1 else {"op": "or", "args": args}

    def and_expr(self) -> dict:
        args = [self.not_expr()]
        while self.accept("kw", "and"):
            args.append(self.not_expr())
        return args[0] if len(args) == 1 else {"op": "and", "args": args}

    def not_expr(self) -> dict:
        tok = self.accept("kw", "not")
        if tok:
            self.deeper(tok)
            arg = self.not_expr()
            self.depth -= 1
            return {"op": "not", "arg": arg}
        return self.primary()

    def primary(self) -> dict:
        tok = self.accept("punct", "(")
        if tok:
            self.deeper(tok)
            inner = self.expr()
            self.expect("punct", ")", "')'")
            self.depth -= 1
            return inner
        return self.predicate()

    def operand(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok.kind == "col":
            return "col", self.take().value
        if tok.kind in ("num", "str"):
            return "lit", self.take().value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return "lit", self.take().value == "true"
        shown = "the end" if tok.kind == "end" else repr(tok.value)
        raise SegmentError(f"expected a column or a value at position {tok.pos + 1}, found {shown}, in {self.text!r}")

    def literal_list(self) -> list:
        self.expect("punct", "[", "'['")
        values = []
        if not self.accept("punct", "]"):
            while True:
                kind, value = self.operand()
                if kind != "lit":
                    raise SegmentError(f"lists hold values, not columns ({value!r}) in {self.text!r}")
                values.append(value)
                if self.accept("punct", "]"):
                    break
                self.expect("punct", ",", "',' or ']'")
        return values

    def predicate(self) -> dict:
        first = self.operand()
        if first[0] == "col":
            column = first[1]
            if self.accept("kw", "is"):
                negate = bool(self.accept("kw", "not"))
                self.expect("kw", "missing", "'missing'")
                return {"op": "missing", "column": column, "negate": negate}
            if self.peek().kind == "kw" and self.peek().value == "not" and self.toks[self.i + 1].value == "in":
                self.take()
                self.take()
                return {"op": "in", "column": column, "values": self.literal_list(), "negate": True}
            if self.accept("kw", "in"):
                return {"op": "in", "column": column, "values": self.literal_list(), "negate": False}
        if self.peek().kind != "op":
            if first[0] == "col":
                return {"op": "truthy", "column": first[1]}
            raise SegmentError(f"a value alone ({first[1]!r}) is not a condition, in {self.text!r}")
        comparisons, left = [], first
        while self.peek().kind == "op":
            op = self.take().value
            op = "==" if op == "=" else op
            right = self.operand()
            comparisons.append(_comparison(left, op, right, self.text))
            left = right
        return comparisons[0] if len(comparisons) == 1 else {"op": "and", "args": comparisons}


def _comparison(left, op, right, text) -> dict:
    if left[0] == "col" and right[0] == "lit":
        return {"op": "cmp", "column": left[1], "cmp": op, "value": right[1]}
    if left[0] == "lit" and right[0] == "col":
        return {"op": "cmp", "column": right[1], "cmp": _FLIP[op], "value": left[1]}
    if left[0] == "col" and right[0] == "col":
        return {"op": "cmpcol", "column": left[1], "cmp": op, "other": right[1]}
    raise SegmentError(f"comparing two values ({left[1]!r} {op} {right[1]!r}) says nothing about rows, in {text!r}")


def parse(text: str) -> dict:
    """Segment text -> spec. Raises SegmentError with where and what went wrong."""
    if not isinstance(text, str):
        raise SegmentError(f"a segment is text, not {type(text).__name__}")
    if len(text) > 2000:
        raise SegmentError("a segment of more than 2,000 characters is not a segment")
    return _Parser(text).parse()


# --- text from a spec (round trip) ---------------------------------------------------------


def _col_text(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and name.lower() not in _KEYWORDS:
        return name
    return f"`{name}`"


def _lit_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def to_text(spec: dict, _nested: bool = False) -> str:
    op = spec["op"]
    if op in ("and", "or"):
        inner = f" {op} ".join(to_text(a, True) for a in spec["args"])
        return f"({inner})" if _nested else inner
    if op == "not":
        return f"not {to_text(spec['arg'], True)}"
    if op == "cmp":
        return f"{_col_text(spec['column'])} {spec['cmp']} {_lit_text(spec['value'])}"
    if op == "cmpcol":
        return f"{_col_text(spec['column'])} {spec['cmp']} {_col_text(spec['other'])}"
    if op == "missing":
        return f"{_col_text(spec['column'])} is {'not ' if spec['negate'] else ''}missing"
    if op == "in":
        values = ", ".join(_lit_text(v) for v in spec["values"])
        return f"{_col_text(spec['column'])} {'not in' if spec['negate'] else 'in'} [{values}]"
    if op == "truthy":
        return _col_text(spec["column"])
    raise SegmentError(f"unknown segment operation {op!r}")


def columns_of(spec: dict) -> list[str]:
    out: list[str] = []

    def walk(s):
        if s["op"] in ("and", "or"):
            for a in s["args"]:
                walk(a)
        elif s["op"] == "not":
            walk(s["arg"])
        else:
            for key in ("column", "other"):
                if key in s and s[key] not in out:
                    out.append(s[key])

    walk(spec)
    return out


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


# --- suggestions ---------------------------------------------------------------------------


def suggest(
    frame: pd.DataFrame,
    profile: FrameProfile,
    limit: int = 40,
    max_values: int = 12,
    frame_name: str | None = None,
    skip_columns: set[str] | frozenset = frozenset(),
) -> list[Segment]:
    """Small, readable segments an expert is likely to care about, from one version's profile:
    each value of a low-cardinality column, quartiles of numeric columns, missing vs present."""
    values, quartiles, missing = [], [], []
    for col in profile.columns:
        if col.note or col.count == 0 or col.name in skip_columns or _looks_like_an_id(col):
            continue
        name = col.name
        c = _col_text(name)
        if col.missing:
            missing.append(Segment(f"{name} missing", f"{c} is missing", parse(f"{c} is missing"), "suggested", frame_name))
        low_card = col.unique is not None and not col.unique_approx and 1 < col.unique <= max_values
        if col.kind in ("categorical", "string", "bool") or (col.kind == "numeric" and low_card and col.inferred is None and _is_integer_dtype(col.dtype)):
            if not low_card:
                continue
            for vc in col.top_values or _numeric_values(frame, name):
                spec = {"op": "cmp", "column": name, "cmp": "==", "value": vc.value}
                if col.kind == "bool":
                    spec = {"op": "truthy", "column": name} if vc.value else {"op": "not", "arg": {"op": "truthy", "column": name}}
                values.append(Segment(f"{name} = {vc.value}", to_text(spec), spec, "suggested", frame_name))
        elif col.kind == "numeric" and col.quantiles and col.unique and col.unique > max_values:
            q1, q2, q3 = (col.quantiles[k] for k in ("0.25", "0.5", "0.75"))
            if not (q1 < q2 < q3):
                continue
            q1, q2, q3 = (_round(q) for q in (q1, q2, q3))
            bins = [
                (f"{name}: bottom 25%", f"{c} <= {q1!r}"),
                (f"{name}: 25-50%", f"{q1!r} < {c} <= {q2!r}"),
                (f"{name}: 50-75%", f"{q2!r} < {c} <= {q3!r}"),
                (f"{name}: top 25%", f"{c} > {q3!r}"),
            ]
            for label, text in bins:
                spec = parse(text)
                quartiles.append(Segment(label, to_text(spec), spec, "suggested", frame_name))
    out = (values + quartiles + missing)[:limit]
    return out


_ID_NAME = re.compile(r"(?:^|[_\s])(?:id|uuid|guid|key)$|^(?:index|row_?id|record_?id)$", re.IGNORECASE)


def _looks_like_an_id(col) -> bool:
    """Identifiers (every value distinct, integers or text, or a column named like one)
    make meaningless segments."""
    if _ID_NAME.search(str(col.name)):
        return True
    all_distinct = col.unique is not None and col.unique >= col.count * 0.98 and col.count > 12
    return all_distinct and (col.kind in ("string", "object") or _is_integer_dtype(col.dtype))


def is_value_segment(seg: "Segment") -> bool:
    """A suggestion on one value of a column (`species == "Adelie"`), as opposed to a
    threshold or a missing-value test."""
    spec = seg.spec
    if spec.get("op") == "not":
        spec = spec.get("arg", {})
    return spec.get("op") in ("cmp", "truthy", "in") and (spec.get("cmp", "==") == "==")


def by_construction(operation, seg: "Segment") -> bool:
    """Did the operation remove this segment's rows because of the very column it tested?
    A filter on `age >= 18` hits "age: bottom 25%" by construction; `dropna` hits "income
    missing" by construction. A segment on another column is a finding, not this."""
    if operation is None or operation.kind != "filter":
        return False
    tested = set(map(str, operation.detail.get("columns") or []))
    if operation.verb == "dropna":
        spec = seg.spec
        missing_on = {str(spec["column"])} if spec.get("op") == "missing" and not spec.get("negate") else set()
        return bool(missing_on) and (not tested or bool(missing_on & tested))
    return bool(tested & set(map(str, seg.columns)))


def _is_integer_dtype(dtype_text: str) -> bool:
    return dtype_text.lower().startswith(("int", "uint"))


def _numeric_values(frame, name):
    from .profile import ValueCount

    counts = _column_lookup(frame)[name].value_counts().sort_index()  # labels may be ints or tuples
    return [ValueCount(int(v), int(n)) for v, n in counts.items()]


def _round(q: float) -> float | int:
    """Thresholds people can read: 3 significant digits."""
    if float(q).is_integer():
        return int(q)
    return float(f"{q:.3g}")


# --- impacts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentImpact(Record):
    """What one cell did to one segment of one frame."""

    segment: str  # text
    name: str
    rows_before: int | None
    rows_after: int | None
    rows_removed: int  # segment members (before) whose row is gone
    rows_added: int  # new rows (not from the parent) that are in the segment
    rows_left: int = 0  # kept rows that were in the segment and no longer are (values changed)
    rows_entered: int = 0  # kept rows that joined the segment
    removal_rate: float | None = None
    overall_removal_rate: float | None = None
    values_changed: dict[str, int] | None = None  # inside the segment, per column
    flagged: bool = False
    note: str | None = None
    # the segment is defined on a column the operation itself tested (a segment "income
    # missing" after `dropna(subset=["income"])`): its removal rate is the operation, not a finding
    by_construction: bool = False


def impacts(
    segments: list[Segment],
    parent: pd.DataFrame,
    new: pd.DataFrame,
    diff,
    match,
    flag_ratio: float = 2.0,
    flag_min_points: float = 0.05,
    flag_min_rows: int = 20,
) -> list[SegmentImpact]:
    """Impact of one change on every segment that fits the parent or the new version.

    Membership before is judged on the parent's rows, after on the new rows; rows are followed
    through the diff's row match, so `df2 = df.dropna()` counts the parent's rows it lost."""
    from .diff import changed_mask

    if match is None or match.method in ("reshape", "none") or diff.rows_before is None:
        return []
    kept_old, kept_new = match.old_pos, match.new_pos
    added_rows = np.ones(len(new), dtype=bool)
    added_rows[kept_new] = False
    overall = diff.rows_removed / diff.rows_before if diff.rows_before else None
    parent_cols, new_cols = _column_lookup(parent), _column_lookup(new)
    changed_cols = [(c.before, c.column) for c in diff.columns if c.values_changed]
    change_masks = {}
    for before_label, label in changed_cols:
        if before_label in parent_cols and label in new_cols:
            change_masks[label] = changed_mask(parent_cols[before_label], new_cols[label], kept_old, kept_new)
    out = []
    for seg in segments:
        before = _safe_mask(seg, parent_cols, len(parent))
        after = _safe_mask(seg, new_cols, len(new))
        if before is None and after is None:
            continue
        note = None
        if before is None:
            note = "columns not in the parent: only rows after are counted"
        elif after is None:
            note = "columns gone after this cell: membership follows the kept rows"
        n_before = int(before.sum()) if before is not None else None
        removed = n_before - int(before[kept_old].sum()) if before is not None else 0
        added = int(after[added_rows].sum()) if after is not None else 0
        if after is not None:
            n_after = int(after.sum())
        else:
            n_after = int(before[kept_old].sum()) + added
        left = entered = 0
        if before is not None and after is not None:
            was, now = before[kept_old], after[kept_new]
            left, entered = int((was & ~now).sum()), int((~was & now).sum())
        rate = removed / n_before if n_before else None
        flagged = bool(
            rate is not None
            and overall is not None
            and removed > 0
            and n_before >= flag_min_rows  # "100% of the 1 row with a = 0" is no finding
            and rate >= flag_ratio * overall
            and rate - overall >= flag_min_points
        )
        inside = {}
        if before is not None:
            members = before[kept_old]
            for label, m in change_masks.items():
                n = int((m & members).sum())
                if n:
                    inside[label] = n
        out.append(
            SegmentImpact(
                segment=seg.text, name=seg.name, rows_before=n_before, rows_after=n_after,
                rows_removed=removed, rows_added=added, rows_left=left, rows_entered=entered,
                removal_rate=rate, overall_removal_rate=overall, values_changed=inside,
                flagged=flagged, note=note,
            )
        )
    return out


def _safe_mask(seg: Segment, lookup: dict, n: int) -> np.ndarray | None:
    try:
        _check(seg.spec, lookup, seg.text)
    except SegmentError:
        return None
    return _evaluate(seg.spec, lookup, n)

"""Segments CellSync proposes from a frame's profile, and which of them are about values
rather than the rows an operation chose."""

from __future__ import annotations

import re

import pandas as pd

from ..profile import FrameProfile
from .grammar import _col_text, parse, to_text
from .segment import Segment, _column_lookup


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
        # an approximate distinct count (HyperLogLog on a large pandas frame, Spark's
        # approx_count_distinct) is exact at a dozen values; the values offered are the
        # profile's own top values either way
        low_card = col.unique is not None and 1 < col.unique <= max_values and (not col.unique_approx or bool(col.top_values))
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
    from ..profile import ValueCount

    counts = _column_lookup(frame)[name].value_counts().sort_index()  # labels may be ints or tuples
    return [ValueCount(int(v), int(n)) for v, n in counts.items()]


def _round(q: float) -> float | int:
    """Thresholds people can read: 3 significant digits."""
    if float(q).is_integer():
        return int(q)
    return float(f"{q:.3g}")


"""The engine-neutral part: what a non-pandas frame's change is, and the expressions every
engine runs (segment conditions, aggregate profiles) written once with narwhals.

narwhals is one expression API over polars, PyArrow, DuckDB, PySpark and Dask: `nw.col("age")
.mean()` becomes a polars expression on a polars frame and a Spark `Column` on a Spark frame, so
a segment's condition or a profile's aggregates are written here once and executed by the
engine that holds the data. What narwhals does not cover (row hashing, sampling, query plans,
Spark job groups) lives in the engine's own module.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..errors import CellsyncError
from ..changes import FrameChange

# Calls whose result rows are aggregates or reshaped values, not rows of the input, in the
# polars and Spark spellings (pandas' own list is lineage.RESHAPING).
RESHAPING = frozenset({
    "group_by", "groupBy", "groupby", "agg", "pivot", "unpivot", "melt", "explode", "rollup",
    "cube", "describe", "summary", "crosstab", "transpose", "group_by_dynamic", "rolling",
})

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class EngineError(CellsyncError):
    """An engine (polars, Spark) could not profile or diff a frame: a stopped session, a plan
    that fails when run, a job cancelled past the time budget."""


class EngineUnavailable(EngineError):
    """An engine's package is not installed (`pip install "cellsync[engines]"`)."""


@dataclass
class EngineChange(FrameChange):
    """One name's new version of a non-pandas frame. `frame` stays None (nothing is converted
    in the blocking part); the engine's own objects travel in `native` / `parent_native`."""

    engine: str = ""
    was: str = ""  # a deleted change: the engine the name held ("deleted" is its `engine`)
    # declared here too: FrameChange on main (issue 11) no longer has it; polars/Spark decide
    # reshapes from their own call names (RESHAPING)
    reshape: bool = False
    native: Any = None
    parent_native: Any = None
    lazy: bool = False
    impacts: list = field(default_factory=list)  # filled by the worker, written with the cell
    # pandas rows the segment stage suggests from (with the version's profile): Spark's seeded
    # sample; for polars, no rows (its profile holds the exact values and quantiles)
    sample: Any = None


# --- segments as engine expressions ---------------------------------------------------------


def segment_expr(spec: dict, schema: dict[str, str]):
    """A segment spec (segments.parse) as a narwhals boolean expression. Same meaning as the
    pandas evaluation: a missing value is in no comparison (so `not` of a comparison excludes
    it too only where the pandas path does), `in` ignores missing values."""
    import narwhals as nw

    from ..segments import SegmentError

    op = spec["op"]
    if op in ("and", "or"):
        parts = [segment_expr(a, schema) for a in spec["args"]]
        out = parts[0]
        for p in parts[1:]:
            out = (out & p) if op == "and" else (out | p)
        return out
    if op == "not":
        return ~segment_expr(spec["arg"], schema)
    col = spec["column"]
    if col not in schema:
        raise SegmentError(f"no column {col!r} in this frame")
    c = nw.col(col)
    if op == "missing":
        return c.is_null() if not spec["negate"] else ~c.is_null()
    if op == "truthy":
        return c.fill_null(False)
    if op == "in":
        m = c.is_in(list(spec["values"])).fill_null(False)
        return (~m & ~c.is_null()) if spec["negate"] else m
    other = nw.col(spec["other"]) if op == "cmpcol" else nw.lit(spec["value"])
    if op == "cmpcol" and spec["other"] not in schema:
        raise SegmentError(f"no column {spec['other']!r} in this frame")
    cmp = spec["cmp"]
    result = {"==": c == other, "!=": c != other, "<": c < other, "<=": c <= other,
              ">": c > other, ">=": c >= other}[cmp]
    return result.fill_null(False) & ~c.is_null()


def segment_counts(segments, schema: dict[str, str]) -> dict[str, Any]:
    """Aggregate expressions counting each fitting segment's rows, keyed by an alias."""
    import narwhals as nw

    out = {}
    for i, seg in enumerate(segments):
        try:
            expr = segment_expr(seg.spec, schema)
        except Exception:  # a segment over columns this frame lacks: not counted here
            continue
        out[f"__seg{i}"] = (seg, expr.cast(nw.Int64).sum().alias(f"__seg{i}"))
    return out


def replace_change(ch: EngineChange, **kw) -> EngineChange:
    return dataclasses.replace(ch, **kw)

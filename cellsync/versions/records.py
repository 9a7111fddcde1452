"""The records of version data: `DataPlan` (how a version is stored), `ColumnRef`, `IndexRef`,
and labels as JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..records import Record



@dataclass(frozen=True)
class ColumnRef(Record):
    label: Any  # encoded label (see encode_label)
    key: str | None = None  # column file, or
    parent: int | None = None  # position of the same column in the base version
    as_text: bool = False  # stores before the lossless encodings: values kept as their repr text
    encoding: str = "arrow"  # how the file holds the values (see encode_column); "none": not kept
    dtype: str | None = None  # the column's pandas dtype, restored on reading
    meta: dict | None = None  # what the encoding needs to decode (fill value, categories, ...)
    note: str | None = None  # encoding "none": "not persisted: <reason>"
    # a full version's column whose values equal the base's column at this position on the
    # rows `parent_rows` names (from the diff): readers may carry what they know of the base
    # (SnapGrid's segment masks) instead of reading the column again
    same_as: int | None = None


@dataclass(frozen=True)
class IndexRef(Record):
    kind: str  # range | levels | base (the base version's labels of the kept rows)
    start: int = 0
    stop: int = 0
    step: int = 1
    keys: tuple[str, ...] = ()
    names: tuple[Any, ...] = ()  # encoded level names
    columns_names: tuple[Any, ...] = ()  # encoded names of the column axis
    levels: tuple[dict, ...] = ()  # per level: encoding, dtype, meta (ColumnRef fields); old stores: ()
    freq: str | None = None  # a DatetimeIndex/TimedeltaIndex's freq, which values alone lose


@dataclass(frozen=True)
class DataPlan(Record):
    kind: str  # full | delta | none | pruned (dropped by `cellsync prune`; see store/budget.py)
    rows: int = 0
    base: str | None = None  # parent version id (delta)
    depth: int = 0  # deltas between this version and a full one
    parent_rows: str | None = None  # key of positions into the parent (-1: added row)
    parent_count: int | None = None  # rows of the parent, to read a bitmask of positions
    columns: tuple[ColumnRef, ...] = ()
    index: IndexRef | None = None
    column_levels: int = 1
    sampled: bool = False  # rows are a seeded sample of the frame (see sample_of)
    sample_of: int | None = None  # the frame's real row count when sampled
    note: str | None = None
    bytes_written: int = 0
    series: bool = False  # the version was a Series: `Store.load` gives it back as one
    columns_dtype: str | None = None  # dtype of the column labels' Index (object vs str vs int64)


def _ref_keys(meta: Any) -> set[str]:
    """Keys of files an encoding's meta points to (a categorical's categories)."""
    if isinstance(meta, dict):
        out = {meta["key"]} if isinstance(meta.get("key"), str) and "encoding" in meta else set()
        for value in meta.values():
            out |= _ref_keys(value)
        return out
    return set()


def plan_file_keys(plan: DataPlan) -> set[str]:
    """Every data file a plan needs (columns, index levels, row positions)."""
    keys = {ref.key for ref in plan.columns if ref.key}
    for ref in plan.columns:
        keys |= _ref_keys(ref.meta)
    if plan.index is not None:
        keys.update(plan.index.keys)
        for level in plan.index.levels:
            keys |= _ref_keys(level.get("meta"))
    if plan.parent_rows:
        keys.add(plan.parent_rows)
    return keys


# --- labels --------------------------------------------------------------------------------


def encode_label(label: Any) -> Any:
    if isinstance(label, bool) or label is None:
        return {"b": label}
    if isinstance(label, (int, np.integer)):
        return {"i": int(label)}
    if isinstance(label, (float, np.floating)):
        return {"f": float(label)}
    if isinstance(label, str):
        return label
    if isinstance(label, tuple):
        return {"t": [encode_label(x) for x in label]}
    return {"r": str(label)}  # timestamps and other objects come back as their text


def decode_label(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "t" in value:
            return tuple(decode_label(x) for x in value["t"])
        for tag in ("b", "i", "f", "r"):
            if tag in value:
                return value[tag]
    return value

"""What changed after a cell: fingerprints of live frames, the snapshots that keep them honest,
and the records handed from the kernel's thread to the worker (`FrameChange`, `CellJob`).

pandas 3 copy-on-write makes identity exact: we hold a shallow copy of each frame's last
version, so an in-place write must copy the touched column and the fingerprint changes. Where
identity tells nothing (pandas 2 without copy-on-write; object columns whose list/dict
elements are mutated) we fall back to hashing content, for those frames or columns only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .diff import row_hashes, safe_repr
from .lineage import CellLineage
from .store import CellRun

_MUTABLE_ELEMENTS = (list, dict, set, bytearray, np.ndarray)


def copy_on_write_active() -> bool:
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return pd.options.mode.copy_on_write is True


def array_identity(values) -> tuple:
    if isinstance(values, np.ndarray):
        return ("np", values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str)
    return ("ea", id(values))


def fingerprint(obj: pd.DataFrame | pd.Series) -> tuple:
    """O(columns) identity of a frame's data. Equal fingerprints mean unchanged content as
    long as a shallow copy of the frame is held (copy-on-write)."""
    try:
        blocks = obj._mgr.blocks  # pandas internals: guarded, with a content fallback below
        parts = tuple(
            (array_identity(b.values), tuple(b.mgr_locs.as_array.tolist()) if len(blocks) > 1 else None)
            for b in blocks
        )
    except Exception:
        parts = ("content", content_hash(obj))
    return (obj.shape, parts)


def content_hash(obj) -> bytes:
    """Content of values and labels: the fallback where array identity tells nothing."""
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    h = hashlib.blake2b(digest_size=16)
    h.update(row_hashes(frame).tobytes())
    h.update(pd.util.hash_pandas_object(frame.index).to_numpy().tobytes())
    return h.digest()


@dataclass
class TrackedObject:
    """What we know about one live frame object (possibly bound to several names)."""

    ref: Any  # weakref to the user's object
    snapshot: Any  # shallow copy of the last recorded version (keeps copy-on-write honest)
    fp: tuple
    index: Any
    columns: Any
    content: bytes | None = None  # content hash, only where identity tells nothing
    deep_columns: tuple[int, ...] = ()  # object columns holding mutable elements
    deep_text: dict[int, np.ndarray] = field(default_factory=dict)  # their repr at the snapshot
    # `df.index.name = "id"` renames the very index object the fingerprint holds: keep the names
    index_names: tuple = ()
    column_names: tuple = ()
    names: set[str] = field(default_factory=set)


@dataclass
class FrameChange:
    """One name's new version, handed to the worker."""

    name: str
    change: str  # new | rebound | mutated | alias | deleted
    version_id: str
    object_key: int  # frames with the same key are one object: profile and persist once
    frame: pd.DataFrame | None
    diff_frame: pd.DataFrame | None = None  # frame with element-mutable columns as text
    parent_version: str | None = None
    parent_name: str | None = None
    parent_frame: pd.DataFrame | None = None
    same_index: bool = False  # edited in place with the very same index object: labels hold
    is_series: bool = False
    parent_is_series: bool = False
    series_named: bool = False  # a Series with a name of its own (not labelled by its variable)
    parent_series_named: bool = False
    binding: Any = None  # lineage.Binding: the statement that bound this name, if any
    now: dict | None = None  # deleted: what the name holds now, if anything (an array...)
    others: dict = field(default_factory=dict)  # other tracked frames the statement read
    other_versions: dict = field(default_factory=dict)  # their version ids
    other_series: set = field(default_factory=set)  # which of them are Series
    # the parent is a frame of another engine (`pl.from_pandas(df)`, `sdf.toPandas()`): its
    # engine ("pandas", "polars", "spark"); rows are not matched across engines, net counts only
    converted_from: str | None = None


@dataclass
class CellJob:
    cell: CellRun
    changes: list[FrameChange]
    captured: list[tuple[str, float, str]] = field(default_factory=list)  # metric-like values
    models: list = field(default_factory=list)  # ModelInfo of estimators new or refitted
    logged: list = field(default_factory=list)  # MetricValue from log_metrics
    predictions: list = field(default_factory=list)  # (Predictions, data frame name or None)
    segments: list = field(default_factory=list)  # Segment from cellsync.segment()
    lineage: CellLineage = field(default_factory=CellLineage)  # the cell's AST reading
    targets: set = field(default_factory=set)  # column names the cell used as a model's target
    known_frames: tuple = ()  # names bound to tracked frames after the cell
    retired: list = field(default_factory=list)  # (frame, text) of suggestions made stale
    estimators: dict = field(default_factory=dict)  # name -> class name of estimators bound


def as_frame(obj, name: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        return obj.to_frame(name=obj.name if obj.name is not None else name)
    return obj


def deep_columns(frame: pd.DataFrame) -> tuple[int, ...]:
    """Object columns whose elements can change without the column array changing.
    Runs in the blocking part: looks only at object columns, and at their first 1,000 values."""
    dtypes = frame.dtypes.to_numpy()
    out = []
    for j in np.flatnonzero(dtypes == object):
        head = frame.iloc[: min(len(frame), 1000), j]
        if any(isinstance(v, _MUTABLE_ELEMENTS) for v in head.array):
            out.append(int(j))
    return tuple(out)


def column_text(col: pd.Series) -> np.ndarray:
    return np.asarray([safe_repr(v) for v in col.array], dtype=object)



def what_it_holds(value) -> dict:
    """A name that held a frame and now holds something else: its type and shape, in words
    an operation can state ("a NumPy array of 112 x 4"), never its content."""
    out = {"type": type(value).__name__, "module": type(value).__module__.split(".")[0]}
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(x, (int, np.integer)) for x in shape):
        out["shape"] = [int(x) for x in shape]
    elif isinstance(value, (list, tuple, dict, set)):
        out["length"] = len(value)
    return out


"""`rebuild`: a stored version back as the frame it was."""

from __future__ import annotations


import numpy as np
import pandas as pd

from ..errors import VersionDataPruned, VersionDataUnavailable
from .records import ColumnRef, DataPlan, decode_label, IndexRef
from .files import ColumnFiles



# --- reading -------------------------------------------------------------------------------


def rebuild(
    files: ColumnFiles, plan: DataPlan, load_plan, positions: list[int] | None = None, cache: dict | None = None,
    rows: np.ndarray | None = None, strict: bool = False,
) -> pd.DataFrame:
    """Rebuild a version's frame, or only the columns at `positions` (reading no other column
    file anywhere down the delta chain). `load_plan(version_id)` returns a base's DataPlan;
    `cache` (optional) shares rebuilt bases between calls, e.g. across a SnapGrid query.
    `rows` (positions of this version's rows) builds only those rows: each level of the chain
    then gathers a handful of rows instead of all of them (the first rows a filter removed).
    A column that was not persisted is all NA, named in `frame.attrs["cellsync_not_persisted"]`
    with its reason; `strict=True` raises VersionDataUnavailable for it instead (SnapGrid: a
    segment must not be counted on values that are not there)."""
    if plan.kind == "none":
        raise VersionDataUnavailable(plan.note or "this version's data was not persisted")
    if plan.kind == "pruned":
        raise VersionDataPruned(plan.note or "this version's data was pruned")
    wanted = list(range(len(plan.columns))) if positions is None else list(positions)
    base = None
    take = None
    base_at: dict[int, int] = {}
    if plan.kind == "delta":
        needed = sorted({plan.columns[j].parent for j in wanted if plan.columns[j].parent is not None})
        take = files.read_positions(plan.parent_rows, plan.parent_count) if plan.parent_rows else None
        if rows is not None:
            # the base built at exactly the rows wanted here: nothing left to take
            base_rows = take[rows] if take is not None else rows
            base = rebuild(files, load_plan(plan.base), load_plan, needed, None, base_rows, strict)
            take = None
        else:
            key = (plan.base, tuple(needed))
            if cache is not None and key in cache:
                base = cache[key]
            else:
                base = rebuild(files, load_plan(plan.base), load_plan, needed, cache, strict=strict)
                if cache is not None:
                    cache[key] = base
        base_at = {p: i for i, p in enumerate(needed)}
    arrays = []
    absent: dict[int, str] = {}  # position in `wanted` -> why that column was not persisted
    base_absent = base.attrs.get(NOT_PERSISTED_POSITIONS, {}) if base is not None else {}
    n_rows = plan.rows if rows is None else len(rows)
    for i, j in enumerate(wanted):
        ref = plan.columns[j]
        if ref.parent is not None:
            col = base.iloc[:, base_at[ref.parent]]
            arrays.append(col.iloc[take] if take is not None else col)
            if base_at[ref.parent] in base_absent:
                absent[i] = base_absent[base_at[ref.parent]]
        elif ref.encoding == "none":
            if strict:
                raise VersionDataUnavailable(f"column {decode_label(ref.label)!r}: {ref.note}")
            arrays.append(pd.Series(pd.array([pd.NA] * n_rows, dtype=object)))
            absent[i] = ref.note or "not persisted"
        else:
            own = files.read_series(ref)
            arrays.append(own.iloc[rows] if rows is not None else own)
    labels = [decode_label(plan.columns[j].label) for j in wanted]
    if plan.column_levels > 1:
        columns = pd.MultiIndex.from_tuples(labels) if labels else pd.MultiIndex.from_tuples([], names=[None] * plan.column_levels)
    else:
        columns = pd.Index(labels, dtype=object if not labels else None, tupleize_cols=False)
        if plan.columns_dtype and str(columns.dtype) != plan.columns_dtype:
            try:
                columns = columns.astype(plan.columns_dtype)
            except (TypeError, ValueError):
                pass
    if plan.index is not None and plan.index.kind == "base":
        index = base.index.take(take) if take is not None else base.index
    else:
        index = _read_index(files, plan.index, plan.rows)
        if rows is not None:
            index = index[rows]
    # dtype given: from an object array pandas 3 would infer `str`, which is not what was stored
    data = {i: pd.Series(a.array, index=index, copy=False, dtype=a.dtype) for i, a in enumerate(arrays)}
    frame = pd.DataFrame(data, index=index) if data else pd.DataFrame(index=index)
    frame.columns = columns if len(labels) else frame.columns
    if plan.index is not None and plan.index.columns_names and len(labels):
        frame.columns.names = [decode_label(n) for n in plan.index.columns_names]
    if absent:
        # the documented marker: these columns hold NA because their values were not kept
        frame.attrs[NOT_PERSISTED_POSITIONS] = absent
        frame.attrs[NOT_PERSISTED] = {labels[i]: why for i, why in absent.items()}
    return frame


NOT_PERSISTED = "cellsync_not_persisted"  # frame.attrs: column label -> "not persisted: <reason>"
NOT_PERSISTED_POSITIONS = "cellsync_not_persisted_positions"


def _read_index(files: ColumnFiles, ref: IndexRef | None, n_rows: int) -> pd.Index:
    if ref is None:
        return pd.RangeIndex(n_rows)
    names = [decode_label(n) for n in ref.names]
    if ref.kind == "range":
        return pd.RangeIndex(ref.start, ref.stop, ref.step, name=names[0] if names else None)
    encodings = ref.levels or ({},) * len(ref.keys)
    levels = [files.read_series(ColumnRef(label=None, key=k, **enc)) for k, enc in zip(ref.keys, encodings)]
    if len(levels) == 1:
        index = pd.Index(levels[0].array, name=names[0] if names else None, copy=False, dtype=levels[0].dtype)
        if ref.freq is not None and isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
            index = type(index)(index, freq=ref.freq)
        return index
    return pd.MultiIndex.from_arrays([pd.Index(lv.array, dtype=lv.dtype) for lv in levels], names=names)

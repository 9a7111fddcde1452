"""`diff_frames`: the whole comparison of two versions of a frame."""

from __future__ import annotations


import numpy as np
import pandas as pd

from ..profile import label_text
from .records import ColumnChange, DtypeChange, FrameDiff, RowMatch
from .columns import dtype_text, _find_renames, _pair_columns
from .rows import _index_changed, _match_rows
from .shift import distribution_shift


def new_frame_diff(new: pd.DataFrame) -> FrameDiff:
    """The 'diff' of a frame with no parent: everything is added."""
    return FrameDiff(
        rows_before=None,
        rows_after=len(new),
        rows_removed=0,
        rows_added=len(new),
        rows_kept=0,
        row_identity="new",
        columns_added=tuple(label_text(c) for c in new.columns),
    )


def converted_diff(parent_rows: int | None, parent_columns, rows: int, columns) -> FrameDiff:
    """The diff of a frame made from a frame of another engine (`pl.from_pandas(df)`,
    `sdf.toPandas()`): rows are not matched across engines, so only net counts (row identity
    "none"); columns compared by name, where the parent's are all known (else none said)."""
    old = None if parent_columns is None else [label_text(c) for c in parent_columns]
    new = [label_text(c) for c in columns]
    known = parent_rows is not None
    return FrameDiff(
        rows_before=parent_rows,
        rows_after=rows,
        rows_removed=max(0, parent_rows - rows) if known else 0,
        rows_added=max(0, rows - parent_rows) if known else 0,
        rows_kept=min(parent_rows, rows) if known else 0,
        row_identity="none",
        columns_added=() if old is None else tuple(c for c in new if c not in old),
        columns_removed=() if old is None else tuple(c for c in old if c not in new),
    )


def diff_frames(
    old: pd.DataFrame, new: pd.DataFrame, follow_rows: bool = True, trust_labels: bool = False
) -> tuple[FrameDiff, RowMatch]:
    """Diff two versions. `follow_rows=False` for reshapes (groupby, pivot, melt...), whose
    rows are not rows of the old frame: columns are compared, rows are not matched.
    `trust_labels=True` when the caller knows the index was not rebuilt (an in-place edit
    that kept the very same index object): rows are then matched by label, no questions."""
    pairs, removed, added = _pair_columns(old, new)
    if follow_rows:
        match, changes = _match_rows(old, new, pairs, trust_labels)
    else:
        empty = np.empty(0, dtype=np.int64)
        match, changes = RowMatch(empty, empty, "reshape"), {p: 0 for p in pairs}
    renamed = _find_renames(old, new, removed, added, match)
    for o, n in renamed:
        pairs.append((o, n))
    removed = [o for o in removed if o not in {o for o, _ in renamed}]
    added = [n for n in added if n not in {n for _, n in renamed}]
    for o, n in renamed:
        changes[(o, n)] = 0

    columns, dtype_changes, values_changed = [], {}, {}
    rows_changed = len(old) != len(new) or len(match.old_pos) != len(old)
    for o, n in pairs:
        oc, nc = old.iloc[:, o], new.iloc[:, n]
        label = label_text(new.columns[n])
        n_changed = changes[(o, n)]
        if dtype_text(oc.dtype) != dtype_text(nc.dtype):
            dtype_changes[label] = DtypeChange(dtype_text(oc.dtype), dtype_text(nc.dtype))
        if n_changed:
            values_changed[label] = n_changed
        shift, metric, sampled = (0.0, None, False)
        if rows_changed or n_changed or label in dtype_changes:
            shift, metric, sampled = distribution_shift(oc, nc)
        columns.append(
            ColumnChange(
                column=label,
                before=label_text(old.columns[o]),
                values_changed=n_changed,
                missing_before=int(oc.isna().sum()),
                missing_after=int(nc.isna().sum()),
                shift=shift,
                shift_metric=metric,
                shift_sampled=sampled,
            )
        )
    kept_new_order = match.old_pos[np.argsort(match.new_pos, kind="stable")]
    reordered = bool(len(kept_new_order) > 1 and np.any(np.diff(kept_new_order) < 0))
    index_changed = _index_changed(old, new, match)
    diff = FrameDiff(
        rows_before=len(old),
        rows_after=len(new),
        rows_removed=_rows_removed(old, new, match),
        rows_added=_rows_added(old, new, match),
        rows_kept=int(len(match.old_pos)),
        row_identity=match.method,
        columns_added=tuple(label_text(new.columns[n]) for n in added),
        columns_removed=tuple(label_text(old.columns[o]) for o in removed),
        columns_renamed={label_text(old.columns[o]): label_text(new.columns[n]) for o, n in renamed},
        dtype_changes=dtype_changes,
        values_changed=values_changed,
        columns=tuple(columns),
        reordered=reordered,
        index_changed=index_changed,
    )
    same = {
        n: o
        for o, n in pairs
        if changes[(o, n)] == 0 and old.iloc[:, o].dtype == new.iloc[:, n].dtype
    }
    same_index = (
        match.method == "index"
        and not index_changed
        and old.index.dtype == new.index.dtype
        and old.index.nlevels == new.index.nlevels
    )
    return diff, RowMatch(match.old_pos, match.new_pos, match.method, same, same_index)


def _rows_removed(old, new, match: RowMatch) -> int:
    if match.method == "reshape":
        return 0
    if match.method == "none":  # no row identity: only the net change is known
        return max(0, len(old) - len(new))
    return int(len(old) - len(match.old_pos))


def _rows_added(old, new, match: RowMatch) -> int:
    if match.method == "reshape":
        return 0
    if match.method == "none":
        return max(0, len(new) - len(old))
    return int(len(new) - len(match.new_pos))

"""What one cell did to each segment of a frame: `impacts` and its `SegmentImpact` record."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..records import Record
from .grammar import SegmentError
from .segment import Segment, _check, _column_lookup, _evaluate



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
    masks: dict | None = None,
) -> list[SegmentImpact]:
    """Impact of one change on every segment that fits the parent or the new version.

    Membership before is judged on the parent's rows, after on the new rows; rows are followed
    through the diff's row match, so `df2 = df.dropna()` counts the parent's rows it lost.
    `masks`: segment text -> (before, after) boolean arrays (None where the segment does not
    fit), already evaluated by an engine (polars); otherwise they are evaluated here."""
    from ..diff import changed_mask

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
        if masks is not None:
            before, after = masks.get(seg.text, (None, None))
        else:
            before = _safe_mask(seg, parent_cols, len(parent))
            after = _safe_mask(seg, new_cols, len(new))
        if before is None and after is None:
            continue
        was = before[kept_old] if before is not None else None  # the kept rows' membership before
        n_before = int(before.sum()) if before is not None else None
        was_in = int(was.sum()) if before is not None else 0
        left = entered = 0
        if before is not None and after is not None:
            now = after[kept_new]
            left, entered = int((was & ~now).sum()), int((~was & now).sum())
        inside = {}
        if before is not None:
            for label, m in change_masks.items():
                n = int((m & was).sum())
                if n:
                    inside[label] = n
        out.append(impact_record(
            seg, n_before=n_before, kept_in=was_in, n_after=int(after.sum()) if after is not None else None,
            added=int(after[added_rows].sum()) if after is not None else 0, left=left, entered=entered,
            values_changed=inside, overall=overall, flag_ratio=flag_ratio, flag_min_points=flag_min_points,
            flag_min_rows=flag_min_rows,
        ))
    return out


def impact_record(
    seg: Segment,
    *,
    n_before: int | None,
    kept_in: int,
    n_after: int | None,
    added: int,
    left: int,
    entered: int,
    values_changed: dict[str, int],
    overall: float | None,
    flag_ratio: float,
    flag_min_points: float,
    flag_min_rows: int,
) -> SegmentImpact:
    """One segment's impact from its counts, wherever they were counted (here on numpy masks,
    by polars on its own columns). `n_before` None: the segment does not fit the parent;
    `n_after` None: it does not fit the new version. `kept_in`: kept rows that were in it
    before; `added`: new rows in it."""
    note = None
    if n_before is None:
        note = "columns not in the parent: only rows after are counted"
    elif n_after is None:
        note = "columns gone after this cell: membership follows the kept rows"
    removed = n_before - kept_in if n_before is not None else 0
    if n_after is None:
        n_after = kept_in + added
    rate = removed / n_before if n_before else None
    flagged = bool(
        rate is not None
        and overall is not None
        and removed > 0
        and n_before >= flag_min_rows  # "100% of the 1 row with a = 0" is no finding
        and rate >= flag_ratio * overall
        and rate - overall >= flag_min_points
    )
    return SegmentImpact(
        segment=seg.text, name=seg.name, rows_before=n_before, rows_after=n_after,
        rows_removed=removed, rows_added=added, rows_left=left, rows_entered=entered,
        removal_rate=rate, overall_removal_rate=overall, values_changed=values_changed,
        flagged=flagged, note=note,
    )


def _safe_mask(seg: Segment, lookup: dict, n: int) -> np.ndarray | None:
    try:
        _check(seg.spec, lookup, seg.text)
    except SegmentError:
        return None
    return _evaluate(seg.spec, lookup, n)


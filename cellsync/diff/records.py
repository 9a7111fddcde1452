"""The records of a diff: `FrameDiff`, `ColumnChange`, `DtypeChange`, and `RowMatch` (which
old row each new row is)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..records import Record




@dataclass(frozen=True)
class DtypeChange(Record):
    before: str
    after: str


@dataclass(frozen=True)
class ColumnChange(Record):
    column: str
    before: str | None  # label in the previous version (differs on a rename)
    values_changed: int  # among kept rows
    missing_before: int
    missing_after: int
    shift: float | None = None  # KS statistic (numeric/datetime) or total variation (categories)
    shift_metric: str | None = None
    shift_sampled: bool = False


@dataclass(frozen=True)
class FrameDiff(Record):
    rows_before: int | None
    rows_after: int
    rows_removed: int
    rows_added: int
    rows_kept: int
    # index | content | none (net counts only) | reshape | new; Spark's key (matched by
    # `spark_row_key`) and filter (a Filter plan: before - after removed, exactly, rows not known)
    row_identity: str
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_renamed: dict[str, str] = field(default_factory=dict)
    dtype_changes: dict[str, DtypeChange] = field(default_factory=dict)
    values_changed: dict[str, int] = field(default_factory=dict)  # non-zero counts only
    columns: tuple[ColumnChange, ...] = ()
    reordered: bool = False
    index_changed: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.rows_removed
            or self.rows_added
            or self.columns_added
            or self.columns_removed
            or self.columns_renamed
            or self.dtype_changes
            or self.values_changed
            or self.reordered
            or self.index_changed
            or self.rows_before != self.rows_after
        )


@dataclass(frozen=True)
class RowMatch:
    """Which rows of the new version come from which rows of the old one (positions), and
    (filled in by diff_frames) which new columns equal an old column on those rows."""

    old_pos: np.ndarray
    new_pos: np.ndarray
    method: str
    same_columns: dict = field(default_factory=dict)  # new position -> old position
    same_index: bool = False  # the new row labels are the old ones of the kept rows

    def parent_positions(self, n_new: int) -> np.ndarray:
        """For each new row, its position in the old version, or -1 for an added row."""
        out = np.full(n_new, -1, dtype=np.int64)
        out[self.new_pos] = self.old_pos
        return out

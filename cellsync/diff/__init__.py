"""(previous version, new version) -> FrameDiff: rows, columns, dtypes, values, distributions.

Every number a person sees about a change comes from here, so it is exact: rows are followed
by index label when both indexes are unique, by row-content hashing on the shared columns
when they are not, and by whichever of the two explains more cells when the labels look
meaningless (a `reset_index`, `set_index`, or sort followed by a reset). The rules are in
docs/ARCHITECTURE.md ("Row identity").

- `records.py`  `FrameDiff`, `ColumnChange`, `DtypeChange`, `RowMatch`
- `frames.py`   `diff_frames`, `new_frame_diff`, `converted_diff` (across engines)
- `rows.py`     row identity and changed values
- `columns.py`  column pairing, renames, type text
- `shift.py`    distribution shift (KS)
"""

from .columns import dtype_text
from .frames import converted_diff, diff_frames, new_frame_diff
from .records import ColumnChange, DtypeChange, FrameDiff, RowMatch
from .rows import changed_count, changed_mask, row_hashes, safe_repr
from .shift import SHIFT_SAMPLE, distribution_shift, ks_statistic

__all__ = ["SHIFT_SAMPLE", "ColumnChange", "DtypeChange", "FrameDiff", "RowMatch", "changed_count", "changed_mask",
           "converted_diff", "diff_frames", "distribution_shift", "dtype_text", "ks_statistic", "new_frame_diff", "row_hashes",
           "safe_repr"]

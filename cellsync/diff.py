"""(previous version, new version) -> FrameDiff: rows, columns, dtypes, values, distributions.

Every number a person sees about a change comes from here, so it is exact: rows are followed
by index label when both indexes are unique, by row-content hashing on the shared columns
when they are not, and by whichever of the two explains more cells when the labels look
meaningless (a `reset_index`, `set_index`, or sort followed by a reset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from .profile import label_text
from .records import Record

# Distribution shift is computed on at most this many values per side (seeded sample above it,
# labelled `shift_sampled`): the KS statistic's sampling error is then about 0.01.
SHIFT_SAMPLE = 20_000


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
    row_identity: str  # index | content | none (net counts only) | reshape | new
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


# --- columns -------------------------------------------------------------------------------


def _pair_columns(old: pd.DataFrame, new: pd.DataFrame):
    """Pair columns by label (the k-th duplicate of a label with the k-th), by position."""

    def keyed(columns):
        seen: dict[Any, int] = {}
        out = []
        for c in columns:
            try:
                k = seen.get(c, 0)
                seen[c] = k + 1
            except TypeError:  # unhashable label
                c, k = repr(c), 0
            out.append((c, k))
        return out

    old_keys, new_keys = keyed(old.columns), keyed(new.columns)
    new_at = {key: i for i, key in enumerate(new_keys)}
    pairs, removed = [], []
    for o, key in enumerate(old_keys):
        if key in new_at:
            pairs.append((o, new_at.pop(key)))
        else:
            removed.append(o)
    added = sorted(new_at.values())
    return pairs, removed, added


def _find_renames(old, new, removed, added, match: RowMatch):
    """A removed and an added column with the same content on the kept rows: a rename."""
    if not removed or not added or len(match.old_pos) == 0:
        return []
    order = np.argsort(match.new_pos, kind="stable")
    old_pos, new_pos = match.old_pos[order], match.new_pos[order]
    by_digest: dict[tuple, list[int]] = {}
    for o in removed:
        by_digest.setdefault(_content_digest(old.iloc[old_pos, o]), []).append(o)
    # two dropped columns with the same content: which one a new column was is unknowable,
    # so neither is called renamed (they are said as dropped and added)
    digests = {k: v[0] for k, v in by_digest.items() if len(v) == 1}
    renamed, used = [], set()
    # Equal content names a rename only where the content says something: a column of one
    # repeated value equals any other such column, so it counts only as the sole candidate
    alone = len(removed) == 1 and len(added) == 1
    for n in added:
        col = new.iloc[:, n]
        o = digests.get(_content_digest(col.iloc[new_pos]))
        if o is not None and o not in used and len(new_pos) == len(new) and (alone or _informative(col.iloc[new_pos])):
            renamed.append((o, n))
            used.add(o)
    if len(new_pos) != len(new):
        return renamed
    # the same numbers under another name and another type (`pd.DataFrame(df.to_numpy(),
    # columns=[...])` turns an int column into floats): still a rename, with a type change
    for n in [n for n in added if n not in {x for _, x in renamed}][:50]:
        b = new.iloc[new_pos, n]
        if not pdt.is_numeric_dtype(b.dtype) or pdt.is_bool_dtype(b.dtype):
            continue
        for o in [o for o in removed if o not in used][:50]:
            a = old.iloc[old_pos, o]
            if not pdt.is_numeric_dtype(a.dtype) or pdt.is_bool_dtype(a.dtype) or a.dtype == b.dtype:
                continue
            try:
                same = np.array_equal(a.to_numpy(dtype="float64", na_value=np.nan), b.to_numpy(dtype="float64", na_value=np.nan), equal_nan=True)
            except (TypeError, ValueError):
                same = False
            if same and (alone or _informative(b)):
                renamed.append((o, n))
                used.add(o)
                break
    return renamed


def _informative(s: pd.Series) -> bool:
    try:
        return s.nunique(dropna=True) > 1
    except TypeError:  # unhashable values: compare their text
        return s.map(safe_repr).nunique() > 1


def dtype_text(dtype) -> str:
    """A dtype as people compare them: a categorical names how many categories it has, so a
    `set_categories` or `add_categories` shows as a change of type."""
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        return f"category ({len(cats) if cats is not None else 0} categories{', ordered' if dtype.ordered else ''})"
    return str(dtype)


def _content_digest(s: pd.Series) -> tuple:
    return (str(s.dtype), row_hashes(s.to_frame()).tobytes())


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One uint64 per row over all columns of df; unhashable objects are hashed by their text."""
    if df.shape[1] == 0:
        return np.zeros(len(df), dtype=np.uint64)
    try:
        return pd.util.hash_pandas_object(df, index=False).to_numpy()
    except Exception:  # unhashable values, or a user's __str__/__repr__ that raises in pandas' hashing
        as_text = df.copy()
        for i in range(as_text.shape[1]):
            dtype = as_text.iloc[:, i].dtype
            if dtype == object or _nested(dtype):  # (Arrow lists hold unhashable arrays on pandas 2)
                as_text.isetitem(i, as_text.iloc[:, i].astype(object).map(safe_repr))
        return pd.util.hash_pandas_object(as_text, index=False).to_numpy()


# --- rows ----------------------------------------------------------------------------------


def _unique(index: pd.Index) -> bool:
    try:
        return bool(index.is_unique)
    except TypeError:
        return False


def _match_rows(old, new, pairs, trust_labels=False):
    """Choose the row identity and return it with the per-column changed-value counts."""
    empty = np.empty(0, dtype=np.int64)
    none = RowMatch(empty, empty, "none")
    if not pairs and not trust_labels and _positional(old.index) and _positional(new.index) and len(old) != len(new):
        # positions 0..n-1 on both sides and no column in common: nothing links the rows (a
        # series rebuilt from a filtered list would otherwise "remove" its parent's last rows)
        return none, {}
    label = None
    same_labels = len(old) == len(new) and type(old.index) is type(new.index) and _equal_index(old.index, new.index)
    if same_labels or (_unique(old.index) and _unique(new.index)):
        # the very same labels in the same order, repeated ones included (`df.update(...)` on a
        # table with a repeated label): the rows are where they were
        label = _label_match(old, new)
        label_changes = _count_changes(old, new, pairs, label)
        # Labels are trustworthy unless no shared column survived intact on the kept rows,
        # which is what a reset_index, set_index or sort-and-reset looks like.
        # No label in common at all is no evidence either way (a row taken out as a Series,
        # a reset_index of a Series): it must not read as "every row removed".
        # Labels other than positions 0..n-1 name the rows: they are trusted as they are.
        # New labels 0..n-1 (fresh or untouched): one shared column that moved is enough to ask
        # the content too (a constant column looks "unchanged" under any pairing of rows: a
        # review found filter-then-reset said as values changed). A 0..n-1 parent whose labels
        # were carried through a filter still names its rows, unless every shared column moved
        # (`set_index` on numbers that happen to overlap 0..n-1). Content still has to keep at
        # least the rows the labels keep, and explain more cells, to win.
        moved = [label_changes[p] > 0 for p in pairs]
        suspicious = (len(label.old_pos) == 0 and len(old) > 0 and len(new) > 0) or (
            not trust_labels and bool(pairs) and (
                (_positional(new.index) and any(moved)) or (_positional(old.index) and all(moved))
            )
        )
        if not suspicious:
            return label, label_changes
    content = _content_match(old, new, pairs)
    if content is None:
        if label is not None and len(label.old_pos):
            return label, label_changes
        # Neither the labels nor any shared column link a single row: saying "every row was
        # removed and new ones added" would be a guess presented as a fact.
        return none, {p: 0 for p in pairs}
    content_changes = _count_changes(old, new, pairs, content)
    if label is None:
        return content, content_changes
    if len(label.old_pos) == 0 and len(content.old_pos) == 0:
        return none, {p: 0 for p in pairs}
    # Content may only win where it keeps at least the rows the labels keep: otherwise a
    # rewrite of every shared column (`h = h + 1`) would read as rows removed and added.
    if len(content.old_pos) < len(label.old_pos):
        return label, label_changes

    def score(m, ch):
        return sum(len(m.old_pos) - ch[p] for p in pairs)

    if score(content, content_changes) > score(label, label_changes):
        return content, content_changes
    return label, label_changes


def _equal_index(a: pd.Index, b: pd.Index) -> bool:
    try:
        return bool(a.equals(b))
    except Exception:
        return False


def _positional(index: pd.Index) -> bool:
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _label_match(old: pd.DataFrame, new: pd.DataFrame) -> RowMatch:
    if old.index.equals(new.index) and type(old.index) is type(new.index):
        pos = np.arange(len(new), dtype=np.int64)
        return RowMatch(pos, pos.copy(), "index")
    where = new.index.get_indexer(old.index)
    old_pos = np.flatnonzero(where >= 0).astype(np.int64)
    return RowMatch(old_pos, where[old_pos].astype(np.int64), "index")


def _content_match(old, new, pairs) -> RowMatch | None:
    stable = [
        (o, n)
        for o, n in pairs
        if str(old.iloc[:, o].dtype) == str(new.iloc[:, n].dtype)
    ]
    if not stable:
        return None
    h_old = row_hashes(old.iloc[:, [o for o, _ in stable]])
    h_new = row_hashes(new.iloc[:, [n for _, n in stable]])
    # Match the k-th occurrence of a row with the k-th occurrence of the same row, so
    # duplicates are counted exactly (a drop_duplicates removes all but one).
    k_old = pd.Series(h_old).groupby(h_old, sort=False).cumcount().to_numpy()
    k_new = pd.Series(h_new).groupby(h_new, sort=False).cumcount().to_numpy()
    key_new = pd.MultiIndex.from_arrays([h_new, k_new])
    key_old = pd.MultiIndex.from_arrays([h_old, k_old])
    where = key_new.get_indexer(key_old)
    old_pos = np.flatnonzero(where >= 0).astype(np.int64)
    return RowMatch(old_pos, where[old_pos].astype(np.int64), "content")


def _count_changes(old, new, pairs, match: RowMatch) -> dict:
    return {
        (o, n): changed_count(old.iloc[:, o], new.iloc[:, n], match.old_pos, match.new_pos)
        for o, n in pairs
    }


def changed_count(a: pd.Series, b: pd.Series, a_pos: np.ndarray, b_pos: np.ndarray) -> int:
    """How many of the paired values differ; two missing values count as equal."""
    if len(a_pos) == 0:
        return 0
    return int(changed_mask(a, b, a_pos, b_pos).sum())


def changed_mask(a: pd.Series, b: pd.Series, a_pos, b_pos) -> np.ndarray:
    same_numpy_dtype = a.dtype == b.dtype and isinstance(a.dtype, np.dtype) and a.dtype != object
    if same_numpy_dtype:
        x, y = a.to_numpy()[a_pos], b.to_numpy()[b_pos]
        if x.dtype.kind in "fc":
            return (x != y) & ~(np.isnan(x) & np.isnan(y))
        if x.dtype.kind in "mM":
            return (x != y) & ~(np.isnat(x) & np.isnat(y))
        return x != y
    x = a.iloc[a_pos].reset_index(drop=True)
    y = b.iloc[b_pos].reset_index(drop=True)
    both_missing = x.isna().to_numpy() & y.isna().to_numpy()
    try:
        if a.dtype != b.dtype or _nested(a.dtype):
            # (pyarrow's == on lists or structs answers False even for equal values)
            raise TypeError("compare as objects")
        equal = (x == y).to_numpy(dtype=bool, na_value=False)
    except (TypeError, ValueError):
        xo, yo = x.astype(object).to_numpy(), y.astype(object).to_numpy()
        try:
            equal = np.fromiter((_eq(p, q) for p, q in zip(xo, yo)), dtype=bool, count=len(xo))
        except Exception:
            equal = x.map(safe_repr).to_numpy() == y.map(safe_repr).to_numpy()
        if a.dtype != b.dtype and not equal.all():
            # a value written another way (`astype(str)`: 60.0 -> "60.0") is the same value;
            # a value that reads differently ("1.7" -> 1) is a changed one
            try:
                equal |= x.astype(str).to_numpy() == y.astype(str).to_numpy()
            except Exception:
                pass
    return ~(equal | both_missing)


def safe_repr(value) -> str:
    """A value's text, for hashing and comparing values that have no better identity; a
    user's object whose __repr__ raises gets its type and id instead of failing the cell's
    record (such objects then compare by identity)."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__qualname__} at {id(value):#x}>"


def _nested(dtype) -> bool:
    pa_type = getattr(dtype, "pyarrow_dtype", None)
    if pa_type is None:
        return False
    import pyarrow as pa

    return bool(pa.types.is_nested(pa_type))


def _eq(p, q) -> bool:
    r = p == q
    if isinstance(r, (bool, np.bool_)):
        return bool(r)
    try:  # arrays, lists of arrays...
        return bool(np.all(r))
    except Exception:
        return repr(p) == repr(q)


def _index_changed(old, new, match: RowMatch) -> bool:
    """Did the row labels (or their names) change for the rows that were kept?"""
    if list(old.index.names) != list(new.index.names):
        return True
    if match.method == "index":
        return False  # rows were matched by equal labels
    if match.method != "content" or len(match.old_pos) == 0:
        return not old.index.equals(new.index)
    o = old.index.take(match.old_pos)
    n = new.index.take(match.new_pos)
    return not o.equals(n)


# --- distributions -------------------------------------------------------------------------


def distribution_shift(a: pd.Series, b: pd.Series) -> tuple[float | None, str | None, bool]:
    """KS statistic for numbers and times, total variation distance for categories."""
    try:
        kind_a, kind_b = _shift_kind(a.dtype), _shift_kind(b.dtype)
        if kind_a != kind_b or kind_a is None:
            return None, None, False
        if kind_a == "ks":
            x, sx = _sample(_numbers(a))
            y, sy = _sample(_numbers(b))
            if len(x) == 0 or len(y) == 0:
                return None, "ks", False
            return ks_statistic(x, y), "ks", sx or sy
        pa = a.value_counts(normalize=True, dropna=False)
        pb = b.value_counts(normalize=True, dropna=False)
        both = pa.align(pb, fill_value=0.0)
        return float(0.5 * np.abs(both[0].to_numpy() - both[1].to_numpy()).sum()), "tv", False
    except Exception:
        return None, None, False


def _shift_kind(dtype) -> str | None:
    if pdt.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "tv"
    if pdt.is_complex_dtype(dtype):
        return None
    if pdt.is_numeric_dtype(dtype) or pdt.is_datetime64_any_dtype(dtype) or pdt.is_timedelta64_dtype(dtype):
        return "ks"
    if pdt.is_string_dtype(dtype) or dtype == object:
        return "tv"
    return None


def _numbers(s: pd.Series) -> np.ndarray:
    s = s.dropna()
    if pdt.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert(None)
        return s.to_numpy().astype("datetime64[ns]").view("i8").astype("float64")
    if pdt.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds().to_numpy(dtype="float64")
    return s.to_numpy(dtype="float64")


def _sample(x: np.ndarray) -> tuple[np.ndarray, bool]:
    if len(x) <= SHIFT_SAMPLE:
        return x, False
    rng = np.random.default_rng(0)
    return x[rng.integers(0, len(x), SHIFT_SAMPLE)], True


def ks_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two ECDFs."""
    x, y = np.sort(x), np.sort(y)
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / len(x)
    cdf_y = np.searchsorted(y, grid, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))

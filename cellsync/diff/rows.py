"""Row identity: which old row each new row is (labels, positions or content), and which
values changed on the rows that stayed."""

from __future__ import annotations


import numpy as np
import pandas as pd

from .records import RowMatch


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

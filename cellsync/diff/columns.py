"""Columns: which are the same column under another name, type changes, row hashes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from .records import RowMatch
from .rows import row_hashes, safe_repr


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

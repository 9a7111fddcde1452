"""Deciding the kind of each change of a cell, from the code and the evidence together."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd

from ..lineage import CellLineage
from ..profile import label_text
from .code import (
    COMBINE_CALLS, CONSTRUCTORS, FILTER_CALLS, READERS_PREFIX, RELABEL_CALLS, SORT_CALLS, SPLIT_CALLS,
    _find_call, _is_columns_axis, _kw, _literal, chain_verbs, code_of, filter_detail,
    model_call, reshapes, verbs,
)
from .records import Change, Operation


def index_kind(index: pd.Index) -> dict:
    """The row labels in words: their kind, count, first and last."""
    n = len(index)
    if isinstance(index, pd.MultiIndex):
        kind = "multi"
    elif isinstance(index, pd.RangeIndex):
        kind = "positions" if index.start == 0 and index.step == 1 else "numbers"
    elif isinstance(index, pd.PeriodIndex):
        kind = "periods"  # `to_period()` turns dates into periods: another kind of label
    elif pd.api.types.is_datetime64_any_dtype(index.dtype):
        kind = "dates"
    elif pd.api.types.is_numeric_dtype(index.dtype):
        kind = "numbers"
    else:
        kind = "labels"
    out = {"kind": kind, "n": n, "names": [label_text(x) for x in index.names if x is not None]}
    if n:
        out["first"] = _short(index[0])
        out["last"] = _short(index[-1])
    return out


def _short(value) -> str:
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ").removesuffix(" 00:00:00").removesuffix("T00:00:00")
    text = label_text(value)
    return text if len(text) <= 40 else text[:39] + "…"


# --- classification --------------------------------------------------------------------------


def classify_cell(changes: list[Change], lineage: CellLineage | None, on_problem=None) -> dict[str, Operation]:
    """One Operation per version id of the cell. Splits are found across the cell's changes.
    A change that cannot be classified is `changed` (facts only), reported to `on_problem`."""
    out: dict[str, Operation] = {}
    for group in find_splits(changes, lineage):
        parts = [{"name": c.name, "rows": int(c.diff.rows_after), "series": c.is_series} for c in group]
        first = group[0]
        verb = None
        if first.binding is not None:
            split_call = _find_call(first.binding.statement.value if hasattr(first.binding.statement, "value") else None, SPLIT_CALLS)
            verb = "train_test_split" if split_call is not None else None
        detail = {
            "of": first.parent, "rows": int(first.diff.rows_before), "parts": parts,
            "shuffled": any(c.diff.reordered for c in group),
            "covers": sum(p["rows"] for p in parts) == int(first.diff.rows_before),
        }
        for c in group:
            out[c.version_id] = Operation("split", verb, {**detail, "part": c.name}, "code+data" if verb else "data")
    for c in changes:
        if c.version_id not in out:
            try:
                out[c.version_id] = classify(c)
            except Exception as exc:  # a classification problem must never lose the version
                out[c.version_id] = Operation("changed")
                if on_problem is not None:
                    on_problem(f"operations.{type(exc).__name__}", exc)
    return out


def find_splits(changes: list[Change], lineage: CellLineage | None) -> list[list[Change]]:
    """Groups of ≥2 new frames from one parent version whose kept rows are disjoint, and
    either cover the parent or come from a call known to split (`train_test_split`)."""
    by_parent: dict[str, list[Change]] = {}
    for c in changes:
        # `df, holdout = train_test_split(df)` keeps one part under the parent's own name
        split_call = c.binding is not None and _find_call(getattr(c.binding.statement, "value", None), SPLIT_CALLS) is not None
        if (c.change in ("new", "rebound") and c.parent_version and c.diff is not None and c.match is not None
                and c.match.method in ("index", "content") and (c.parent != c.name or split_call)
                and c.diff.rows_added == 0 and c.diff.rows_removed > 0):
            by_parent.setdefault(c.parent_version, []).append(c)
    groups = []
    for members in by_parent.values():
        if len(members) < 2:
            continue
        seen = np.zeros(int(members[0].diff.rows_before), dtype=np.int64)
        for c in members:
            np.add.at(seen, c.match.old_pos, 1)
        disjoint = bool((seen <= 1).all())
        covers = bool((seen == 1).all())
        split_code = any(
            c.binding is not None and _find_call(getattr(c.binding.statement, "value", None), SPLIT_CALLS) is not None
            for c in members
        )
        if disjoint and (covers or split_code):
            def order(c):  # as the code wrote them: statement by statement, left to right
                b = c.binding
                return (getattr(b.statement, "lineno", 0) if b else 0, b.position if b and b.position is not None else 0, c.name)
            groups.append(sorted(members, key=order))
    return groups


def classify(c: Change) -> Operation:
    d = c.diff
    node = code_of(c)
    called = verbs(node)
    if c.change == "deleted":
        if c.now is not None:
            return Operation("not_table", None, dict(c.now))
        return Operation("delete", "del" if c.deleted_by_code else None)
    if c.change == "alias":
        return Operation("alias", None, {"of": c.parent})
    if d is None and c.change != "new":
        return Operation("changed", None, {"recorded": False})  # its diff could not be made
    if d is None or d.rows_before is None or c.parent is None:
        return _create(c, node, called)

    # a model's output is the frame only when it is what the name was bound to: a predict()
    # assigned into one column (`df["pred"] = model.predict(X)`) is a column edit
    model = model_call(node, c.estimators) if c.binding is not None else None
    if model is not None:
        return Operation("model_transform", model["method"], {
            **model, "of": c.parent, "rows": int(d.rows_after), "columns": _n_cols(c),
        }, "code+data")

    if not c.parent_is_series and c.is_series and c.parent_frame is not None:
        ex = _extraction(c)
        if ex is not None:
            return ex

    combine = [v for v in chain_verbs(_value_of(node)) if v in COMBINE_CALLS]
    if combine:
        return Operation("combine", combine[-1], _combine_detail(c, node, combine[-1]), "code+data")

    reshaped = reshapes(node) if c.binding is not None else None
    if reshaped is not None and d.row_identity in ("index", "content") and d.rows_removed == d.rows_added == 0:
        reshaped = None  # the code's call reshapes, but every row is still the parent's (rolling, apply)
    if reshaped == "groupby" and "apply" in chain_verbs(_value_of(node)):
        # a per-group apply may aggregate, filter or keep rows (under a new index level): the
        # evidence cannot say which, so neither does the sentence
        return Operation("changed", "apply", {"of": c.parent})
    if d.row_identity == "reshape" or reshaped is not None:
        verb = reshaped
        detail = {"of": c.parent, "rows_before": int(d.rows_before), "rows": int(d.rows_after), "columns": _n_cols(c)}
        by = _groupby_keys(node)
        if by:
            detail["by"] = by
        return Operation("reshape", verb, detail, "code+data" if verb else "data")

    rows_moved = d.rows_removed or d.rows_added
    col_facets = bool(d.columns_added or d.columns_removed or d.dtype_changes or d.values_changed)

    if d.row_identity == "none":
        # no row could be followed: only counts and labels are known
        relabel = [v for v in called if v in RELABEL_CALLS or v == "setattr:index"]
        if relabel and d.rows_before == d.rows_after:
            return Operation("relabel", relabel[-1], _relabel_detail(c), "code+data")
        return Operation("changed", None, {"rows_followed": False})

    if d.rows_removed and not d.rows_added:
        verb = _filter_verb(called)
        if verb == "dropna" and _dropna_columns(node):
            verb = None  # dropna(axis=1) cannot remove rows: the code is not what happened
        names = {c.name, c.parent} | set(c.others)
        # an engine's change (polars, Spark) holds no pandas parent: its columns are not needed
        # but for a query string's names, which are then left unsaid
        columns = [] if c.parent_frame is None else [label_text(x) for x in c.parent_frame.columns]
        detail = filter_detail(node, names, columns) if verb else {}
        detail = {**detail, "of": c.parent}
        if col_facets:
            detail["also_columns"] = True
        return Operation("filter", verb, detail, "code+data" if verb else "data")

    if d.rows_added and not d.rows_removed:
        verb = next((v for v in reversed(called) if v.startswith("setitem") or v in ("loc", "concat", "append", "reindex")), None)
        detail = {"of": c.parent}
        if c.frame is not None and c.parent_frame is not None:
            try:  # `explode` repeats labels the parent had: rows, but no new labels
                detail["new_labels"] = int((~c.frame.index.isin(c.parent_frame.index)).sum())
            except Exception:
                pass
        return Operation("add_rows", verb, detail, "code+data" if verb else "data")

    if rows_moved:
        return Operation("changed", None, {})

    index_moves = [v for v in chain_verbs(_value_of(node)) if v in ("set_index", "reset_index")]
    if index_moves and d.rows_before == d.rows_after and not d.values_changed and not d.dtype_changes and not d.reordered:
        return Operation("relabel", index_moves[-1], _relabel_detail(c), "code+data")

    if d.reordered and not col_facets and not d.columns_renamed:
        verb = next((v for v in reversed(called) if v in SORT_CALLS or v == "sample"), None)
        detail = {"of": c.parent}
        sort = _find_call(node, SORT_CALLS)
        if sort is not None:
            by = _literal(_kw(sort, "by")) if _kw(sort, "by") is not None else (_literal(sort.args[0]) if sort.args else None)
            if by is not None:
                detail["by"] = [by] if not isinstance(by, list) else by
            asc = _literal(_kw(sort, "ascending"))
            if asc is False:
                detail["descending"] = True
        if d.index_changed:
            detail["index"] = _relabel_detail(c).get("index")
        return Operation("reorder", verb, detail, "code+data" if verb else "data")

    if (d.index_changed or d.columns_renamed) and not col_facets:
        verb = next((v for v in reversed(called) if v in RELABEL_CALLS or v.startswith("setattr:")), None)
        return Operation("relabel", verb, _relabel_detail(c), "code+data" if verb else "data")

    if col_facets or d.columns_renamed:
        verb = _column_verb(c, node, called)
        detail = {"of": c.parent}
        if c.name != c.parent and d.columns_removed and d.columns_added and not [x for x in d.columns if x.before is not None]:
            detail["rebuilt"] = True  # no column in common: a table made from the parent's values
        if verb in TEXT_METHODS and _uses_str_accessor(node):
            detail["text_method"] = True
        if verb == "dropna" and d.columns_removed:
            detail["why"] = "missing values"
        if d.index_changed:
            detail["index"] = _relabel_detail(c).get("index")
        return Operation("columns", verb, detail, "code+data" if verb else "data")

    if c.parent_frame is not None and c.frame is not None and not c.is_series and \
            list(c.parent_frame.columns) != list(c.frame.columns) and set(c.parent_frame.columns) == set(c.frame.columns):
        return Operation("reorder", None, {"of": c.parent, "axis": "columns"})
    if c.name != c.parent:
        return Operation("copy", None, {"of": c.parent})
    # the name was bound again to an equal table (`df = df.dropna()` with nothing missing)
    return Operation("copy", next((v for v in reversed(called) if v in FILTER_CALLS), None), {"of": c.parent, "same": True})


TEXT_METHODS = frozenset({
    "lower", "upper", "title", "capitalize", "casefold", "strip", "lstrip", "rstrip", "replace",
    "split", "slice", "get", "cat", "pad", "zfill", "extract", "normalize", "translate", "swapcase",
    "contains", "startswith", "endswith", "len", "count", "match", "fullmatch", "find",
})


def _column_verb(c: Change, node, called: list[str]) -> str | None:
    """The call that produced a column edit: for `df["x"] = df["x"].fillna(0)` the outermost
    call of the value (fillna), not the assignment; for `df.x += 1` "augassign"."""
    stmt = node
    value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None if isinstance(stmt, ast.stmt) else node
    if isinstance(stmt, ast.AugAssign):
        return "augassign"
    if value is not None:
        chain = chain_verbs(value)
        window = next((v for v in chain if v in ("rolling", "expanding", "ewm")), None)
        if window:
            return window  # `x.rolling(3).mean()` is a rolling window, whatever its statistic
        outer = value if isinstance(value, ast.Call) else None
        if outer is not None and isinstance(outer.func, ast.Attribute) and isinstance(outer.func.value, ast.Name) \
                and outer.func.value.id in ("np", "numpy"):
            return f"np.{outer.func.attr}"  # np.where is not DataFrame.where
        if chain:
            return chain[-1].split(".", 1)[-1]  # "str.upper" -> "upper" (text methods: see TEXT_METHODS)
        if isinstance(stmt, ast.stmt):
            return "setitem" if any(v.startswith("setitem") for v in called) else None
    return next((v for v in reversed(called) if v not in ("column", "arithmetic")), None)


def _uses_str_accessor(node) -> bool:
    return node is not None and any(isinstance(n, ast.Attribute) and n.attr == "str" for n in ast.walk(node))


def _value_of(node):
    """The expression a statement evaluates (an assignment's value, an expression's own)."""
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr)):
        return node.value
    return node


def _n_cols(c: Change) -> int:
    return 1 if c.is_series else int(c.frame.shape[1]) if c.frame is not None else 0


def _create(c: Change, node, called) -> Operation:
    detail: dict = {}
    verb = None
    for v in reversed(called):
        if v.startswith(READERS_PREFIX):
            verb = v
            break
    if verb is not None:
        call = _find_call(node, {verb})
        src = _literal(call.args[0]) if call is not None and call.args else None
        if isinstance(src, str):
            detail["source"] = src
    elif any(v in CONSTRUCTORS for v in called):
        verb = next(v for v in reversed(called) if v in CONSTRUCTORS)
    return Operation("create", verb, detail, "code+data" if verb else "data")


def _filter_verb(called: list[str]) -> str | None:
    for v in reversed(called):
        if v in FILTER_CALLS or v in ("mask", "slice"):
            return v
    return None


def _dropna_columns(node) -> bool:
    call = _find_call(node, {"dropna"})
    return call is not None and _is_columns_axis(call)


def _groupby_keys(node) -> list:
    call = _find_call(node, {"groupby"})
    if call is None:
        return []
    by = _kw(call, "by") or (call.args[0] if call.args else None)
    lit = _literal(by) if by is not None else None
    if isinstance(lit, (str, int)):
        return [lit]
    if isinstance(lit, list):
        return lit
    return []


def _relabel_detail(c: Change) -> dict:
    d = c.diff
    detail: dict = {"of": c.parent}
    if c.parent_is_series and not c.is_series:
        detail["from_series"] = True
    if d.index_changed and c.parent_frame is not None and c.frame is not None:
        detail["index"] = {"before": index_kind(c.parent_frame.index), "after": index_kind(c.frame.index)}
    if d.columns_renamed:
        detail["renamed"] = dict(d.columns_renamed)
    return detail


def _extraction(c: Change) -> Operation | None:
    """A series taken out of a table: a row (its index is the table's columns) or a column."""
    parent, frame = c.parent_frame, c.frame
    s_index = frame.index
    name = frame.columns[0] if frame.shape[1] else None
    try:
        in_columns = len(s_index) > 0 and bool(s_index.isin(parent.columns).all())
    except Exception:
        in_columns = False
    if in_columns and not (len(parent) and s_index.equals(parent.index)):
        row = name if name is not None and name in parent.index else None
        return Operation("extract", "row", {
            "of": c.parent, "row": label_text(row) if row is not None else None,
            "values": int(len(frame)), "of_columns": int(parent.shape[1]),
        })
    if name is not None and name in parent.columns and c.diff.row_identity in ("index", "content"):
        changed = int(c.diff.values_changed.get(label_text(name), 0))
        retyped = label_text(name) in c.diff.dtype_changes
        detail = {"of": c.parent, "column": label_text(name), "values": int(len(frame)), "rows": int(len(parent))}
        if changed or retyped:
            # `parent.groupby(k)[col].transform("mean")`: made from the column, not the column
            return Operation("extract", "derived", {**detail, "changed": changed, "retyped": retyped})
        return Operation("extract", "column", detail)
    return None


def _combine_detail(c: Change, node, verb: str) -> dict:
    d = c.diff
    detail: dict = {"of": c.parent, "rows_before": int(d.rows_before), "rows": int(d.rows_after)}
    call = _find_call(node, {verb})
    if call is None:
        return detail
    axis = _literal(_kw(call, "axis"))
    if axis in (1, "columns"):
        detail["axis"] = "columns"
    how = _literal(_kw(call, "how"))
    if isinstance(how, str):
        detail["how"] = how
    on = _literal(_kw(call, "on"))
    if isinstance(on, str):
        on = [on]
    if isinstance(on, list) and on:
        detail["on"] = on
    others = [n for n in c.others if n != c.parent]
    if others:
        detail["with"] = others[0]
    if verb == "merge" and isinstance(on, list) and others and c.parent_frame is not None:
        right = c.others.get(others[0])
        left = c.parent_frame
        try:
            if right is not None and all(k in left.columns for k in on) and all(k in right.columns for k in on):
                lk = pd.MultiIndex.from_frame(left[on]) if len(on) > 1 else pd.Index(left[on[0]])
                rk = pd.MultiIndex.from_frame(right[on]) if len(on) > 1 else pd.Index(right[on[0]])
                detail["matched"] = int(lk.isin(rk).sum())
                detail["unmatched"] = int(len(left) - detail["matched"])
        except Exception:
            pass
    return detail


# --- parents ---------------------------------------------------------------------------------



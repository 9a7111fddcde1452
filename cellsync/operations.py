"""The operation model: what one change to a frame *was*, in a closed vocabulary.

Every frame version gets one `Operation`, decided from the code (the cell's AST, through
`lineage`) and the evidence (the diff, shapes, types, row identity) together. Neither alone is
enough: `dropna` may drop rows or columns, `h = h + 1` looks like new rows to a content hash,
`grid.iloc[0]` is a row taken out, not rows removed. Where the two disagree, the evidence wins
and the code's intent is not repeated; where neither is clear, the kind is `changed` and only
measured facts are stated (say less rather than something false).

The vocabulary (docs/operations.md has an example of each):
    create          a table from a file, a constructor or an unknown source
    filter          rows dropped by a predicate, dedupe, head/tail/sample, label or position
    split           several outputs whose rows are disjoint parts of one input
    extract         a row or a column taken out of a table as a series
    reshape         rows that are not rows of the input: groupby/aggregate, pivot, melt,
                    stack, transpose, resample, value_counts, describe
    relabel         the row labels replaced or moved (set/reset_index, `df.index = ...`),
                    columns renamed
    reorder         the same rows in another order
    columns         columns added, dropped, retyped or rewritten; rows kept
    add_rows        rows (or a series' entries) appended in place
    combine         merge / join / concat with another table
    model_transform an estimator's transform/predict output (scaler, encoder, PCA)
    copy            a new name with the very same content
    alias           another name for the same object
    not_table       the name now holds something CellSync does not follow (an array, a list)
    delete          the name was deleted (`del`)
    changed         a change none of the above describes: only measured facts are stated
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .lineage import RESHAPING, Binding, CellLineage, calls_in
from .profile import label_text
from .records import Record

KINDS = (
    "create", "filter", "split", "extract", "reshape", "relabel", "reorder", "columns",
    "add_rows", "combine", "model_transform", "copy", "alias", "not_table", "delete", "changed",
)

FILTER_CALLS = frozenset({
    "dropna", "drop_duplicates", "head", "tail", "sample", "nlargest", "nsmallest", "query",
    "drop", "truncate", "first", "last", "loc", "iloc",
})
COMBINE_CALLS = frozenset({"merge", "join", "concat", "append", "combine_first", "merge_asof", "merge_ordered"})
RELABEL_CALLS = frozenset({
    "reset_index", "set_index", "rename", "rename_axis", "set_axis", "add_prefix", "add_suffix",
    "tz_localize", "tz_convert", "to_period", "to_timestamp",
})
SORT_CALLS = frozenset({"sort_values", "sort_index"})
MODEL_METHODS = frozenset({
    "fit_transform", "transform", "inverse_transform", "predict", "predict_proba",
    "predict_log_proba", "decision_function", "fit_predict", "fit_resample", "score_samples",
})
SPLIT_CALLS = frozenset({"train_test_split"})
# Functions that make a table out of data that is not (yet) one we follow
CONSTRUCTORS = frozenset({"DataFrame", "Series", "from_dict", "from_records", "from_arrays"})
READERS_PREFIX = "read_"


@dataclass(frozen=True)
class Operation(Record):
    """What one change to one frame was. `detail` holds the kind's own facts (all measured or
    read from the code): a filter's condition and the columns it reads, a split's parts,
    an index's old and new kind, a join's keys and matches, an estimator's name."""

    kind: str
    verb: str | None = None  # the call or statement that did it ("dropna", "setitem", ...)
    detail: dict = field(default_factory=dict)
    evidence: str = "data"  # data | code+data: whether the code's intent agreed with the data
    series: bool = False  # the frame is a Series: its rows are "values"


@dataclass
class Change:
    """The worker's view of one name's new version: what `classify` reads."""

    name: str
    change: str  # new | rebound | mutated | alias | deleted
    version_id: str
    is_series: bool = False
    parent: str | None = None
    parent_version: str | None = None
    parent_is_series: bool = False
    frame: pd.DataFrame | None = None
    parent_frame: pd.DataFrame | None = None
    diff: Any = None  # FrameDiff
    match: Any = None  # RowMatch
    binding: Binding | None = None
    mutations: list = field(default_factory=list)  # statements that changed it in place
    now: dict | None = None  # for a name that no longer holds a frame: what it holds
    deleted_by_code: bool = False
    others: dict = field(default_factory=dict)  # other frames the statement read: name -> frame
    estimators: dict = field(default_factory=dict)  # name -> class name, from the namespace


# --- reading the code ------------------------------------------------------------------------


def code_of(ch: Change) -> ast.AST | None:
    if ch.binding is not None:
        return ch.binding.value
    if ch.mutations:
        return ch.mutations[-1]
    return None


def verbs(node: ast.AST | None) -> list[str]:
    """The operations an expression or statement performs, innermost first: call names, and
    `mask` / `select` / `loc` / `iloc` / `column` for subscripts, `setitem` / `setattr:index`
    for assignments into a frame."""
    if node is None:
        return []
    out: list[str] = []

    def visit(n):
        if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            if n.value is not None:
                visit(n.value)
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                if isinstance(t, ast.Subscript):
                    if isinstance(t.value, ast.Subscript):
                        visit(t.value)  # df[a][b] = ...: the inner selection runs first
                    out.append("setitem" if not isinstance(t.value, ast.Attribute) else f"setitem:{t.value.attr}")
                elif isinstance(t, ast.Attribute):
                    out.append(f"setattr:{t.attr}")
            return
        if isinstance(n, ast.Delete):
            out.append("delitem")
            return
        if isinstance(n, ast.Expr):
            visit(n.value)
            return
        if isinstance(n, ast.Call):
            visit(n.func.value if isinstance(n.func, ast.Attribute) else n.func)
            for a in list(n.args) + [k.value for k in n.keywords]:
                if isinstance(a, (ast.Call, ast.Subscript, ast.List, ast.Tuple)):
                    visit(a)
            fn = n.func
            out.append(fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", ""))
            return
        if isinstance(n, ast.Subscript):
            visit(n.value)
            sl = n.slice
            base = n.value
            if isinstance(base, ast.Attribute) and base.attr in ("loc", "iloc"):
                out.append(base.attr)
            elif is_mask(sl):
                out.append("mask")
            elif isinstance(sl, (ast.List, ast.Tuple)):
                out.append("select")
            elif isinstance(sl, ast.Slice):
                out.append("slice")
            else:
                out.append("column")
            return
        if isinstance(n, ast.Attribute):
            visit(n.value)
            if n.attr == "T":
                out.append("transpose")
            return
        if isinstance(n, (ast.List, ast.Tuple)):
            for e in n.elts:
                visit(e)
            return
        if isinstance(n, ast.BinOp):
            visit(n.left)
            visit(n.right)
            out.append("arithmetic")

    visit(node)
    return [v for v in out if v]


def is_mask(node) -> bool:
    """Does this subscript select rows by a condition (`df[df.a > 1]`, `df[~m]`)?"""
    if isinstance(node, (ast.Compare, ast.BoolOp)):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not)):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
        "isin", "between", "notna", "isna", "notnull", "isnull", "contains", "startswith", "endswith",
        "duplicated", "eq", "ne", "gt", "ge", "lt", "le",
    ):
        return True
    return False


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _literal(node) -> Any:
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def _find_call(node, names) -> ast.Call | None:
    """The outermost call of one of `names` in an expression (the last one to run)."""
    found = None
    for c in calls_in(node) if node is not None else []:
        fn = c.func
        if (fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")) in names:
            found = c
    return found


def columns_read(node, frame_names: set[str]) -> list[str]:
    """Column names a condition reads: `df.age`, `df["age"]`, and names inside a query string."""
    out: list[str] = []
    if node is None:
        return out
    for sub in ast.walk(node):
        col = None
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in frame_names:
            col = sub.attr
        elif isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and sub.value.id in frame_names:
            lit = _literal(sub.slice)
            if isinstance(lit, (str, int)):
                col = lit
        if col is not None and col not in out and col not in ("loc", "iloc", "str", "dt", "index", "columns", "values"):
            out.append(col)
    return out


def condition_text(node) -> str:
    """A condition as people write it: `df.age >= 18` → `age >= 18`."""
    try:
        text = ast.unparse(node)
    except Exception:
        return "a condition"
    return text


def _strip_frames(text: str, frame_names: set[str]) -> str:
    """`df.age >= 18 & df["sex"] == "F"` → `age >= 18 & sex == 'F'`: column references
    written as people read them. Only identifier-like string labels are shortened."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return text

    class Strip(ast.NodeTransformer):
        def visit_Subscript(self, node):
            self.generic_visit(node)
            if isinstance(node.value, ast.Name) and node.value.id in frame_names and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, str) and node.slice.value.isidentifier():
                return ast.Name(id=node.slice.value, ctx=ast.Load())
            return node

        def visit_Attribute(self, node):
            self.generic_visit(node)
            if isinstance(node.value, ast.Name) and node.value.id in frame_names and node.attr not in ("loc", "iloc", "str", "dt", "index"):
                return ast.Name(id=node.attr, ctx=ast.Load())
            return node

    try:
        return ast.unparse(Strip().visit(tree))
    except Exception:
        return text


def filter_detail(node, frame_names: set[str], parent_columns: list[str]) -> dict:
    """How a filter chose its rows, from the code: a condition, or the call that did it."""
    detail: dict = {}
    if node is None:
        return detail
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript):
            sl = sub.slice
            cond = None
            if isinstance(sub.value, ast.Attribute) and sub.value.attr == "loc":
                cond = sl.elts[0] if isinstance(sl, ast.Tuple) and sl.elts else sl
                cond = cond if is_mask(cond) else None
            elif is_mask(sl):
                cond = sl
            if cond is not None:
                detail["condition"] = _strip_frames(condition_text(cond), frame_names)
                detail["columns"] = columns_read(cond, frame_names)
                return detail
    call = _find_call(node, FILTER_CALLS)
    if call is None:
        return detail
    fn = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if fn == "query" and call.args and isinstance(_literal(call.args[0]), str):
        q = _literal(call.args[0])
        detail["condition"] = q
        detail["columns"] = [c for c in parent_columns if c and _mentions(q, c)]
    elif fn in ("dropna", "drop_duplicates"):
        subset = _kw(call, "subset") or (call.args[0] if fn == "drop_duplicates" and call.args else None)
        cols = _literal(subset) if subset is not None else None
        if isinstance(cols, str):
            cols = [cols]
        if cols:
            detail["columns"] = [c for c in cols if isinstance(c, (str, int))]
        how = _literal(_kw(call, "how"))
        if how:
            detail["how"] = how
    elif fn in ("head", "tail", "nlargest", "nsmallest", "sample"):
        n = _literal(call.args[0]) if call.args else _literal(_kw(call, "n"))
        if isinstance(n, int):
            detail["n"] = n
        frac = _literal(_kw(call, "frac"))
        if isinstance(frac, (int, float)):
            detail["frac"] = frac
        if fn in ("nlargest", "nsmallest"):
            cols = _literal(call.args[1]) if len(call.args) > 1 else _literal(_kw(call, "columns"))
            if isinstance(cols, str):
                cols = [cols]
            if cols:
                detail["columns"] = cols
    detail["call"] = fn
    return detail


def _mentions(query: str, column) -> bool:
    import re

    c = str(column)
    return bool(re.search(rf"(?<![\w.]){re.escape(c)}(?!\w)", query) or f"`{c}`" in query)


def _is_columns_axis(call: ast.Call) -> bool:
    axis = _literal(_kw(call, "axis"))
    if axis in (1, "columns"):
        return True
    if _kw(call, "columns") is not None:
        return True
    return False


def model_call(node, estimators: dict) -> dict | None:
    """`PCA(2).fit_transform(X)`, `scaler.transform(X)`, `model.predict(X)`: the estimator's
    class and the method, when the receiver is a constructor call or a fitted estimator."""
    if node is None:
        return None
    for c in reversed(calls_in(node)):
        fn = c.func
        if not (isinstance(fn, ast.Attribute) and fn.attr in MODEL_METHODS):
            continue
        recv = fn.value
        cls = None
        if isinstance(recv, ast.Name) and recv.id in estimators:
            cls = estimators[recv.id]
        elif isinstance(recv, ast.Call):
            ctor = recv.func.attr if isinstance(recv.func, ast.Attribute) else getattr(recv.func, "id", "")
            if ctor[:1].isupper():
                cls = ctor
        if cls is not None:
            return {"estimator": cls, "method": fn.attr}
    return None


# after a groupby, these keep one row per input row: the rows are still the input's
ROW_PRESERVING = frozenset({
    "transform", "cumsum", "cumcount", "cumprod", "cummax", "cummin", "rank", "shift", "diff",
    "pct_change", "ffill", "bfill", "fillna", "head", "tail", "nth", "filter",
})


def chain_verbs(node) -> list[str]:
    """The calls along a method chain only (not inside arguments), innermost first:
    `df.merge(g.groupby("k").size())` gives ["merge"], not ["groupby", "size", "merge"]."""
    out: list[str] = []
    while node is not None:
        if isinstance(node, ast.Call):
            fn = node.func
            out.append(fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", ""))
            node = fn.value if isinstance(fn, ast.Attribute) else None
        elif isinstance(node, ast.Attribute):
            if node.attr == "T":
                out.append("transpose")
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            node = None
    return out[::-1]


def reshapes(node) -> str | None:
    """The reshaping call that decides a chain's rows, if its result rows are not input rows."""
    decided = None
    for v in chain_verbs(node):
        if v in RESHAPING:
            decided = v
        elif decided == "groupby" and v in ROW_PRESERVING:
            decided = None
        elif v in COMBINE_CALLS:
            decided = None
    return decided


WINDOWS = frozenset({"rolling", "expanding", "ewm", "apply", "transform", "pct_change", "diff", "shift"})


def same_rows(parent: pd.DataFrame | None, frame: pd.DataFrame | None, binding: Binding | None = None) -> bool:
    """The result has exactly the parent's rows: the same labels (in any order) where labels
    name rows; on positions 0..n-1, the same positions only after a window or per-row call
    (`rolling`, `apply`), since any table of n rows has those positions."""
    if parent is None or frame is None or len(parent) != len(frame) or len(frame) == 0:
        return False
    try:
        if _positional(parent.index):
            windowed = binding is not None and any(v in WINDOWS for v in chain_verbs(binding.value))
            return windowed and frame.index.equals(parent.index)
        if not (parent.index.is_unique and frame.index.is_unique):
            return False
        return bool(frame.index.isin(parent.index).all())
    except Exception:
        return False


def follows_rows(binding: Binding | None, estimators: dict) -> bool:
    """Whether a new version's rows can be rows of its parent at all, from the code alone:
    not for an aggregate or a reshape, nor for a model's output. Decided before the diff."""
    if binding is None:
        return True
    if reshapes(binding.value) is not None:
        return False
    return model_call(binding.value, estimators) is None


# --- index kinds ---------------------------------------------------------------------------


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
        if (c.change in ("new", "rebound") and c.parent_version and c.diff is not None and c.match is not None
                and c.match.method in ("index", "content") and c.parent != c.name
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
            groups.append(sorted(members, key=lambda c: (c.binding.position if c.binding and c.binding.position is not None else 0, c.name)))
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

    model = model_call(node, c.estimators)
    if model is not None:
        return Operation("model_transform", model["method"], {
            **model, "of": c.parent, "rows": int(d.rows_after), "columns": _n_cols(c),
        }, "code+data")

    if not c.parent_is_series and c.is_series and c.parent_frame is not None:
        ex = _extraction(c)
        if ex is not None:
            return ex

    combine = [v for v in called if v in COMBINE_CALLS]
    if combine:
        return Operation("combine", combine[-1], _combine_detail(c, node, combine[-1]), "code+data")

    reshaped = reshapes(node) if c.binding is not None else None
    if reshaped is not None and d.row_identity in ("index", "content") and d.rows_removed == d.rows_added == 0:
        reshaped = None  # the code's call reshapes, but every row is still the parent's (rolling, apply)
    if reshaped == "groupby" and "apply" in chain_verbs(node) and d.rows_before == d.rows_after:
        # a per-group apply that returned as many rows: maybe the same rows under a new index
        # level, maybe not — the evidence cannot say, so neither does the sentence
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
        detail = filter_detail(node, names, [label_text(x) for x in c.parent_frame.columns]) if verb else {}
        detail = {**detail, "of": c.parent}
        if col_facets:
            detail["also_columns"] = True
        return Operation("filter", verb, detail, "code+data" if verb else "data")

    if d.rows_added and not d.rows_removed:
        verb = next((v for v in reversed(called) if v.startswith("setitem") or v in ("loc", "concat", "append", "reindex")), None)
        return Operation("add_rows", verb, {"of": c.parent}, "code+data" if verb else "data")

    if rows_moved:
        return Operation("changed", None, {})

    index_moves = [v for v in chain_verbs(node) if v in ("set_index", "reset_index")] if c.binding is not None else []
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
            return chain[-1]
        if isinstance(stmt, ast.stmt):
            return "setitem" if any(v.startswith("setitem") for v in called) else None
    return next((v for v in reversed(called) if v not in ("column", "arithmetic")), None)


def _uses_str_accessor(node) -> bool:
    return node is not None and any(isinstance(n, ast.Attribute) and n.attr == "str" for n in ast.walk(node))


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


def relatedness(parent: pd.DataFrame, frame: pd.DataFrame) -> tuple[int, float]:
    """(shared column labels, share of the new rows whose label the parent has): the evidence
    that `frame` was made from `parent`. A row taken out as a series (its labels are the
    parent's columns) counts as sharing columns."""
    try:
        shared = len(set(map(label_text, parent.columns)) & set(map(label_text, frame.columns)))
    except Exception:
        shared = 0
    overlap = 0.0
    try:
        if len(frame.index) and not (_positional(parent.index) and _positional(frame.index)):
            overlap = float(frame.index.isin(parent.index).mean())
        if len(frame.index) and shared == 0 and bool(frame.index.isin(parent.columns).all()):
            shared = 1
    except Exception:
        pass
    return shared, overlap


def _positional(index: pd.Index) -> bool:
    """Labels 0..n-1 say nothing about where rows came from: any two tables share them."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def keeps_code_parent(binding: Binding | None, estimators: dict) -> bool:
    """The code itself says the result comes from its input even if they share no label:
    a model's output, an aggregate, a reset/set_index, a join."""
    if binding is None:
        return False
    chain = chain_verbs(binding.value)
    return (
        model_call(binding.value, estimators) is not None
        or reshapes(binding.value) is not None
        or any(v in RELABEL_CALLS or v in COMBINE_CALLS or v in RESHAPING for v in chain)
    )


def choose_parent(code_parent: str | None, candidates: dict[str, pd.DataFrame], frame: pd.DataFrame,
                  binding: Binding | None, estimators: dict) -> str | None:
    """The parent to record: the code's, if the code is unambiguous and either says so itself
    or the rows/columns agree; where the code is ambiguous (`a, b = f(x, y)`), the candidate
    sharing most; and no parent rather than a wrong one."""
    if code_parent is None or code_parent not in candidates:
        return code_parent
    if binding is not None and binding.ambiguous:
        scored = sorted(((relatedness(f, frame), n) for n, f in candidates.items()), key=lambda x: x[0], reverse=True)
        best, name = scored[0]
        if best == (0, 0.0):
            return None
        if len(scored) > 1 and scored[1][0] == best:
            return None  # two inputs fit equally: unknown, not a guess
        return name
    if keeps_code_parent(binding, estimators):
        return code_parent
    if relatedness(candidates[code_parent], frame) != (0, 0.0):
        return code_parent
    if _positional(candidates[code_parent].index) and _positional(frame.index) and binding is not None:
        # both numbered 0..n-1 and nothing shared: a table rebuilt from the parent's values
        # (`pd.DataFrame(X.values * 2)`) — the code read the parent, and the rows line up
        return code_parent if len(frame) == len(candidates[code_parent]) else None
    for name, f in candidates.items():
        if name != code_parent and relatedness(f, frame) != (0, 0.0):
            return name
    return None

"""Reading a cell's code for the operation model: which calls made a value, the condition a
filter used, whether an estimator produced it, whether its rows can be its input's rows."""

from __future__ import annotations

import ast
from typing import Any

import pandas as pd

from ..lineage import RESHAPING, Binding, calls_in
from .records import Change

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
        thresh = _literal(_kw(call, "thresh"))
        if isinstance(thresh, int):
            detail["thresh"] = thresh
        if _kw(call, "keep") is not None:
            keep = _literal(_kw(call, "keep"))
            detail["keep"] = keep if keep in ("first", "last", False) else "?"
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
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Attribute) and fn.value.attr in ("str", "dt", "cat"):
                name = f"{fn.value.attr}.{name}"  # `.str.join` is not DataFrame.join
            out.append(name)
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


def _positional(index: pd.Index) -> bool:
    """Labels 0..n-1 say nothing about where rows came from: any two tables share them."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


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



"""The code's intent, read from its AST: each statement of a cell as `Step`s (what a common
pandas or scikit-learn idiom does, why one does it, and what an expert should check). The
offline explainer puts these in its step-by-step details, and in the summary only for cells
that changed no data."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..operations import is_mask

# What each idiom is for (the intent), why one does it, and what an expert should check.
# Keys are method or function names as they appear in code.
IDIOMS: dict[str, tuple[str, str, str]] = {
    "read_csv": ("loaded {target} from {arg0}", "to bring the data into the notebook", "that every expected row and column arrived"),
    "read_excel": ("loaded {target} from the spreadsheet {arg0}", "to bring the data into the notebook", "that every sheet and column arrived"),
    "read_parquet": ("loaded {target} from {arg0}", "to bring the data into the notebook", "that every expected column arrived"),
    "read_json": ("loaded {target} from {arg0}", "to bring the data into the notebook", "that nested fields were read as intended"),
    "read_sql": ("loaded {target} from a database query", "to bring the data into the notebook", "that the query selects the intended records"),
    "read_table": ("loaded {target} from {arg0}", "to bring the data into the notebook", "that every expected row arrived"),
    "read_feather": ("loaded {target} from {arg0}", "to bring the data into the notebook", "that every expected column arrived"),
    "DataFrame": ("built {target_phrase}", "to assemble data by hand", "where the values come from"),
    "rename": ("renamed columns", "to give columns clearer or consistent names", "that the new names mean the same thing"),
    "drop": ("dropped {drop_what}", "to remove data not needed for the analysis", "that nothing needed later was dropped"),
    "dropna": ("removed rows with missing values{subset}", "because many methods cannot handle missing values", "whether some groups lose far more rows than others"),
    "fillna": ("filled in missing values{subset_cols}{fill_value}", "so that later steps do not fail on missing values", "whether the filled-in value makes sense for every group"),
    "interpolate": ("filled in missing values by interpolation", "to estimate gaps from neighbouring values", "that neighbouring rows are comparable"),
    "query": ("kept only the rows where {query}", "to focus on the relevant records", "that the condition matches the intended inclusion rule"),
    "filter": ("kept only the rows where {condition}", "to focus on the relevant records", "that the condition matches the intended inclusion rule"),
    "merge": ("joined in {arg0}{on}", "to bring in information from another table", "rows without a match (they get missing values or are dropped)"),
    "join": ("joined in {arg0}", "to bring in information from another table", "rows without a match"),
    "concat": ("stacked tables together", "to combine data from several sources or periods", "that the stacked tables use the same columns and units"),
    "groupby": ("grouped the rows by {arg0}", "to compare groups", "that the groups are the ones experts expect"),
    "agg": ("computed summary values", "to compare groups", "which summary (mean, count, …) was used"),
    "aggregate": ("computed summary values", "to compare groups", "which summary was used"),
    "pivot_table": ("turned the data into a summary table", "to compare groups side by side", "empty cells, which mean a combination did not occur"),
    "pivot": ("turned the data into a wide table", "to compare values side by side", "empty cells"),
    "melt": ("reshaped the table from wide to long", "because many tools expect one value per row", "that the new column names are right"),
    "stack": ("reshaped the table from wide to long", "to put one value per row", "the new row labels"),
    "unstack": ("reshaped the table from long to wide", "to compare values side by side", "empty cells"),
    "astype": ("changed column types", "so that values are treated as numbers, text or categories correctly", "that no value was lost or rounded in the conversion"),
    "to_datetime": ("converted values to dates", "so that dates can be compared and sorted", "values that could not be read as dates"),
    "to_numeric": ("converted values to numbers", "so that values can be calculated with", "values that could not be read as numbers"),
    "apply": ("recomputed values with a custom function", "to apply a rule that has no built-in operation", "the rule inside the function"),
    "map": ("translated values through a mapping", "to recode or relabel values", "values the mapping does not cover (they become missing)"),
    "transform": ("recomputed values group by group", "to compare each row with its group", "the grouping"),
    "replace": ("replaced values", "to correct or recode specific values", "that only the intended values were replaced"),
    "clip": ("capped values to a range", "to limit the influence of extreme values", "whether the extreme values were real"),
    "round": ("rounded values", "for readability or to match a precision", "that the precision is enough"),
    "sort_values": ("sorted the rows by {by}", "to order records for reading or for later steps", "nothing: sorting does not change values"),
    "sort_index": ("sorted the rows by their labels", "to restore an order", "nothing: sorting does not change values"),
    "drop_duplicates": ("removed duplicate rows", "so that each record counts once", "that the rows removed were true duplicates"),
    "reset_index": ("renumbered the rows", "to get a clean row numbering", "nothing: the values are unchanged"),
    "set_index": ("made {arg0} the row label", "to look rows up by that value", "that the value is unique per row"),
    "sample": ("drew a random sample of rows", "to work faster or to build a subset", "that the sample is representative"),
    "head": ("kept the first rows", "to look at or keep the top of the table", "which rows came first"),
    "tail": ("kept the last rows", "to look at or keep the end of the table", "which rows came last"),
    "nlargest": ("kept the rows with the largest {arg1}", "to focus on the top records", "ties at the cut-off"),
    "nsmallest": ("kept the rows with the smallest {arg1}", "to focus on the bottom records", "ties at the cut-off"),
    "get_dummies": ("turned categories into indicator (0/1) columns", "because models need numbers", "rare categories"),
    "cut": ("grouped values into bins", "to turn a number into ranges", "where the bin edges fall"),
    "qcut": ("grouped values into equal-sized bins", "to turn a number into ranked groups", "where the bin edges fall"),
    "explode": ("expanded list values into separate rows", "to have one item per row", "that rows are now repeated"),
    "assign": ("added or recomputed columns", "to derive new values", "the formula of each new column"),
    "copy": ("made a copy of {parent}", "to keep the original unchanged", "nothing: a copy has the same values"),
    "where": ("kept values where a condition holds and blanked the rest", "to mask out invalid values", "the condition"),
    "mask": ("blanked values where a condition holds", "to mask out invalid values", "the condition"),
    "train_test_split": ("split the data into training and test sets", "to measure a model on data it has not seen", "that both sets look alike"),
    "fit_transform": ("fitted a transformation and applied it", "to put features on a common scale or encoding", "that it was fitted on training data only"),
    "fit": ("trained {receiver}", "to learn a model from the data", "which rows and columns it learned from"),
    "predict": ("made predictions with {receiver}", "to apply the model", "the rows it was applied to"),
    "predict_proba": ("computed predicted probabilities with {receiver}", "to get a confidence per row", "the rows it was applied to"),
    "score": ("measured {receiver}'s accuracy", "to see how well the model does", "that it was measured on held-out data"),
    "insert": ("inserted a column", "to add a value at a set place", "the new column's formula"),
    "pop": ("removed a column", "to take it out of the table", "that nothing needed later was removed"),
    "select_dtypes": ("kept only columns of certain types", "to select numeric or text columns", "which columns were left out"),
    "describe": ("summarised the data", "to look at it", "nothing changed"),
    "log_predictions": ("scored the predictions overall and for each segment", "to see where the model does well or badly", "the segments where it does worst"),
    "log_metrics": ("recorded metrics", "to keep track of results", "how they compare with earlier runs"),
    "segment": ("defined a segment to follow", "so that every later step's effect on that group is measured", "that the definition matches the group experts mean"),
    "value_counts": ("counted values", "to look at it", "nothing changed"),
}
METRIC_CALLS = {
    "accuracy_score", "precision_score", "recall_score", "f1_score", "roc_auc_score",
    "log_loss", "mean_squared_error", "mean_absolute_error", "r2_score", "classification_report",
    "confusion_matrix", "balanced_accuracy_score",
}


_MODEL_IDIOMS = {"fit", "predict", "predict_proba", "score", "metric", "fit_transform", "train_test_split", "log_predictions", "log_metrics", "segment"}


@dataclass(frozen=True)
class Step:
    idiom: str
    phrase: str
    why: str
    check: str
    source: str


def _unparse(node) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "…"


def _condition_text(node, frame_names: set[str]) -> str:
    """`df["age"] >= 18` and `df.age >= 18` read as `age >= 18`."""

    class Strip(ast.NodeTransformer):
        def visit_Subscript(self, n):
            self.generic_visit(n)
            if isinstance(n.value, ast.Name) and n.value.id in frame_names and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str):
                return ast.Name(id=n.slice.value, ctx=ast.Load())
            return n

        def visit_Attribute(self, n):
            self.generic_visit(n)
            if isinstance(n.value, ast.Name) and n.value.id in frame_names:
                return ast.Name(id=n.attr, ctx=ast.Load())
            return n

    import copy

    text = _unparse(Strip().visit(copy.deepcopy(node)))
    return text.replace(" & ", " and ").replace(" | ", " or ").replace("~", "not ")


def _literal(node) -> str:
    if isinstance(node, ast.Constant):
        return repr(node.value) if isinstance(node.value, str) else str(node.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        return ", ".join(_literal(e) for e in node.elts)
    return _unparse(node)


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


_is_mask = is_mask  # one reading of "a row condition", shared with the operation model


# Method names that str, list and dict share with pandas: read as a table operation only when
# the receiver is a table (`"::".join(parts)` is not a join of tables).
_SHARED_NAMES = frozenset({"join", "replace", "split", "strip", "count", "index", "append", "pop", "insert",
                           "extend", "update", "copy", "get", "items", "keys", "values", "format", "lower", "upper"})
_LIBRARIES = frozenset({"pd", "pandas", "np", "numpy"})


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _not_a_table(receiver, frame_names: set[str]) -> bool:
    root = _root(receiver)
    if isinstance(root, (ast.Constant, ast.JoinedStr, ast.List, ast.Dict, ast.Tuple, ast.ListComp)):
        return True
    return isinstance(root, ast.Name) and root.id not in frame_names and root.id not in _LIBRARIES


def steps_of(expr, target: str, frame_names: set[str]) -> list[Step]:
    """The idioms in one expression, innermost first (the order they run in)."""
    out: list[Step] = []

    def visit(node):
        if isinstance(node, ast.Call):
            fn = node.func
            receiver = None
            if isinstance(fn, ast.Attribute):
                visit(fn.value)
                name = fn.attr
                if name in _SHARED_NAMES and _not_a_table(fn.value, frame_names):
                    return
                receiver = _unparse(fn.value)
                if isinstance(fn.value, ast.Call) and isinstance(fn.value.func, ast.Name):
                    receiver = f"a {fn.value.func.id} model"
                if isinstance(fn.value, ast.Attribute) and fn.value.attr == "str":
                    out.append(Step("str", f"changed the text of {_condition_text(fn.value.value, frame_names)} ({name})",
                                    "to clean or standardise text", "that the cleaning did not merge values that differ", _unparse(node)))
                    return
            elif isinstance(fn, ast.Name):
                name = fn.id
            else:
                return
            for a in node.args:
                if isinstance(a, ast.Call):  # pd.concat([...]) etc.; column picks in arguments are not steps
                    visit(a)
            if name in METRIC_CALLS:
                out.append(Step("metric", f"measured {name.replace('_score', '').replace('_', ' ')}", "to see how well the model does",
                                "that it was measured on held-out data", _unparse(node)))
                return
            idiom = IDIOMS.get(name)
            if idiom is None:
                return
            fields = {
                "target": target, "receiver": receiver or "the model", "parent": receiver or "",
                "target_phrase": "a table" if target == "a table" else f"the table {target}",
                "arg0": _literal(node.args[0]) if node.args else "", "arg1": _literal(node.args[1]) if len(node.args) > 1 else "",
                "subset": "", "subset_cols": "", "fill_value": "", "on": "", "by": "", "drop_what": "", "query": "", "condition": "",
            }
            if name == "dropna" and _literal(_kw(node, "axis")) in ("1", "'columns'"):
                out.append(Step(name, "dropped the columns that have missing values", "because many methods cannot handle missing values",
                                "that no needed column was dropped", _unparse(node)))
                return
            if name == "transform" and isinstance(fn, ast.Attribute) and "groupby" not in _unparse(fn.value):
                out.append(Step(name, f"applied the fitted transformation {receiver}", "to prepare the data for a model",
                                "that it was fitted on the training data only", _unparse(node)))
                return
            if name == "dropna" and _kw(node, "subset") is not None:
                fields["subset"] = f" in {_literal(_kw(node, 'subset'))}"
            if name == "fillna":
                if node.args:
                    fields["fill_value"] = f" with {_condition_text(node.args[0], frame_names)}"
                if isinstance(fn, ast.Attribute) and isinstance(fn.value, (ast.Subscript, ast.Attribute)):
                    fields["subset_cols"] = f" in {_condition_text(fn.value, frame_names)}"
            if name == "merge":
                on = _kw(node, "on")
                fields["on"] = f" on {_literal(on)}" if on is not None else ""
                if isinstance(fn, ast.Attribute) and fn.attr == "merge" and isinstance(fn.value, ast.Name) and fn.value.id == "pd" and len(node.args) > 1:
                    fields["arg0"] = _literal(node.args[1])
            if name in ("sort_values",):
                by = _kw(node, "by") or (node.args[0] if node.args else None)
                fields["by"] = _literal(by) if by is not None else "values"
            if name == "drop":
                cols = _kw(node, "columns")
                axis = _kw(node, "axis")
                if cols is not None:
                    fields["drop_what"] = f"the column(s) {_literal(cols)}"
                elif axis is not None and _literal(axis) in ("1", "'columns'"):
                    fields["drop_what"] = f"the column(s) {fields['arg0']}"
                else:
                    fields["drop_what"] = "rows by their labels"
            if name == "query" and node.args:
                q = node.args[0]
                fields["query"] = q.value if isinstance(q, ast.Constant) and isinstance(q.value, str) else _unparse(q)
            if name == "groupby":
                by = _kw(node, "by") or (node.args[0] if node.args else None)
                fields["arg0"] = _literal(by) if by is not None else "groups"
            if name == "nlargest" and len(node.args) > 1:
                fields["arg1"] = _literal(node.args[1])
            if name in ("head", "tail") and node.args:
                pass
            phrase, why, check = idiom
            out.append(Step(name, phrase.format(**fields), why, check, _unparse(node)))
            return
        if isinstance(node, ast.Subscript):
            visit(node.value)
            sl = node.slice
            if _is_mask(sl):
                out.append(Step("filter", f"kept only the rows where {_condition_text(sl, frame_names)}",
                                "to focus on the relevant records", "that the condition matches the intended inclusion rule", _unparse(node)))
            elif isinstance(sl, ast.List) and all(isinstance(e, ast.Constant) for e in sl.elts):
                out.append(Step("select", f"kept the columns {_literal(sl)}", "to keep only what is needed",
                                "that no needed column was left out", _unparse(node)))
            elif isinstance(node.value, ast.Attribute) and node.value.attr in ("loc", "iloc") and isinstance(sl, ast.Tuple) and sl.elts and _is_mask(sl.elts[0]):
                out.append(Step("filter", f"kept only the rows where {_condition_text(sl.elts[0], frame_names)}",
                                "to focus on the relevant records", "that the condition matches the intended inclusion rule", _unparse(node)))
            return
        if isinstance(node, ast.Attribute):
            visit(node.value)
            if node.attr == "T":
                out.append(Step("transpose", "swapped rows and columns", "to read the table the other way round", "nothing changed in the values", _unparse(node)))

    visit(expr)
    return out


def statement_steps(code: str, frame_names: set[str], series: set[str] = frozenset()) -> list[tuple[str | None, list[Step], ast.stmt]]:
    """Per top-level statement: the name it binds or changes (if any) and its idioms.
    `series`: names that are Series (`s.e = 1` sets an entry, not a column)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return []
    out = []
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [f"{a.name} from {stmt.module}" for a in stmt.names]
            if out and out[-1][1] and out[-1][1][0].idiom == "import":
                names = out.pop()[1][0].phrase.removeprefix("imported ").split(" and ") + names
            out.append((None, [Step("import", "imported " + " and ".join(names), "to use these tools", "nothing: no data changed", _unparse(stmt))], stmt))
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind = "class" if isinstance(stmt, ast.ClassDef) else "function"
            out.append((None, [Step("define", f"defined the {kind} {stmt.name}", "to reuse a step", "what it does when it is called", f"def {stmt.name}(…)")], stmt))
            continue
        target, value = None, None
        if isinstance(stmt, ast.Assign):
            t = stmt.targets[0]
            value = stmt.value
            if isinstance(t, ast.Name):
                target = t.id
            elif isinstance(t, ast.Tuple):
                target = ", ".join(_unparse(e) for e in t.elts)
            elif isinstance(t, ast.Subscript):
                base = t.value.value if isinstance(t.value, ast.Attribute) and t.value.attr in ("loc", "iloc", "at", "iat") else t.value
                frame = _unparse(base)
                sl = t.slice
                if isinstance(t.value, ast.Attribute):  # df.loc[mask, "col"] = ...
                    col = f"the column {_literal(sl.elts[1])}" if isinstance(sl, ast.Tuple) and len(sl.elts) > 1 else "values"
                    where = f" where {_condition_text(sl.elts[0], frame_names)}" if isinstance(sl, ast.Tuple) and _is_mask(sl.elts[0]) else ""
                    phrase = f"set {col}{where}"
                elif frame in series:
                    phrase = f"set the entry {_literal(sl)}"
                else:
                    phrase = f"set the column {_literal(sl)}"
                inner = steps_of(value, frame, frame_names)
                out.append((frame, inner + [Step("setitem", phrase, "to correct or derive values", "the new values' formula", _unparse(stmt))], stmt))
                continue
        elif isinstance(stmt, ast.AugAssign):
            t = stmt.target
            target = _unparse(t.value) if isinstance(t, ast.Subscript) else _unparse(t)
            out.append((target, [Step("augassign", f"updated {_condition_text(stmt.target, frame_names)} in place", "to adjust values", "the adjustment", _unparse(stmt))], stmt))
            continue
        elif isinstance(stmt, ast.Delete):
            names = ", ".join(_condition_text(t, frame_names) for t in stmt.targets)
            out.append((None, [Step("delete", f"deleted {names}", "to free memory or remove a column", "that nothing needed later was deleted", _unparse(stmt))], stmt))
            continue
        elif isinstance(stmt, ast.Expr):
            value = stmt.value
        if value is None:
            continue
        steps = steps_of(value, target or "a table", frame_names)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and not steps and target is None:
            # a call to the user's own function, e.g. clean(df): it may change its argument
            args = ", ".join(_unparse(a) for a in value.args)
            steps = [Step("call", f"ran {value.func.id}({args})", "to apply a step defined earlier", "what the function does", _unparse(value))]
        elif isinstance(stmt, ast.Expr) and _writes_a_file(value):
            steps = [Step("write", f"exported {_unparse(value.func.value)} ({_unparse(value)})", "to keep or share the result",
                          "that the file holds what was intended", _unparse(value))]
        elif isinstance(stmt, ast.Expr) and not _changes_in_place(value) and not any(x.idiom in _MODEL_IDIOMS for x in steps):
            # an expression nobody assigned: pandas returned a new object, dropped at once; a
            # notebook displays only the cell's last expression
            if steps or _reads_frame(value, frame_names):
                shown = stmt is tree.body[-1]
                phrase = (f"showed {_unparse(value)} without saving it" if shown
                          else f"evaluated {_unparse(value)} without keeping the result")
                steps = [Step("shown", phrase, "to look at a result", "nothing: no data changed", _unparse(value))]
        out.append((target, steps, stmt))
    return out


def _changes_in_place(value) -> bool:
    """`df.dropna(inplace=True)`, `df.update(...)`, `lst.append(...)`: calls that change their
    receiver, so an unassigned expression may still change data."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if any(k.arg == "inplace" for k in value.keywords):
            return True
        return value.func.attr in ("update", "insert", "pop", "append", "extend", "clear", "set_axis_inplace", "fillna_inplace")
    return False


_WRITERS = frozenset({
    "to_csv", "to_excel", "to_parquet", "to_json", "to_sql", "to_pickle", "to_hdf", "to_feather",
    "to_html", "to_latex", "to_markdown", "to_clipboard", "to_stata", "to_xml", "to_orc", "put",
    "savefig", "dump",
})


def _writes_a_file(value) -> bool:
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr in _WRITERS


def _reads_frame(value, frame_names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in frame_names for n in ast.walk(value))

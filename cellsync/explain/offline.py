"""The offline explainer: exact, plain sentences from the cell's code (AST) and its facts.

No network and no model. It recognises common pandas and scikit-learn idioms to say what a cell
*meant* to do, and states what it *did* with the measured numbers from the fact sheet. When it
does not know the code it still describes the measured change. Every number it writes comes
from the fact sheet, so the number guard passes it by construction (and tests check that).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .facts import FactSheet

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
    "DataFrame": ("built the table {target}", "to assemble data by hand", "where the values come from"),
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
    "groupby": ("summarised the data by {arg0}", "to compare groups", "that the groups are the ones experts expect"),
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


def _is_mask(node) -> bool:
    if isinstance(node, (ast.Compare, ast.BoolOp)):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Invert, ast.Not)):
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
        "isin", "between", "notna", "isna", "notnull", "isnull", "contains", "startswith", "endswith", "duplicated",
    ):
        return True
    return False


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
                "arg0": _literal(node.args[0]) if node.args else "", "arg1": _literal(node.args[1]) if len(node.args) > 1 else "",
                "subset": "", "subset_cols": "", "fill_value": "", "on": "", "by": "", "drop_what": "", "query": "", "condition": "",
            }
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


def statement_steps(code: str, frame_names: set[str]) -> list[tuple[str | None, list[Step], ast.stmt]]:
    """Per top-level statement: the name it binds or changes (if any) and its idioms."""
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
                    col = _literal(sl.elts[1]) if isinstance(sl, ast.Tuple) and len(sl.elts) > 1 else "values"
                    where = f" where {_condition_text(sl.elts[0], frame_names)}" if isinstance(sl, ast.Tuple) and _is_mask(sl.elts[0]) else ""
                    phrase = f"set {col}{where}"
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
        steps = steps_of(value, target or "the data", frame_names)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and not steps and target is None:
            # a call to the user's own function, e.g. clean(df): it may change its argument
            args = ", ".join(_unparse(a) for a in value.args)
            steps = [Step("call", f"ran {value.func.id}({args})", "to apply a step defined earlier", "what the function does", _unparse(value))]
        out.append((target, steps, stmt))
    return out


# --- sentences -----------------------------------------------------------------------------


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def _pct(a, b) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def _rate(r) -> str:
    return f"{100 * r:.1f}%"


def _list(items) -> str:
    items = list(items)
    if len(items) <= 5:
        return ", ".join(items)
    return ", ".join(items[:4]) + f" and {len(items) - 4} more"


def outcome(f: dict) -> str:
    """What happened to one frame, from the facts only."""
    name = f["name"]
    if f["change"] == "deleted":
        return f"{name} was deleted."
    parts = []
    rb, ra = f.get("rows_before"), f.get("rows_after")
    if rb is None:
        parts.append(f"created {name} with {_n(ra)} rows and {_n(f.get('n_cols'))} columns")
    elif f.get("row_identity") == "reshape":
        parts.append(f"the result, {name}, has {_n(ra)} rows and {_n(f.get('n_cols'))} columns (from {_n(rb)} rows of {f.get('parent')})")
    else:
        rr, rad = f.get("rows_removed") or 0, f.get("rows_added") or 0
        if rr:
            parts.append(f"removed {_n(rr)} of {_n(rb)} rows ({_pct(rr, rb)})")
        if rad:
            parts.append(f"added {_n(rad)} rows")
        if not rr and not rad:
            parts.append(f"kept all {_n(ra)} rows")
        if f.get("reordered"):
            parts.append("changed their order")
    if f.get("columns_added") and rb is not None:
        parts.append(f"added the column{'s' if len(f['columns_added']) > 1 else ''} {_list(f['columns_added'])}")
    if f.get("columns_removed"):
        parts.append(f"dropped {_list(f['columns_removed'])}")
    if f.get("columns_renamed"):
        parts.append("renamed " + _list(f"{a} to {b}" for a, b in f["columns_renamed"].items()))
    if f.get("dtype_changes"):
        parts.append("changed the type of " + _list(f"{c} ({d['before']} to {d['after']})" for c, d in f["dtype_changes"].items()))
    if f.get("values_changed"):
        parts.append("changed " + _list(f"{_n(n)} value{'s' if n != 1 else ''} in {c}" for c, n in f["values_changed"].items()))
    text = ", ".join(parts)
    derived = f" (from {f['parent']})" if f.get("parent") and f["parent"] != name and f["change"] != "alias" else ""
    subject = "" if rb is None or f.get("row_identity") == "reshape" else f"In {name}{derived}, it "
    return (subject + text + ".") if subject else (text[0].upper() + text[1:] + ".")


def segment_sentence(s: dict) -> str:
    if s.get("flagged"):
        return (
            f"Flagged: it removed {_rate(s['removal_rate'])} of {s['name']} ({_n(s['rows_removed'])} of "
            f"{_n(s['rows_before'])}), against {_rate(s['overall_removal_rate'])} overall."
        )
    if s.get("rows_before") is None:
        return f"{s['name']}: {_n(s['rows_after'])} rows after this cell."
    moved = ""
    if s.get("rows_left"):
        moved = f"; {_n(s['rows_left'])} left it because their values changed"
    return f"{s['name']}: {_n(s['rows_before'])} rows before, {_n(s['rows_after'])} after ({_n(s['rows_removed'])} removed{moved})."


def metric_sentences(metrics: list[dict]) -> list[str]:
    overall = [m for m in metrics if m.get("segment") is None]
    out = []
    for m in overall[:6]:
        who = f"{m['model']} " if m.get("model") else ""
        if m.get("value") is None:
            out.append(f"{who}{m['name']} is not a number here ({m.get('note') or 'undefined'}).")
        elif m.get("previous") is not None:
            out.append(f"{who}{m['name']} moved from {m['previous']:.4g} to {m['value']:.4g}.")
        else:
            out.append(f"{who}{m['name']} is {m['value']:.4g}.")
    by_segment = [m for m in metrics if m.get("segment") is not None and m.get("value") is not None and m.get("name") != "rows"]
    if by_segment:
        first = by_segment[0]["name"]
        scored = sorted((m for m in by_segment if m["name"] == first), key=lambda m: m["value"])
        low = scored[0]
        out.append(f"By segment, {first} is lowest for {low['segment']} ({low['value']:.4g} on {_n(low['n'])} rows).")
    return out


@dataclass(frozen=True)
class OfflineText:
    summary: str
    details: str
    caveats: tuple[str, ...]


def explain_offline(facts: FactSheet) -> OfflineText:
    frame_names = {f["name"] for f in facts.frames} | {f.get("parent") for f in facts.frames if f.get("parent")}
    stmts = statement_steps(facts.code, frame_names - {None})
    steps = [s for _, ss, _ in stmts for s in ss]
    sentences: list[str] = []
    caveats: list[str] = []

    if facts.status == "error":
        err = facts.error or {}
        sentences.append(f"This cell stopped with an error ({err.get('type')}: {err.get('message')}).")
        sentences.append("No data changed." if not facts.frames else "Some data changed before the error:")

    # intent: what the code set out to do, per frame it changed
    described_frames = set()
    for target, ss, _ in stmts:
        if not ss:
            continue
        phrase = _join_steps(ss)
        frames_here = [f for f in facts.frames if f["name"] == target or (target and f["name"] in target.split(", "))]
        if not frames_here and target is None:
            touched = [f for f in facts.frames if f["change"] == "mutated" and f["name"] not in described_frames]
            frames_here = touched if any(s.idiom in ("call", "setitem", "augassign") for s in ss) else []
        if frames_here:
            for f in frames_here:
                if f["name"] in described_frames:
                    continue
                described_frames.add(f["name"])
                sentences.append(_capital(phrase) + ". " + outcome(f))
        elif facts.status != "error" and (not facts.frames or any(x.idiom in _MODEL_IDIOMS for x in ss)):
            sentences.append(_capital(phrase) + ".")
    for f in facts.frames:  # changes the code did not explain (a helper, an alias)
        if f["name"] not in described_frames:
            intro = "" if f["change"] != "alias" else f"{f['name']} is another name for {f.get('parent')}. "
            sentences.append(intro + outcome(f))

    several = len({f["name"] for f in facts.frames}) > 1
    for s in facts.segments:
        if not s.get("flagged") and not any(s.get(k) for k in ("rows_removed", "rows_added", "rows_left", "rows_entered")):
            continue  # a followed segment this cell did not touch
        sentence = segment_sentence(s)
        if several:
            sentence = f"In {s['frame']}, " + sentence[0].lower() + sentence[1:] if s.get("flagged") else f"In {s['frame']}, {sentence}"
        if s.get("flagged"):
            sentences.append(sentence)
            caveats.append(f"{s['name']} lost rows at {s['removal_rate'] / s['overall_removal_rate']:.1f} times the overall rate."
                           if s.get("overall_removal_rate") else sentence)
        else:
            sentences.append(sentence)
    sentences.extend(metric_sentences(list(facts.metrics)))

    if not sentences:
        sentences.append("Nothing in the data changed." if facts.code.strip() else "An empty cell.")
    elif facts.frames == () and facts.metrics == () and facts.status == "ok":
        sentences.append("No data changed.")

    details_lines = []
    for i, s in enumerate(steps, 1):
        details_lines.append(f"{i}. `{s.source}`: {s.phrase}. Why: {s.why}. Check: {s.check}.")
    for f in facts.frames:
        if f.get("note"):
            caveats.append(f"{f['name']}: {f['note']}")
    details = "\n".join(details_lines) if details_lines else "The code uses no step CellSync recognises; the summary describes the measured change."
    return OfflineText(summary=" ".join(sentences), details=details, caveats=tuple(caveats))


def _join_steps(steps: list[Step]) -> str:
    phrases = []
    for s in steps:
        if s.phrase not in phrases:
            phrases.append(s.phrase)
    if len(phrases) == 1:
        return phrases[0]
    return ", then ".join(phrases)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]

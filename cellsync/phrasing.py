"""Every sentence a person or a model reads about a change is built here.

The CLI (`show`), the dashboard (timeline badges, cell view, frame cards, export), the offline
explainer and the fact sheet sent to an LLM all call these functions with the same records
(`Store.timeline()` entries: frame summaries with their `operation`, impacts, metrics), so
they cannot disagree. Each sentence states the operation (operations.py) and the measured
numbers; nothing here guesses. Where the operation is `changed` (the code and the data did
not agree on anything more specific) only the measured facts are stated.

Plain text only: callers that render HTML escape what they get.

One module on purpose, although it is long: the point of it is that every sentence is found in
one place (issue 11), so two screens cannot phrase the same fact two ways.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .operations.records import Operation

if TYPE_CHECKING:
    from .overview import FlowStep, SegmentScore
    from .store.records import FrameSummary, ImpactSummary, MetricSummary, TimelineEntry

# what a frame without a recorded operation reads as: no kind, no verb, no detail
NO_OPERATION = Operation(kind="")


# --- small words -----------------------------------------------------------------------------


def n(x) -> str:
    """1,204 for counts; other values as they are."""
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else str(x)


def pct(a, b) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def rate(r) -> str:
    return "n/a" if r is None else f"{100 * r:.1f}%"


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{n(count)} {word if count == 1 else (words or word + 's')}"


def quote(label) -> str:
    """A column or row label as it appears in a sentence: "age"."""
    return f'"{label}"'


def names(items: Iterable, limit: int = 5, quoted: bool = True) -> str:
    """"a", "b" and "c"; the first four and "6 more" past `limit`."""
    items = [quote(i) if quoted else str(i) for i in items]
    if len(items) > limit:
        items = items[:4] + [f"{len(items) - 4} more"]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _unit(f: FrameSummary) -> tuple[str, str]:
    return ("value", "values") if f.series else ("row", "rows")


def thing(f: FrameSummary, name: str | None = None) -> str:
    """"the table df" / "the series h"."""
    return f"the {'series' if f.series else 'table'} {name or f.name}"


def _rows(f: FrameSummary, count) -> str:
    one, many = _unit(f)
    return plural(count, one, many)


def index_change_words(ix: dict) -> str:
    before, after = ix.get("before") or {}, ix.get("after") or {}
    same_labels = all(before.get(k) == after.get(k) for k in ("kind", "n", "first", "last"))
    if same_labels and before.get("names") != after.get("names"):
        return (f"named the row labels {names(after['names'])}" if after.get("names") else "removed the name of the row labels")
    if before.get("kind") == after.get("kind") == "positions":
        return f"renumbered the rows 0 to {after.get('last')}" if after.get("n") else "renumbered the rows"
    return f"replaced the row labels: {index_words(before)} before, {index_words(after)} now"


def index_words(ix: dict | None) -> str:
    """Row labels in words: "positions 0 to 2", "dates 2020-01-01 to 2020-01-03"."""
    if not ix:
        return "unknown labels"
    kind = ix.get("kind")
    if kind == "multi":
        return f"a {len(ix.get('names') or []) or 'multi'}-level index" if ix.get("names") else "a multi-level index"
    if not ix.get("n"):
        return "no labels"
    span = f"{ix.get('first')}" if ix.get("n") == 1 else f"{ix.get('first')} to {ix.get('last')}"
    word = {"positions": "positions", "numbers": "numbers", "dates": "dates", "periods": "periods"}.get(kind, "labels")
    return f"{word} {span}"


# --- one frame -------------------------------------------------------------------------------


# What a column edit was for, when the code's call says it and the data agrees (a column edit
# was measured). Only verbs that add something to the measured facts are here.
COLUMN_VERBS = {
    "fillna": "filled in missing values", "interpolate": "filled in missing values by interpolation",
    "ffill": "filled in missing values from the previous row", "bfill": "filled in missing values from the next row",
    "astype": "changed column types", "to_datetime": "converted values to dates",
    "to_numeric": "converted values to numbers", "apply": "recomputed values with a custom function",
    "map": "translated values through a mapping", "replace": "replaced values", "clip": "capped values to a range",
    "round": "rounded values", "cut": "grouped values into bins", "qcut": "grouped values into equal-sized bins",
    "get_dummies": "turned categories into indicator (0/1) columns", "where": "blanked values where a condition fails",
    "mask": "blanked values where a condition holds", "abs": "took absolute values", "augassign": "updated values in place",
    "np.where": "chose values by a condition", "rolling": "computed a rolling window",
    "expanding": "computed an expanding window", "ewm": "computed an exponentially weighted average",
    "pct_change": "computed percentage changes", "diff": "computed differences between rows",
    "shift": "shifted values by rows", "cumsum": "computed running totals",
}


# verbs whose phrase claims a change of type: said only where a type changed
_TYPE_VERBS = frozenset({"astype", "to_datetime", "to_numeric"})


def _column_verb_phrase(op: Operation, f: FrameSummary | None = None) -> str | None:
    verb = op.verb
    if op.detail.get("text_method"):
        return f"applied the text method {verb}"
    if verb in _TYPE_VERBS and f is not None and not f.dtype_changes:
        return None  # `df["x"] = (a == b).astype(int)` adds a column; no column's type changed
    return COLUMN_VERBS.get(verb or "")


def column_facets(f: FrameSummary) -> list[str]:
    """What happened to the columns, as clauses: "added the column "x"", ..."""
    parts = []
    if f.columns_added and f.rows_before is not None:
        added = f.columns_added
        parts.append(f"added the column{'s' if len(added) > 1 else ''} {names(added)}")
    if f.columns_removed:
        removed = f.columns_removed
        parts.append(f"dropped the column{'s' if len(removed) > 1 else ''} {names(removed)}")
    if f.columns_renamed:
        parts.append("renamed " + names((f"{quote(a)} to {quote(b)}" for a, b in f.columns_renamed.items()), quoted=False))
    if f.dtype_changes:
        if f.series and len(f.dtype_changes) == 1:
            change = next(iter(f.dtype_changes.values()))
            parts.append(f"changed its type from {change['before']} to {change['after']}")
        else:
            parts.append("changed the type of " + names(
                (f"{quote(c)} from {d['before']} to {d['after']}" for c, d in f.dtype_changes.items()), quoted=False))
    if f.values_changed:
        if f.series and len(f.values_changed) == 1:
            count = next(iter(f.values_changed.values()))
            parts.append(f"changed {_rows(f, count)}")
        else:
            parts.append("changed " + names(
                (f"{plural(c, 'value')} in {quote(col)}" for col, c in f.values_changed.items()), quoted=False))
    return parts


def _clauses(parts: list[str]) -> str:
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return "; ".join(parts[:-1]) + " and " + parts[-1] if len(parts) == 2 else "; ".join(parts)


def _index_clause(f: FrameSummary) -> str:
    ix = f.index or (f.operation or NO_OPERATION).detail.get("index")
    if not f.index_changed:
        return ""
    if ix:
        return index_change_words(ix)
    return "replaced the row labels"


def _filter_reason(op: Operation, new_name: bool) -> str:
    """Why rows went, from the code: only what the operation recorded."""
    verb, d = op.verb, op.detail
    cols = d.get("columns") or []
    if d.get("condition"):
        return f" where {d['condition']}" if new_name else f", keeping those where {d['condition']}"
    if verb == "dropna":
        where = f" in {names(cols)}" if cols else ""
        if d.get("thresh") is not None:
            return (f" with at least {d['thresh']} values present{where}" if new_name
                    else f" with fewer than {d['thresh']} values present{where}")
        if d.get("how") == "all":
            return f" that are not missing every value{where}" if new_name else f" missing every value{where}"
        return f" without a missing value{where}" if new_name else f" with a missing value{where}"
    if verb == "drop_duplicates":
        on = f" on {names(cols)}" if cols else ""
        keep = d.get("keep", "first")
        if keep is False:
            return f" that occur once{on}" if new_name else f" that occurred more than once{on} (every copy)"
        if keep == "last":
            return f" without repeated rows{on} (the last of each kept)" if new_name else f" that repeated a later row{on}"
        if keep != "first":
            return ""
        return f" without repeated rows{on}" if new_name else f" that repeated an earlier row{on}"
    if verb in ("head", "tail") and d.get("n") is not None:
        word = "first" if verb == "head" else "last"
        return f": the {word} {d['n']}" if new_name else f", keeping the {word} {d['n']}"
    if verb == "sample":
        return ", a random sample" if new_name else ", keeping a random sample"
    if verb in ("nlargest", "nsmallest") and cols:
        word = "largest" if verb == "nlargest" else "smallest"
        return f": those with the {word} {names(cols)}" if new_name else f", keeping those with the {word} {names(cols)}"
    if verb == "drop":
        return " (rows dropped by their labels)" if new_name else " by their labels"
    return ""


def frame_sentence(f: FrameSummary) -> str:
    """One sentence (or two) on what a cell did to one frame, from its operation and facts."""
    op = f.operation or NO_OPERATION
    kind = op.kind
    d = op.detail
    name, parent = f.name, f.parent
    rb, ra = f.rows_before, f.rows_after
    new_name = parent is not None and parent != name
    if f.change == "deleted" or kind in ("delete", "not_table"):
        if kind == "not_table":
            return f"{name} now holds {holds_words(d)}, which CellSync does not follow as a table."
        return f"Deleted {thing(f)}." if kind == "delete" else f"{name} no longer exists."
    if kind == "alias" or f.change == "alias":
        return f"{name} is another name for {parent}."
    if ra is None:
        # rows not counted: a lazy plan (never run), or a frame whose profile failed
        note = f" ({f.note})" if f.note else ""
        cols = f" with {plural(f.n_cols, 'column')}" if f.n_cols is not None and not f.series else ""
        if f.change == "new" or kind == "create":
            verb = "Loaded" if (op.verb or "").startswith("read_") else "Created"
            return f"{verb} {thing(f)}{cols}; its rows were not counted{note}."
        now = f"; it has {plural(f.n_cols, 'column')}" if cols else ""
        return f"{capital(thing(f))} changed{now}; its rows were not counted{note}."
    if rb is None and f.change in ("rebound", "mutated") and kind != "create":
        note = f" ({f.note})" if f.note else ""
        return f"{capital(thing(f))} changed; it now has {_rows(f, ra)}, but CellSync could not record how{note}."
    if rb is None or kind == "create":
        cols = "" if f.series else f" and {plural(f.n_cols or 0, 'column')}"
        src = f" from {d['source']}" if d.get("source") else ""
        verb = "Loaded" if (op.verb or "").startswith("read_") else "Created"
        return f"{verb} {thing(f)}{src}: {_rows(f, ra)}{cols}."
    facets = column_facets(f)
    tail = f"; {_clauses(facets)}" if facets else ""
    ix = _index_clause(f) if kind not in ("relabel", "reshape", "extract", "model_transform") else ""
    if ix:
        tail += f"; {ix}"
    if kind == "filter":
        rr = f.rows_removed or 0
        reason = _filter_reason(op, new_name)
        if new_name:
            return f"{capital(thing(f))} holds {n(ra)} of the {_rows(f, rb)} of {parent} ({pct(ra, rb)}){reason}{tail}."
        return f"Removed {n(rr)} of the {_rows(f, rb)} of {thing(f)} ({pct(rr, rb)}){reason}{tail}."
    if kind == "extract":
        if op.verb == "row":
            which = f"the row {quote(d['row'])}" if d.get("row") is not None else "one row"
            return f"{name} is {which} of the table {parent}, taken out as a series of {plural(d.get('values') or ra, 'value')}."
        col = quote(d.get("column"))
        if op.verb == "derived":
            differ = f"; {n(d['changed'])} of them differ from it" if d.get("changed") else "; its type differs"
            return f"{name} is computed from the column {col} of the table {parent}: {plural(ra, 'value')}{differ}."
        if ra == rb:
            return f"{name} is the column {col} of the table {parent}, as a series of {plural(ra, 'value')}."
        return f"{name} is the column {col} of the table {parent} for {n(ra)} of its {plural(rb, 'row')} ({pct(ra, rb)})."
    if kind == "reshape":
        return _reshape_sentence(f, op, d)
    if kind == "relabel":
        return _relabel_sentence(f, op, d, new_name)
    if kind == "reorder" and d.get("axis") == "columns":
        if new_name:
            return f"{capital(thing(f))} has the {_rows(f, ra)} of {parent} with its columns in another order; no values changed."
        return f"Reordered the columns of {thing(f)}; no values changed."
    if kind == "reorder":
        by = f" by {names(d['by'])}" + (", descending" if d.get("descending") else "") if d.get("by") else ""
        extra = f"; {_index_clause(f)}" if f.index_changed else ""
        if new_name:
            return f"{capital(thing(f))} has the {_rows(f, ra)} of {parent} in another order{by}{extra}; no values changed."
        return f"Sorted the {_unit(f)[1]} of {thing(f)}{by}{extra}; no values changed." if by else \
            f"Reordered the {_unit(f)[1]} of {thing(f)}{extra}; no values changed."
    if kind == "add_rows":
        added = f.rows_added or 0
        if new_name:
            how = f" ({op.verb})" if op.verb in ("reindex", "explode") else ""
            if d.get("new_labels") == 0:
                return (f"{capital(thing(f))} has the {_rows(f, rb)} of {parent} and {_rows(f, added)} more under "
                        f"labels it already had{how}: {_rows(f, ra)}{tail}.")
            return (f"{capital(thing(f))} has the {_rows(f, rb)} of {parent} and {n(added)} new "
                    f"{'label' if added == 1 else 'labels'}{how}: {_rows(f, ra)}{tail}.")
        if f.series:
            return f"Added {plural(added, 'value')} to {thing(f)} (now {plural(ra, 'value')}){tail}."
        return f"Added {plural(added, 'row')} to {thing(f)} (now {plural(ra, 'row')}){tail}."
    if kind == "combine":
        return _combine_sentence(f, op, d, facets)
    if kind == "model_transform":
        est, method = d.get("estimator") or "a model", op.verb or "transform"
        what = "the predictions of" if method.startswith("predict") or method == "decision_function" else "the output of"
        size = _rows(f, ra) if f.series else f"{_rows(f, ra)} and {plural(f.n_cols or 0, 'column')}"
        return f"{name} is {what} {est} ({method}) on {parent}: {size}."
    if kind == "copy":
        if d.get("same"):
            did = f" ({op.verb} removed no {_unit(f)[1]})" if op.verb else ""
            return f"Nothing in {thing(f)} changed{did}: all {_rows(f, ra)} kept."
        return f"{name} is a copy of {parent} ({_rows(f, ra)}); nothing in it differs."
    if kind == "columns":
        kept = f"all {_rows(f, ra)} kept"
        if d.get("why") and facets and facets[0].startswith("dropped"):
            facets[0] += f", which had {d['why']}"
        how = _column_verb_phrase(op, f)
        if new_name and f.series:
            return _derived_series_sentence(f, op, how)
        if new_name and d.get("rebuilt"):
            cols = "" if f.series else f" and {plural(f.n_cols or 0, 'column')} ({names(f.columns_added or [])})"
            return f"{capital(thing(f))} is built from the values of {parent}: {_rows(f, ra)}{cols}."
        if new_name:
            lead = f"{capital(thing(f))} has the {_rows(f, ra)} of {parent}"
            return f"{lead}; it {_clauses(facets + ([ix] if ix else []))}" + (f" ({how})." if how else ".")
        if not facets:
            return f"In {thing(f)}, {_clauses([ix]) if ix else 'nothing measurable changed'}."
        if how:
            return f"{capital(how)} in {thing(f)}: {_clauses(facets + ([ix] if ix else []))} ({kept})."
        return f"In {thing(f)}, {_clauses(facets + ([ix] if ix else []))} ({kept})."
    return _changed_sentence(f, facets, ix)


def _derived_series_sentence(f: FrameSummary, op: Operation, how: str | None) -> str:
    """A new series computed from another with the same labels (`x.pct_change()`,
    `s.isin(...)`, `prices.rolling(3).mean()`): its values are not the parent's values."""
    parent, ra = f.parent, f.rows_after
    parts = [f"{plural(ra, 'value')} with the same labels"]
    for change in (f.dtype_changes or {}).values():
        parts.append(f"its type is {change['after']} (in {parent}: {change['before']})")
    changed = sum((f.values_changed or {}).values())
    if changed:
        parts.append(f"all of them differ from {parent}" if changed == ra else f"{n(changed)} of them differ from {parent}")
    if f.columns_renamed or f.columns_added:
        pass  # the series' own name: not a column of anything
    via = f" ({how})" if how and op.verb != "astype" else ""
    return f"{capital(thing(f))} comes from {parent}{via}: {'; '.join(parts)}."


def holds_words(d: dict) -> str:
    t, mod = d.get("type"), d.get("module")
    shape = d.get("shape")
    if t == "ndarray" and mod == "numpy":
        size = " × ".join(n(x) for x in shape) if shape else ""
        return f"a NumPy array of {size}" if size else "a NumPy array"
    if d.get("length") is not None:
        return f"a {t} of {plural(d['length'], 'item')}"
    if shape:
        return f"a {t} of shape {' × '.join(n(x) for x in shape)}"
    return f"a {t}" if t else "something else"


def _reshape_sentence(f, op, d) -> str:
    parent = f.parent
    rb, ra = f.rows_before, f.rows_after
    verb = op.verb
    src = f"{parent} ({plural(rb, 'row')})"
    size = _rows(f, ra) if f.series else f"{plural(ra, 'row')} and {plural(f.n_cols or 0, 'column')}"
    by = f" by {names(d['by'])}" if d.get("by") else ""
    how = {
        "groupby": f"summarises {src}{by}",
        "agg": f"summarises {src}{by}",
        "aggregate": f"summarises {src}{by}",
        "pivot_table": f"is {src} pivoted into a summary table",
        "pivot": f"is {src} pivoted into a wide table",
        "crosstab": f"cross-tabulates {src}",
        "melt": f"is {src} reshaped from wide to long",
        "wide_to_long": f"is {src} reshaped from wide to long",
        "stack": f"is {src} stacked (columns moved into rows)",
        "unstack": f"is {src} unstacked (row labels moved into columns)",
        "transpose": f"is {src} with rows and columns swapped",
        "value_counts": f"counts the values of {src}",
        "describe": f"describes {src}",
        "resample": f"is {src} resampled",
        "corr": f"holds the correlations of {src}",
        "cov": f"holds the covariances of {src}",
    }.get(verb or "", f"is made from {src}")
    return f"{capital(thing(f))} {how}: {size}; its rows are not rows of {parent}."


def _relabel_sentence(f, op, d, new_name) -> str:
    parent = f.parent
    ra = f.rows_after
    verb = op.verb
    ix = d.get("index")
    parts = []
    moved = list(f.columns_added or [])
    if d.get("from_series") and moved:
        moved = moved[:-1]  # a series' reset_index adds its values as the last column
    if verb == "reset_index" and moved:
        parts.append(f"moved the row labels into the column{'s' if len(moved) > 1 else ''} {names(moved)}")
    elif verb == "set_index" and f.columns_removed:
        parts.append(f"made {names(f.columns_removed)} the row labels")
    elif ix:
        parts.append(index_change_words(ix))
    if d.get("renamed") or f.columns_renamed:
        renamed = d.get("renamed") or f.columns_renamed
        parts.append("renamed " + names((f"{quote(a)} to {quote(b)}" for a, b in renamed.items()), quoted=False))
    if not parts:
        parts.append("changed the row labels")
    unchanged = ("are unchanged" if f.series else "and their values are unchanged") if not f.values_changed else "are kept"
    if new_name:
        src = f"the series {parent}" if d.get("from_series") else parent
        count = plural(ra, "value") if d.get("from_series") else _rows(f, ra)
        return f"{capital(thing(f))} has the {count} of {src} with new labels: it {_clauses(parts)}."
    return f"In {thing(f)}, {_clauses(parts)}; all {_rows(f, ra)} {unchanged}."


def _combine_sentence(f, op, d, facets) -> str:
    name, parent = f.name, f.parent
    rb, ra = f.rows_before, f.rows_after
    verb = op.verb
    other = d.get("with")
    new_name = name != parent
    # a join's rows are new rows: values "changed" against the parent's positions would be an
    # artefact of the row match, so only columns added or dropped are said
    facets = [x for x in facets if not x.startswith("changed ")]
    cols = f"; it {_clauses(facets)}" if facets else ""
    had = f"{parent} had {n(rb)}" if new_name else f"it had {n(rb)}"
    if verb in ("merge", "join", "merge_asof", "merge_ordered"):
        on = f" on {names(d['on'])}" if d.get("on") else ""
        how = f" ({d['how']} join)" if d.get("how") else ""
        what = other or "another table"
        matched = ""
        if d.get("matched") is not None:
            matched = (f"; all {plural(rb, 'row')} of {parent} found a match" if d["matched"] == rb else
                       f"; {n(d['matched'])} of the {plural(rb, 'row')} of {parent} found a match")
        if new_name:
            return f"{capital(thing(f))} joins {what} to {parent}{on}{how}: {plural(ra, 'row')} ({had}){matched}{cols}."
        return f"Joined {what} to {thing(f)}{on}{how}: {plural(ra, 'row')} ({had}){matched}{cols}."
    if d.get("axis") == "columns":
        beside = f"{parent} and {other}" if other else parent
        return f"{capital(thing(f))} puts the columns of {beside} side by side ({verb}): {_rows(f, ra)}{cols}."
    others = f" and {other}" if other else " with more rows"
    if new_name:
        return f"{capital(thing(f))} stacks {parent}{others} ({verb}): {_rows(f, ra)} ({had}){cols}."
    onto = f" {other}" if other else " more rows"
    return f"Stacked{onto} onto {thing(f)} ({verb}): {_rows(f, ra)} ({had}){cols}."


def _changed_sentence(f, facets, ix) -> str:
    """Facts only: the operation was not recognised, or code and data disagreed."""
    name, parent = f.name, f.parent
    rb, ra = f.rows_before, f.rows_after
    rr, rad = f.rows_removed or 0, f.rows_added or 0
    one, many = _unit(f)
    parts = []
    if f.row_identity in ("none", "reshape"):
        parts.append(f"has {_rows(f, ra)} ({n(rb)} before; its {many} could not be matched to the earlier ones)")
    else:
        if rr:
            parts.append(f"lost {n(rr)} of its {_rows(f, rb)} ({pct(rr, rb)})")
        if rad:
            parts.append(f"gained {_rows(f, rad)}")
        if not rr and not rad:
            parts.append(f"kept all {_rows(f, ra)}")
        if f.reordered:
            parts.append(f"its {many} are in another order")
    parts += facets + ([ix] if ix else [])
    if parent and parent != name and f.row_identity not in ("none", "reshape") and not rad:
        # a new name is a subset of its parent, not a frame that lost rows
        rest = parts[1:] if rr or (not rr and not rad) else parts
        head = f"has {n(ra)} of the {_rows(f, rb)} of {parent} ({pct(ra, rb)})"
        return f"{capital(thing(f))} {_clauses([head] + rest)}."
    src = f" (from {parent})" if parent and parent != name else ""
    return f"{capital(thing(f))}{src} {_clauses(parts)}."


# --- several frames ----------------------------------------------------------------------------


def split_groups(frames: list[FrameSummary]) -> list[list[FrameSummary]]:
    """Frames recorded as parts of one split, grouped by the frame they split."""
    groups: dict[tuple, list[FrameSummary]] = {}
    for f in frames:
        op = f.operation or NO_OPERATION
        if op.kind == "split":
            groups.setdefault((f.parent, f.parent_version), []).append(f)
    return list(groups.values())


def split_sentence(parts: list[FrameSummary]) -> str:
    first = parts[0]
    op = first.operation or NO_OPERATION
    d = op.detail
    rb = first.rows_before
    unit = _unit(first)[1]
    listed = [f"{p.name} ({n(p.rows_after)} {unit}, {pct(p.rows_after, rb)})" for p in parts]
    joined = ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else listed[0]
    order = ", in shuffled order" if d.get("shuffled") else ""
    if d.get("covers", True):
        return f"Split {thing(first, first.parent)} ({n(rb)} {unit}) into {joined}{order}; every {_unit(first)[0]} is in exactly one part."
    return f"Took disjoint parts of {thing(first, first.parent)} ({n(rb)} {unit}): {joined}{order}."


def frames_sentences(frames: list[FrameSummary]) -> list[str]:
    """One sentence per frame, one per split (not one per part)."""
    out, done = [], set()
    for group in split_groups(frames):
        out.append(split_sentence(group))
        done.update(id(f) for f in group)
    for f in frames:
        if id(f) not in done:
            out.append(frame_sentence(f))
    return out


# --- segments and metrics ----------------------------------------------------------------------


def _verb(s: ImpactSummary, frames: list[FrameSummary] | None) -> str:
    """"removed" where the table itself lost the rows; "left out" where the cell took a subset
    into a new table (the parent still has them)."""
    f = next((f for f in frames or [] if f.name == s.frame), None)
    return "left out" if f is not None and f.parent and f.parent != f.name else "removed"


def flag_sentence(s: ImpactSummary, frame: bool = False, frames: list[FrameSummary] | None = None) -> str:
    where = f" of {s.frame}" if frame and s.frame else ""
    return (
        f"Flagged: it {_verb(s, frames)} {rate(s.removal_rate)} of {s.name}{where} ({n(s.rows_removed)} of "
        f"{n(s.rows_before)}), against {rate(s.overall_removal_rate)} overall."
    )


def more_flags(rest: list[ImpactSummary]) -> str:
    listed = names((s.name for s in rest), limit=4, quoted=False)
    return f"{plural(len(rest), 'more segment')} {'was' if len(rest) == 1 else 'were'} flagged too: {listed}."


def flag_caveat(s: ImpactSummary) -> str:
    if s.overall_removal_rate:
        return f"{s.name} lost rows at {s.removal_rate / s.overall_removal_rate:.1f} times the overall rate."
    return flag_sentence(s)


def segment_sentence(s: ImpactSummary, frames: list[FrameSummary] | None = None) -> str:
    if s.flagged:
        return flag_sentence(s, frames=frames)
    if s.rows_before is None:
        return f"{s.name}: {n(s.rows_after)} rows after this cell."
    moved = ""
    if s.rows_left:
        moved = f"; {n(s.rows_left)} left it because their values changed"
    why = " — by construction: the operation itself tested this segment's column" if s.by_construction else ""
    return (f"{s.name}: {n(s.rows_before)} rows before, {n(s.rows_after)} after "
            f"({n(s.rows_removed)} {_verb(s, frames)}{moved}){why}.")


def flag_line(s: ImpactSummary, frames: list[FrameSummary] | None = None) -> str:
    """Short form for lists: "age >= 80 in df: 12 of 40 removed (30.0%, against 5.0% overall)"."""
    return (f"{s.name} in {s.frame}: {n(s.rows_removed)} of {n(s.rows_before)} {_verb(s, frames)} "
            f"({rate(s.removal_rate)}, against {rate(s.overall_removal_rate)} overall)")


def metric_sentence(m: MetricSummary) -> str:
    who = f"{m.model} " if m.model else ""
    if m.value is None:
        return f"{who}{m.name} is not a number here ({m.note or 'undefined'})."
    if m.previous is not None:
        return f"{who}{m.name} moved from {m.previous:.4g} to {m.value:.4g}."
    note = f" ({m.note})" if m.note else ""
    return f"{who}{m.name} is {m.value:.4g}{note}."


def metric_sentences(metrics: list[MetricSummary]) -> list[str]:
    overall = [m for m in metrics if m.segment is None]
    out = [metric_sentence(m) for m in overall[:6]]
    by_segment = [m for m in metrics if m.segment is not None and m.value is not None and m.name != "rows"]
    if by_segment:
        first = by_segment[0].name
        scored = sorted((m for m in by_segment if m.name == first), key=lambda m: m.value)
        low = scored[0]
        out.append(f"By segment, {first} is lowest for {low.segment} ({low.value:.4g} on {n(low.n)} rows).")
    return out


def metric_line(m: MetricSummary) -> str:
    where = f" [{m.segment}]" if m.segment else ""
    model = f"{m.model} " if m.model else ""
    value = "NaN" if m.value is None else f"{m.value:.4g}"
    change = ""
    if m.previous is not None and m.value is not None:
        change = f" ({m.value - m.previous:+.4g})"
    rows = f" on {n(m.n)} rows" if m.n is not None and m.segment else ""
    note = f" - {m.note}" if m.note else ""
    return f"{model}{m.name}{where} = {value}{change}{rows}{note}"


# --- short forms: badges and CLI lines -------------------------------------------------------


def badges(entry: TimelineEntry, open_threads: int = 0) -> list[tuple[str, bool]]:
    """Short labels of what a cell did: (text, is_flag); `open_threads`: its unanswered threads."""
    out = []
    for group in split_groups(entry.frames):
        out.append((f"split {group[0].parent} into {len(group)}", False))
    for f in entry.frames:
        op = f.operation or NO_OPERATION
        kind = op.kind
        name = f.name
        if kind == "split":
            continue
        if kind == "not_table":
            out.append((f"{name}: not a table now", False))
            continue
        if f.change == "deleted":
            out.append((f"{name} deleted", False))
            continue
        if f.rows_before is None:
            out.append((f"new {name} ({_rows(f, f.rows_after)})", False))
            continue
        one, many = _unit(f)
        if kind == "filter" and f.parent != name:
            out.append((f"{name}: {n(f.rows_after)} of {n(f.rows_before)} {many}", False))
        elif kind in ("reshape", "model_transform", "extract"):
            out.append((f"{name}: {kind.replace('_', ' ')} ({_rows(f, f.rows_after)})", False))
        elif f.row_identity not in ("none", "reshape"):
            if f.rows_removed:
                out.append((f"{name}: {many} −{n(f.rows_removed)}", False))
            if f.rows_added:
                out.append((f"{name}: {many} +{n(f.rows_added)}", False))
        if kind == "relabel" or f.index_changed:
            out.append((f"{name}: new row labels", False))
        if kind in ("reshape", "model_transform", "extract"):
            continue
        if f.columns_added:
            out.append((f"+{plural(len(f.columns_added), 'column')}", False))
        if f.columns_removed:
            out.append((f"−{plural(len(f.columns_removed), 'column')}", False))
        changed = sum((f.values_changed or {}).values())
        if changed:
            out.append((f"{n(changed)} values changed", False))
    for m in entry.metrics:
        if m.segment is None and m.value is not None:
            delta = f" ({m.value - m.previous:+.3g})" if m.previous is not None else ""
            out.append((f"{m.name} {m.value:.3g}{delta}", False))
    flags = [s for s in entry.segments if s.flagged]
    if flags:
        out.append((f"⚑ {plural(len(flags), 'segment flag')}", True))
    if open_threads:
        out.append((f"{plural(open_threads, 'open comment')}", False))
    return out


# --- the timeline's structure, filters and search (issue 14) ----------------------------------

NO_SECTION = "Before the first heading"  # cells above the notebook's first Markdown heading


def section_label(section: str | None) -> str:
    """The timeline group a cell belongs to: its notebook section, or the cells above the first."""
    return section or NO_SECTION


def changed_data(entry: TimelineEntry) -> bool:
    """A cell 'changed data' when it recorded a version of a table (new, changed or deleted)."""
    return bool(entry.frames)


def flagged(entry: TimelineEntry) -> bool:
    return any(s.flagged for s in entry.segments)


def shown_of(shown: int, total: int) -> str:
    """How many timeline rows pass the filters, said as a sentence for the screen reader too."""
    return f"Showing all {plural(total, 'cell')}." if shown == total else f"Showing {n(shown)} of {plural(total, 'cell')}."


def metric_value_line(name: str, value: float, execution_count) -> str:
    """A metric recorded once: a number, not a lonely dot on an axis."""
    where = f" (cell {execution_count})" if execution_count is not None else ""
    return f"{name} = {value:.4g}{where}"


def frame_line(f: FrameSummary) -> str:
    """`cellsync show`: one compact line per frame, the operation first."""
    name = f.name
    op = f.operation or NO_OPERATION
    kind = f"{f.change}; {op.kind}" if op.kind else f.change
    if f.change == "deleted":
        return f"{name} ({kind}): {frame_sentence(f)}"
    parts = []
    one, many = _unit(f)
    if f.rows_before is None:
        cols = "" if f.series else f" x {f.n_cols} columns"
        parts.append(f"new, {n(f.rows_after)} {many}{cols}")
    else:
        src = f" from {f.parent}" if f.parent and f.parent != name else ""
        parts.append(f"{n(f.rows_before)} -> {n(f.rows_after)} {many}{src}")
        if f.row_identity in ("none", "reshape"):
            parts.append(f"{many} not matched to the earlier ones")
        else:
            if f.rows_removed:
                parts.append(f"-{n(f.rows_removed)} removed")
            if f.rows_added:
                parts.append(f"+{n(f.rows_added)} added")
            if f.reordered:
                parts.append(f"{many} reordered")
    if op.kind in ("reshape", "model_transform", "extract"):
        # a new kind of table: its columns are not edits of the parent's
        parts.append(f"{f.n_cols} columns")
        return f"{name} ({kind}): " + "; ".join(parts)
    if f.rows_before is not None and f.columns_added:
        parts.append("columns added: " + ", ".join(f.columns_added))
    if f.columns_removed:
        parts.append("removed: " + ", ".join(f.columns_removed))
    if f.columns_renamed:
        parts.append("renamed: " + ", ".join(f"{a} -> {b}" for a, b in f.columns_renamed.items()))
    if f.dtype_changes:
        parts.append("retyped: " + ", ".join(f"{k} {v['before']} -> {v['after']}" for k, v in f.dtype_changes.items()))
    if f.values_changed:
        parts.append("values changed: " + ", ".join(f"{k} {n(c)}" for k, c in f.values_changed.items()))
    if f.index_changed:
        ix = f.index or {}
        parts.append(f"row labels: {index_words(ix.get('before'))} -> {index_words(ix.get('after'))}" if ix else "row labels changed")
    if f.note:
        parts.append(f.note)
    return f"{name} ({kind}): " + "; ".join(parts)


def segment_metric_lines(metrics: list[MetricSummary]) -> list[str]:
    """Per-segment scores, summarised: the first metric's weakest and strongest segments."""
    by_model: dict[str, list[MetricSummary]] = {}
    for m in metrics:
        if m.segment is not None and m.value is not None and m.name != "rows":
            by_model.setdefault(m.model or "", []).append(m)
    lines = []
    for model, ms in by_model.items():
        first = ms[0].name
        scores = sorted((m for m in ms if m.name == first), key=lambda m: m.value)
        low, high = scores[0], scores[-1]
        lines.append(
            f"{model} {first} by segment ({len(scores)} segments): lowest {low.value:.4g} "
            f"[{low.segment}, {n(low.n)} rows], highest {high.value:.4g} [{high.segment}]"
        )
    return lines


def segment_loss(s: ImpactSummary, f: FrameSummary) -> str:
    """What one cell did to a segment, for answers: a loss where the table itself lost rows,
    a share where the cell took a subset into a new table."""
    flag = " (flagged: far more than overall)" if s.flagged else ""
    why = " (by construction: the operation tested this segment's own column)" if s.by_construction else ""
    parent = f.parent
    if parent and parent != f.name:
        return (f"{n(s.rows_after)} of the {n(s.rows_before)} rows of {s.name} in {parent} are in "
                f"{f.name}{flag}{why}.")
    lost = s.rows_removed + (s.rows_left or 0)
    left = f" ({n(s.rows_left)} of them because their values changed)" if s.rows_left else ""
    return f"removed {n(lost)} of the {n(s.rows_before)} rows of {s.name} in {s.frame}{left}{flag}{why}."


def segment_score_line(s: SegmentScore) -> str:
    """"readmission model accuracy 0.629 for age >= 80 vs 0.797 overall, 70 rows"."""
    who = f"{s.model} " if s.model else ""
    base = f" vs {s.overall:.3g} overall" if s.overall is not None else ""
    rows = f", {n(s.rows)} rows" if s.rows is not None else ""
    return f"{who}{s.metric} {s.value:.3g} for {s.segment}{base}{rows}"


# --- the overview page (ui/overview.py, and the first page of the export) ----------------------

OVERVIEW_EMPTY = {
    "cells": "No cells recorded yet.",
    "flow": "No table changed its rows yet.",
    "findings": "No segment was hit harder than the rest, and no metric moved.",
    "by_segment": "No model was scored by segment.",
    "questions": "No open questions.",
}


def overview_empty(part: str) -> str:
    """The one line an empty part of the overview shows instead of nothing."""
    return OVERVIEW_EMPTY[part]


def step_size(step: FlowStep) -> str:
    """What a flow box counts: the rows after the step ("1,794 rows"), or what was split."""
    if step.branches:
        whole = f"{plural(step.rows_before, 'row')} " if step.rows_before is not None else ""
        return f"{whole}split in {len(step.branches)} parts"
    return plural(step.rows_after, "row") if step.rows_after is not None else "rows unknown"


def step_change(step: FlowStep) -> str:
    """The exclusion (or addition) beside a flow box: "206 rows excluded", "" for none. Where
    the rows could not be followed one by one, only the net change: "206 fewer rows"."""
    if not step.rows_matched and step.rows_before is not None and step.rows_after is not None:
        delta = step.rows_after - step.rows_before
        return f"{n(-delta)} fewer rows" if delta < 0 else f"{n(delta)} more rows" if delta > 0 else ""
    parts = []
    if step.rows_removed:
        parts.append(f"{plural(step.rows_removed, 'row')} excluded")
    if step.rows_added and step.rows_before is not None:
        parts.append(f"{plural(step.rows_added, 'row')} added")
    return ", ".join(parts)


def step_flag_lines(step: FlowStep, entry: TimelineEntry | None) -> list[str]:
    """The flags a flow step raised, in full ("80 and over in patients: 123 of 361 removed
    (34.1%, against 11.8% overall)"): the step's flagged segments of its own table."""
    if entry is None:
        return list(step.flags)
    return [flag_line(s, entry.frames) for s in entry.segments
            if s.name in step.flags and s.frame == step.frame and s.flagged and not s.by_construction]


def steps_run(count: int, first: FlowStep, last: FlowStep) -> str:
    """A run of quiet steps folded into one line: "12 more steps, cells [4] to [40]: 2,000 → 1,310 rows"."""
    def at(s):
        return f"[{s.execution_count}]" if s.execution_count is not None else "[ ]"
    before = n(first.rows_before) if first.rows_before is not None else "?"
    after = n(last.rows_after) if last.rows_after is not None else "?"
    return f"{plural(count, 'more step')} without a flag, cells {at(first)} to {at(last)}: {before} → {after} rows"


def report_made(notebooks: list[str], store: str, at: str) -> str:
    """Where a report came from: "Made 2026-03-01 14:05 UTC from the notebook demo.ipynb (store /path)."."""
    if notebooks:
        source = f"from the notebook{'s' if len(notebooks) > 1 else ''} {names(notebooks, quoted=False)}"
    else:
        source = "from a notebook whose name was not recorded"
    return f"Made {at} {source} (store {store})."

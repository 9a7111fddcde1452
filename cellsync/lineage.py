"""Which names a cell assigned, and which frames each was derived from (read from the AST).

`df2 = df[df.a > 0]` gives {"df2": ["df"]}; `df = df.dropna()` gives {"df": ["df"]};
`m = pd.merge(left, right)` gives {"m": ["left", "right"]}. Only statements the cell runs at
top level count (including inside if/for/with/try), not function or class bodies.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


# Methods whose result rows are aggregates or reshaped values, not rows of the input: a diff
# against the parent then reports columns, but no rows "removed" or "added".
RESHAPING = frozenset(
    {
        "groupby", "agg", "aggregate", "pivot", "pivot_table", "melt", "stack", "unstack",
        "crosstab", "describe", "value_counts", "resample", "rolling", "expanding", "ewm",
        "transpose", "corr", "cov", "wide_to_long",
    }
)


# Calls that hand back their inputs cut into parts, two per input, in the inputs' order:
# `Xtr, Xte, ytr, yte = train_test_split(X, y)` makes Xtr and Xte from X, ytr and yte from y.
PAIRWISE_SPLITS = frozenset({"train_test_split"})


@dataclass(frozen=True)
class Binding:
    """How one name got its value in a cell: the expression, and where in a tuple it sat."""

    name: str
    value: ast.AST  # the expression bound to this name (for `a, b = x, y`: its own element)
    statement: ast.stmt
    position: int | None = None  # index in an unpacked tuple target
    targets: tuple[str, ...] = ()  # every name of that tuple target, in order
    # unpacked from a call whose parts cannot be told apart by the code (`a, b = f(x, y)`):
    # the worker decides the parent from which rows the frames share
    ambiguous: bool = False


@dataclass(frozen=True)
class CellLineage:
    """Per name bound at top level: the names its right-hand side read (in source order)
    and the functions and methods it called; and what else the cell did to names."""

    sources: dict[str, list[str]] = field(default_factory=dict)
    calls: dict[str, list[str]] = field(default_factory=dict)
    bindings: dict[str, Binding] = field(default_factory=dict)  # the last binding of each name
    mutations: dict[str, list[ast.stmt]] = field(default_factory=dict)  # df[..] = / df.x = / inplace
    deleted: frozenset = frozenset()  # names removed with `del name`
    expressions: tuple = ()  # top-level expression statements (not assigned)
    # what the cell passed as a model's target (`model.fit(X, y)`, `fit(X, df["label"])`):
    # ("name", "y") or ("column", "label")
    targets: tuple = ()
    last_expression: ast.AST | None = None  # the cell's last statement, if an expression (its value is shown)

    def is_reshape(self, name: str) -> bool:
        return any(c in RESHAPING for c in self.calls.get(name, ()))


def analyse(code: str) -> CellLineage:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return CellLineage()
    sources: dict[str, list[str]] = {}
    calls: dict[str, list[str]] = {}
    bindings: dict[str, Binding] = {}
    mutations: dict[str, list[ast.stmt]] = {}
    deleted: set[str] = set()
    expressions = []
    for node in _top_level(tree.body):
        if isinstance(node, ast.Delete):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    deleted.add(t.id)
                elif (base := _mutated_name(t)) is not None:
                    mutations.setdefault(base, []).append(node)
            continue
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.NamedExpr):
            expressions.append(node)
            if (base := _inplace_receiver(node.value)) is not None:
                mutations.setdefault(base, []).append(node)
            continue
        targets, value = _assignment(node)
        if value is None:
            continue
        for target in targets:
            if (base := _mutated_name(target)) is not None:
                mutations.setdefault(base, []).append(node)
            for name, part, position, names, ambiguous in _parts(target, value):
                reads, called = _names_read(part), _calls(part)
                # later assignments to the same name in one cell extend what it came from
                merged = sources.setdefault(name, [])
                merged.extend(r for r in reads if r not in merged)
                calls.setdefault(name, []).extend(called)
                bindings[name] = Binding(name, part, node, position, names, ambiguous)
    last = tree.body[-1].value if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    return CellLineage(sources, calls, bindings, mutations, frozenset(deleted), tuple(expressions), _targets(tree), last)


_FITS = frozenset({"fit", "fit_transform", "fit_predict", "cross_val_score", "cross_validate", "cross_val_predict"})


def _targets(tree) -> tuple:
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _call_name(node) not in _FITS:
            continue
        y = next((k.value for k in node.keywords if k.arg == "y"), None)
        if y is None:
            # estimator.fit(X, y); cross_val_score(estimator, X, y)
            pos = 2 if isinstance(node.func, ast.Name) else 1
            y = node.args[pos] if len(node.args) > pos else None
        if isinstance(y, ast.Name):
            out.append(("name", y.id))
        elif isinstance(y, ast.Subscript) and isinstance(y.slice, ast.Constant) and isinstance(y.slice.value, str):
            out.append(("column", y.slice.value))
    return tuple(out)


def _parts(target, value):
    """(name, the expression it got, position, all names of the tuple, ambiguous) per bound
    name. Tuples are unpacked by position wherever the code says which part goes where."""
    if isinstance(target, ast.Name):
        return [(target.id, value, None, (target.id,), False)]
    if not isinstance(target, (ast.Tuple, ast.List)) or any(isinstance(e, ast.Starred) for e in target.elts):
        return [(n, value, None, (n,), False) for n in _bound_names(target)]
    names = tuple(_unparse_target(e) for e in target.elts)
    out = []
    if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
        for i, (elt, part) in enumerate(zip(target.elts, value.elts)):
            out.extend((n, part, i, names, False) for n in _bound_names(elt))
        return out
    call = value if isinstance(value, ast.Call) else None
    fn = _call_name(call) if call is not None else None
    if fn in PAIRWISE_SPLITS and call.args and len(target.elts) == 2 * len(call.args):
        for i, elt in enumerate(target.elts):
            out.extend((n, call.args[i // 2], i, names, False) for n in _bound_names(elt))
        return out
    for i, elt in enumerate(target.elts):
        out.extend((n, value, i, names, True) for n in _bound_names(elt))
    return out


def _unparse_target(node) -> str:
    return node.id if isinstance(node, ast.Name) else ast.unparse(node)


def _call_name(call: ast.Call) -> str:
    fn = call.func
    return fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")


def _mutated_name(target) -> str | None:
    """`df["x"]`, `df.loc[..]`, `df.index`, `df.columns`, `df.x.iloc[0]`: the name changed."""
    node = target
    if not isinstance(node, (ast.Subscript, ast.Attribute)):
        return None
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _inplace_receiver(value) -> str | None:
    """`df.dropna(inplace=True)`, `df.sort_values("a", inplace=True)`: the name changed."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
        if any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True for k in value.keywords):
            return _mutated_name(value.func)
    return None


def assigned_sources(code: str) -> dict[str, list[str]]:
    """Map each name bound at top level to the names read on the right-hand side, in order."""
    return analyse(code).sources


def _calls(value) -> list[str]:
    """Functions and methods called, innermost first: `df.dropna().reset_index()` gives
    ["dropna", "reset_index"]."""
    out = []

    def visit(node):
        if isinstance(node, ast.Call):
            visit(node.func)
            for a in node.args:
                visit(a)
            for k in node.keywords:
                visit(k.value)
            out.append(_call_name(node))
        elif isinstance(node, ast.Attribute):
            visit(node.value)
            if node.attr == "T":
                out.append("transpose")
        else:
            for child in ast.iter_child_nodes(node):
                visit(child)

    visit(value)
    return out


def calls_in(value) -> list[ast.Call]:
    """The Call nodes of an expression, innermost first."""
    out = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            visit(child)
        if isinstance(node, ast.Call):
            out.append(node)

    visit(value)
    return out


def _top_level(body):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield node
        for child_body in ("body", "orelse", "finalbody"):
            inner = getattr(node, child_body, None)
            if isinstance(inner, list):
                yield from _top_level(inner)
        for handler in getattr(node, "handlers", []) or []:
            yield from _top_level(handler.body)


def _assignment(node):
    if isinstance(node, ast.Assign):
        return node.targets, node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None:
        return [node.target], node.value
    if isinstance(node, ast.AugAssign):
        # `x += y` reads x as well as y
        reads_self = ast.Name(id=getattr(node.target, "id", ""), ctx=ast.Load())
        ast.copy_location(reads_self, node)
        return [node.target], ast.Tuple(elts=[reads_self, node.value], ctx=ast.Load())
    if isinstance(node, ast.NamedExpr):
        return [node.target], node.value
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.NamedExpr):
        return [node.value.target], node.value.value
    return [], None


def _bound_names(target) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _bound_names(elt)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []  # df["x"] = ..., obj.attr = ...: a mutation, not a new binding


def _names_read(value) -> list[str]:
    names: list[str] = []
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in names:
            names.append(node.id)
    # ast.walk is breadth-first; order by position so `merge(left, right)` lists left first
    positions = {}
    for node in ast.walk(value):
        if isinstance(node, ast.Name) and node.id not in positions:
            positions[node.id] = (node.lineno, node.col_offset)
    return sorted(names, key=lambda n: positions.get(n, (0, 0)))


def parent_of(name: str, sources: dict[str, list[str]], is_frame) -> str | None:
    """The frame `name` was derived from: itself if it read its own old value, else the first
    frame its right-hand side read. `is_frame(n)` says whether n was a tracked frame before."""
    reads = sources.get(name)
    if reads is None:
        return None
    if name in reads and is_frame(name):
        return name
    for r in reads:
        if r != name and is_frame(r):
            return r
    return None

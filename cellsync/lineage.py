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


@dataclass(frozen=True)
class CellLineage:
    """Per name bound at top level: the names its right-hand side read (in source order)
    and the functions and methods it called."""

    sources: dict[str, list[str]] = field(default_factory=dict)
    calls: dict[str, list[str]] = field(default_factory=dict)

    def is_reshape(self, name: str) -> bool:
        return any(c in RESHAPING for c in self.calls.get(name, ()))


def analyse(code: str) -> CellLineage:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return CellLineage()
    sources: dict[str, list[str]] = {}
    calls: dict[str, list[str]] = {}
    for node in _top_level(tree.body):
        targets, value = _assignment(node)
        if value is None:
            continue
        reads, called = _names_read(value), _calls(value)
        for target in targets:
            for name in _bound_names(target):
                # later assignments to the same name in one cell extend what it came from
                merged = sources.setdefault(name, [])
                merged.extend(r for r in reads if r not in merged)
                calls.setdefault(name, []).extend(called)
    return CellLineage(sources, calls)


def assigned_sources(code: str) -> dict[str, list[str]]:
    """Map each name bound at top level to the names read on the right-hand side, in order."""
    return analyse(code).sources


def _calls(value) -> list[str]:
    out = []
    for sub in ast.walk(value):
        if isinstance(sub, ast.Call):
            fn = sub.func
            out.append(fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", ""))
        elif isinstance(sub, ast.Attribute) and sub.attr == "T":
            out.append("transpose")
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

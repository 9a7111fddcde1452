"""Which frame a new frame came from: the code's answer, checked against shared rows and columns."""

from __future__ import annotations

import pandas as pd

from ..lineage import RESHAPING, Binding
from ..profile import label_text
from .code import COMBINE_CALLS, RELABEL_CALLS, _positional, chain_verbs, model_call, reshapes

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


"""Metrics, estimators and model targets read from the namespace after a cell (blocking
part, cheap checks only; the worker's metric stage decides what changed)."""

from __future__ import annotations

import ast

import pandas as pd

from .lineage import CellLineage
from .metrics import captured_values, displayed_values, estimator_signature, is_estimator, model_info
from .profile import label_text


def scan_metrics(ns: dict, estimators: dict[str, tuple]) -> tuple[list, list]:
    """Metric-like values, and estimators new or refitted since `estimators` (name ->
    (id, signature), updated in place)."""
    captured, models = [], []
    seen = set()
    for name, value in list(ns.items()):
        if name.startswith("_") or isinstance(value, (pd.DataFrame, pd.Series, type)):
            continue
        found = captured_values(name, value)
        if found:
            captured.extend(found)
        elif is_estimator(value):
            seen.add(name)
            sig = estimator_signature(value)
            if estimators.get(name) != (id(value), sig):
                estimators[name] = (id(value), sig)
                models.append(model_info(name, value))
    for gone in [n for n in estimators if n not in seen]:
        del estimators[gone]
    return captured, models


def assigned_metrics(lineage: CellLineage, ns: dict, already: set[str]) -> list:
    """`scores = cross_val_score(...)`: a metric function's result bound to a name that does
    not look like a metric, captured named after the call."""
    out = []
    for name, binding in lineage.bindings.items():
        if name in already or binding.position is not None or not isinstance(binding.value, ast.Call):
            continue
        out += [(metric, value, "assigned") for metric, value, _ in displayed_values(binding.value, ns.get(name))]
    return out


def target_columns(lineage: CellLineage, ns: dict) -> set[str]:
    """Column names this cell used as a model's target: `fit(X, y)` with y a named Series."""
    out = set()
    for kind, ref in lineage.targets:
        if kind == "column":
            out.add(ref)
        else:
            value = ns.get(ref)
            if isinstance(value, pd.Series) and value.name is not None:
                out.add(label_text(value.name))
    return out

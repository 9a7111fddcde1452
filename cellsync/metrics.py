"""Model metrics: captured from the namespace without code changes, or logged explicitly.

Captured after every cell (in the blocking part, so only cheap checks): numbers bound to names
that look like metrics (`accuracy`, `val_f1`, `test_rmse`…), dicts of them, the dict form of
`sklearn.metrics.classification_report`, and fitted scikit-learn estimators. Explicit:
`cellsync.log_metrics(...)` and `cellsync.log_predictions(...)`, the latter computing the same
metrics overall and for every segment of the data, in the worker.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import CellsyncError
from .records import Record, json_safe

_METRIC_WORDS = (
    "accuracy|acc|balanced_accuracy|precision|recall|sensitivity|specificity|f1|f1_score|fbeta"
    "|roc_auc|auc|pr_auc|average_precision|log_loss|logloss|cross_entropy|brier|mse|rmse|mae"
    "|mape|medae|r2|r2_score|explained_variance|loss|error_rate|kappa|mcc"
)
METRIC_NAME = re.compile(rf"^(?:[a-z0-9]+_)*(?:{_METRIC_WORDS})(?:_[a-z0-9]+)*$", re.IGNORECASE)
_REPORT_KEYS = {"accuracy", "macro avg", "weighted avg"}
MAX_DICT_ITEMS = 200


class PredictionError(CellsyncError):
    """Predictions that cannot be scored as given."""


@dataclass(frozen=True)
class MetricValue(Record):
    name: str
    value: float | None  # None: NaN or infinite (see note)
    previous: float | None = None
    segment: str | None = None  # segment text; None: overall
    model: str | None = None
    source: str = "variable"  # variable | dict | report | displayed | assigned | log_metrics | log_predictions
    n: int | None = None  # rows the value was computed on (log_predictions)
    note: str | None = None


@dataclass(frozen=True)
class ModelInfo(Record):
    name: str
    cls: str
    params: dict
    n_features: int | None
    fitted: bool


def is_metric_name(name: str) -> bool:
    return bool(METRIC_NAME.match(name))


def _number(value) -> float | None | bool:
    """float for a real number, False for anything that is not one."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return False
    return float(value)


def captured_values(name: str, value: Any) -> list[tuple[str, float, str]]:
    """(metric name, value, source) triples found in one namespace binding."""
    if name.startswith("_"):
        return []
    num = _number(value)
    if num is not False:
        return [(name, num, "variable")] if is_metric_name(name) else []
    if isinstance(value, dict) and value and len(value) <= MAX_DICT_ITEMS:
        keys = set(value)
        if _REPORT_KEYS & keys and any(isinstance(v, dict) for v in value.values()):
            return _report(name, value)
        out = []
        for k, v in value.items():
            num = _number(v)
            if num is not False and isinstance(k, str) and (is_metric_name(name) or is_metric_name(k)):
                out.append((f"{name}.{k}", num, "dict"))
        return out
    return []


_METRIC_FUNCTION = re.compile(r"(_score|_error|_loss|^score|^cross_val_score|^cross_validate)$")


def displayed_values(expr, value: Any) -> list[tuple[str, float, str]]:
    """A metric a cell shows as its result, named after the call that computed it:
    `accuracy_score(y, p)` → "accuracy_score", `model.score(X, y)` → "model.score",
    `cross_val_score(...)` → its mean, named "cross_val_score (mean of 5)". `expr` is the
    cell's last expression (AST), `value` what IPython displayed for it."""
    import ast

    if expr is None or value is None or not isinstance(expr, ast.Call):
        return []
    fn = expr.func
    if isinstance(fn, ast.Attribute):
        fname = fn.attr
        owner = ast.unparse(fn.value) if isinstance(fn.value, (ast.Name, ast.Attribute)) else None
        name = f"{owner}.{fname}" if owner and len(owner) <= 40 else fname
    elif isinstance(fn, ast.Name):
        fname = name = fn.id
    else:
        return []
    if not (_METRIC_FUNCTION.search(fname) or is_metric_name(fname)):
        return []
    num = _number(value)
    if num is not False:
        return [(name, num, "displayed")]
    if isinstance(value, np.ndarray) and value.ndim == 1 and 0 < len(value) <= 1000 and value.dtype.kind in "fiu":
        return [(f"{name} (mean of {len(value)})", float(np.mean(value)), "displayed")]
    if isinstance(value, dict):
        if fname == "cross_validate":
            return [(f"{name}.{k} (mean of {len(v)})", float(np.mean(v)), "displayed") for k, v in value.items()
                    if isinstance(v, np.ndarray) and v.dtype.kind in "fiu" and k.startswith("test_")][:MAX_DICT_ITEMS]
        return captured_values(name, value)
    return []


def _report(name: str, report: dict) -> list[tuple[str, float, str]]:
    out = []
    for label, entry in report.items():
        if isinstance(entry, dict):
            for k, v in entry.items():
                num = _number(v)
                if num is not False:
                    out.append((f"{name}.{label}.{k}", num, "report"))
        else:
            num = _number(entry)
            if num is not False:
                out.append((f"{name}.{label}", num, "report"))
    return out[:MAX_DICT_ITEMS]


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def same_value(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b


# --- estimators ----------------------------------------------------------------------------


def is_estimator(value) -> bool:
    """scikit-learn style estimators, without importing scikit-learn."""
    return (
        not isinstance(value, type)
        and callable(getattr(value, "get_params", None))
        and callable(getattr(value, "fit", None))
    )


def estimator_signature(value) -> tuple:
    """Changes when the estimator is refitted (its fitted attributes are new objects)."""
    try:
        fitted = tuple(sorted((k, id(v)) for k, v in vars(value).items() if k.endswith("_") and not k.startswith("_")))
    except TypeError:
        fitted = ()
    return (type(value).__qualname__, fitted)


def model_info(name: str, value) -> ModelInfo:
    params = {}
    try:
        for k, v in value.get_params(deep=False).items():
            if v is None or isinstance(v, (bool, int, float, str)):
                params[k] = json_safe(v)
            else:
                params[k] = type(v).__name__
    except Exception:
        params = {}
    fitted = _is_fitted(value)
    n_features = getattr(value, "n_features_in_", None) if fitted else None
    return ModelInfo(
        name=name,
        cls=f"{type(value).__module__.split('.')[0]}.{type(value).__name__}",
        params=params,
        n_features=int(n_features) if isinstance(n_features, numbers.Integral) else None,
        fitted=fitted,
    )


def _is_fitted(value) -> bool:
    if "sklearn" in sys.modules:
        try:
            from sklearn.exceptions import NotFittedError
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(value)
            return True
        except NotFittedError:
            return False
        except Exception:
            pass
    return any(k.endswith("_") and not k.startswith("_") for k in vars(value))


# --- predictions ---------------------------------------------------------------------------


@dataclass
class Predictions:
    """Validated inputs of log_predictions, copied so later user edits cannot change them."""

    name: str
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    data: pd.DataFrame | None
    task: str  # classification | regression
    target: str | None = None  # y_true's name: a segment on it would score the target against itself


def prepare_predictions(y_true, y_pred, data=None, proba=None, name="model") -> Predictions:
    """Check the inputs now (so the user hears at once), score them later in the worker."""
    yt = _column(y_true, "y_true")
    yp = _column(y_pred, "y_pred")
    if len(yt) != len(yp):
        raise PredictionError(f"y_true has {len(yt):,} values but y_pred has {len(yp):,}; nothing recorded")
    if len(yt) == 0:
        raise PredictionError("no predictions to score (y_true is empty)")
    frame = None
    if data is not None:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data))
        if len(frame) != len(yt):
            raise PredictionError(f"data has {len(frame):,} rows but there are {len(yt):,} predictions; nothing recorded")
        frame = frame.reset_index(drop=True).copy()
    pr = None
    if proba is not None:
        pr = np.asarray(proba)
        if len(pr) != len(yt):
            raise PredictionError(f"proba has {len(pr):,} rows but there are {len(yt):,} predictions; nothing recorded")
    task = _task(yt, yp)
    if task == "classification":
        kinds = {_label_kind(v) for v in np.concatenate([yt, yp]) if not _missing(v)}
        if len(kinds) > 1:
            raise PredictionError(
                f"labels mix {' and '.join(sorted(kinds))} values (e.g. 1 and '1'); make them one type; nothing recorded"
            )
    target = str(y_true.name) if isinstance(y_true, pd.Series) and y_true.name is not None else None
    return Predictions(name, yt.copy(), yp.copy(), None if pr is None else pr.copy(), frame, task, target)


def _column(values, what) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.Index)):
        return values.to_numpy()
    if isinstance(values, (list, tuple)):
        # np.asarray([1, "1"]) would silently turn both into text: keep the real types
        values = pd.Series(list(values), dtype=None).to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise PredictionError(f"{what} must be one value per row (got shape {arr.shape})")
    return arr


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _label_kind(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "boolean"
    if isinstance(v, numbers.Number):
        return "number"
    return "text"


def _task(yt: np.ndarray, yp: np.ndarray) -> str:
    if yt.dtype.kind == "f":
        values = yt[~np.isnan(yt)]
        if len(values) and (np.any(values != np.round(values)) or len(np.unique(values)) > 20):
            return "regression"
    elif yt.dtype.kind in "iu" and len(np.unique(yt)) > 20:
        return "regression"
    return "classification"


def score(p: Predictions, rows: np.ndarray | None = None) -> dict[str, float | None]:
    """The task's metrics on all rows, or on a boolean selection of them (scikit-learn)."""
    from sklearn import metrics as skm

    yt, yp = p.y_true, p.y_pred
    proba = p.proba
    if rows is not None:
        yt, yp = yt[rows], yp[rows]
        proba = None if proba is None else proba[rows]
    out: dict[str, float | None] = {}
    if p.task == "regression":
        out["mae"] = float(skm.mean_absolute_error(yt, yp))
        out["rmse"] = float(np.sqrt(skm.mean_squared_error(yt, yp)))
        out["r2"] = float(skm.r2_score(yt, yp)) if len(yt) > 1 else None
        return out
    labels = np.unique(np.concatenate([p.y_true, p.y_pred]))
    binary = len(labels) == 2
    kwargs = {"average": "binary", "pos_label": labels[-1]} if binary else {"average": "macro", "labels": labels}
    out["accuracy"] = float(skm.accuracy_score(yt, yp))
    out["precision"] = float(skm.precision_score(yt, yp, zero_division=0, **kwargs))
    out["recall"] = float(skm.recall_score(yt, yp, zero_division=0, **kwargs))
    out["f1"] = float(skm.f1_score(yt, yp, zero_division=0, **kwargs))
    if proba is not None:
        if len(np.unique(yt)) < 2:
            out["roc_auc"] = None  # undefined with one class present
        else:
            try:
                if binary:
                    pos = proba[:, -1] if proba.ndim == 2 else proba
                    out["roc_auc"] = float(skm.roc_auc_score(yt == labels[-1], pos))
                else:
                    out["roc_auc"] = float(skm.roc_auc_score(yt, proba, multi_class="ovr", labels=labels))
            except ValueError:
                out["roc_auc"] = None
    return out

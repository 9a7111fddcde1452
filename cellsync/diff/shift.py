"""Distribution shift of a column between two versions (a two-sample KS statistic)."""

from __future__ import annotations


import numpy as np
import pandas as pd
from pandas.api import types as pdt



# --- distributions -------------------------------------------------------------------------

# Distribution shift is computed on at most this many values per side (seeded sample above it,
# labelled `shift_sampled`): the KS statistic's sampling error is then about 0.01.
SHIFT_SAMPLE = 20_000


def distribution_shift(a: pd.Series, b: pd.Series) -> tuple[float | None, str | None, bool]:
    """KS statistic for numbers and times, total variation distance for categories."""
    try:
        kind_a, kind_b = _shift_kind(a.dtype), _shift_kind(b.dtype)
        if kind_a != kind_b or kind_a is None:
            return None, None, False
        if kind_a == "ks":
            x, sx = _sample(_numbers(a))
            y, sy = _sample(_numbers(b))
            if len(x) == 0 or len(y) == 0:
                return None, "ks", False
            return ks_statistic(x, y), "ks", sx or sy
        pa = a.value_counts(normalize=True, dropna=False)
        pb = b.value_counts(normalize=True, dropna=False)
        both = pa.align(pb, fill_value=0.0)
        return float(0.5 * np.abs(both[0].to_numpy() - both[1].to_numpy()).sum()), "tv", False
    except Exception:
        return None, None, False


def _shift_kind(dtype) -> str | None:
    if pdt.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "tv"
    if pdt.is_complex_dtype(dtype):
        return None
    if pdt.is_numeric_dtype(dtype) or pdt.is_datetime64_any_dtype(dtype) or pdt.is_timedelta64_dtype(dtype):
        return "ks"
    if pdt.is_string_dtype(dtype) or dtype == object:
        return "tv"
    return None


def _numbers(s: pd.Series) -> np.ndarray:
    s = s.dropna()
    if pdt.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_convert(None)
        return s.to_numpy().astype("datetime64[ns]").view("i8").astype("float64")
    if pdt.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds().to_numpy(dtype="float64")
    return s.to_numpy(dtype="float64")


def _sample(x: np.ndarray) -> tuple[np.ndarray, bool]:
    if len(x) <= SHIFT_SAMPLE:
        return x, False
    rng = np.random.default_rng(0)
    return x[rng.integers(0, len(x), SHIFT_SAMPLE)], True


def ks_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two ECDFs."""
    x, y = np.sort(x), np.sort(y)
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / len(x)
    cdf_y = np.searchsorted(y, grid, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))

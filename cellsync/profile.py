"""Per-version, per-column statistics: DataFrame -> FrameProfile.

Vectorised numpy/pandas throughout. Everything is exact except distinct counts of columns
longer than `settings.exact_unique_max_rows`, which use a HyperLogLog estimate over pandas'
row hashes and say so (`unique_approx=True`). A column that cannot be profiled is recorded
with `note="not profiled: <reason>"`; nothing here raises for odd data.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as pdt

from .config import Settings, settings as default_settings
from .records import Record, json_safe
from .redact import secret_column

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Histogram(Record):
    edges: tuple[Any, ...]  # numbers; ISO strings for datetimes; seconds for timedeltas
    counts: tuple[int, ...]


@dataclass(frozen=True)
class ValueCount(Record):
    value: Any
    count: int


@dataclass(frozen=True)
class LengthStats(Record):
    min: int
    max: int
    mean: float


@dataclass(frozen=True)
class ColumnProfile(Record):
    name: str
    position: int
    dtype: str
    kind: str  # numeric | bool | datetime | timedelta | categorical | string | object | other
    inferred: str | None = None  # pandas' infer_dtype for object columns
    count: int = 0  # non-missing values
    missing: int = 0
    unique: int | None = None
    unique_approx: bool = False
    min: Any = None
    max: Any = None
    mean: Any = None
    std: Any = None
    quantiles: dict[str, Any] | None = None
    histogram: Histogram | None = None
    top_values: tuple[ValueCount, ...] = ()
    length: LengthStats | None = None
    memory_bytes: int | None = None
    memory_approx: bool = False
    note: str | None = None


@dataclass(frozen=True)
class FrameProfile(Record):
    n_rows: int
    n_cols: int
    index: str
    index_unique: bool
    memory_bytes: int | None
    columns: tuple[ColumnProfile, ...]
    note: str | None = None

    def column(self, name: str) -> ColumnProfile:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def label_text(label: Any) -> str:
    """How a column label is shown to people: MultiIndex tuples are joined with ' / '."""
    if isinstance(label, tuple):
        return " / ".join(label_text(part) for part in label)
    return str(label)


def index_text(index: pd.Index) -> str:
    if isinstance(index, pd.MultiIndex):
        return f"MultiIndex({index.nlevels} levels)"
    if isinstance(index, pd.RangeIndex):
        return f"RangeIndex({index.start}, {index.stop}, {index.step})"
    return f"{type(index).__name__}[{index.dtype}]"


def column_kind(dtype) -> str:
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pdt.is_bool_dtype(dtype):
        return "bool"
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pdt.is_timedelta64_dtype(dtype):
        return "timedelta"
    if pdt.is_complex_dtype(dtype):
        return "other"
    if pdt.is_numeric_dtype(dtype):
        return "numeric"
    if isinstance(dtype, pd.StringDtype) or (pdt.is_string_dtype(dtype) and dtype != object):
        return "string"
    if dtype == object:
        return "object"
    return "other"


def profile_frame(
    df: pd.DataFrame, cfg: Settings | None = None, reuse: dict[int, ColumnProfile] | None = None
) -> FrameProfile:
    """Profile every column. `reuse` maps a column position to the profile of a column known
    to hold exactly the same values (from the diff), which is then relabelled, not recomputed."""
    cfg = cfg or default_settings
    reuse = reuse or {}
    n_rows, n_cols = df.shape
    limit = min(n_cols, cfg.max_profile_columns)
    def one(i: int) -> ColumnProfile:
        if i in reuse:
            return dataclasses.replace(reuse[i], name=label_text(df.columns[i]), position=i)
        return _profile_column_safely(df.iloc[:, i], i, cfg)

    threads = cfg.profile_threads if n_rows >= 100_000 and limit > 1 else 1
    if threads > 1:
        # numpy's partition, histogram and hashing release the GIL: columns profile in parallel
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cellsync-profile") as pool:
            columns = tuple(pool.map(one, range(limit)))
    else:
        columns = tuple(one(i) for i in range(limit))
    note = None
    if n_cols > limit:
        note = (
            f"not profiled: columns {limit + 1}-{n_cols} (max_profile_columns={limit})"
        )
    memory = sum(c.memory_bytes or 0 for c in columns) + int(df.index.memory_usage(deep=False))
    try:
        index_unique = bool(df.index.is_unique)
    except TypeError:  # unhashable index values
        index_unique = False
    return FrameProfile(
        n_rows=int(n_rows),
        n_cols=int(n_cols),
        index=index_text(df.index),
        index_unique=index_unique,
        memory_bytes=int(memory),
        columns=columns,
        note=note,
    )


def _profile_column_safely(s: pd.Series, position: int, cfg: Settings) -> ColumnProfile:
    if not cfg.profile_secret_columns and secret_column(s.name):
        return _counts_only(s, position)
    try:
        return _profile_column(s, position, cfg)
    except Exception as exc:  # odd data must never stop the other columns
        return ColumnProfile(
            name=label_text(s.name),
            position=position,
            dtype=str(s.dtype),
            kind=column_kind(s.dtype),
            count=int(len(s)),
            note=f"not profiled: {type(exc).__name__}: {exc}"[:300],
        )


SECRET_NOTE = "counts only: named like a secret (settings.profile_secret_columns)"


def _counts_only(s: pd.Series, position: int) -> ColumnProfile:
    """Values in a column named like a secret are the secrets: count them, show none (no top
    values, no min/max, no histogram, no lengths), so nothing of them reaches the store."""
    count = int(s.notna().sum())
    return ColumnProfile(name=label_text(s.name), position=position, dtype=str(s.dtype),
                         kind=column_kind(s.dtype), count=count, missing=int(len(s) - count), note=SECRET_NOTE)


def _profile_column(s: pd.Series, position: int, cfg: Settings) -> ColumnProfile:
    kind = column_kind(s.dtype)
    n = len(s)
    notna = s.notna().to_numpy()
    count = int(notna.sum())
    out: dict[str, Any] = dict(
        name=label_text(s.name),
        position=position,
        dtype=str(s.dtype),
        kind=kind,
        count=count,
        missing=int(n - count),
    )
    inferred = None
    if kind == "object":
        inferred = pd.api.types.infer_dtype(s, skipna=True)
        out["inferred"] = inferred
        if inferred == "string":
            out["kind"] = kind = "string"
    out["memory_bytes"], out["memory_approx"] = _memory(s)

    if kind in ("numeric", "timedelta"):
        values = _as_float(s)
        if count < n:
            values = values[notna]
        out.update(_numeric_stats(values, integer=pdt.is_integer_dtype(s.dtype), cfg=cfg))
        if kind == "numeric" and pdt.is_integer_dtype(s.dtype) and count:
            out["min"], out["max"] = int(s.min()), int(s.max())  # exact beyond 2**53
    elif kind == "datetime":
        out.update(_datetime_stats(s, notna, cfg))

    if kind in ("categorical", "string", "bool", "object", "other"):
        out["top_values"] = _top_values(s, cfg.top_values, cfg.max_value_chars)
    if kind == "string":
        lengths = s[notna].astype(str).str.len() if count else pd.Series([], dtype=float)
        if len(lengths):
            out["length"] = LengthStats(
                int(lengths.min()), int(lengths.max()), float(lengths.mean())
            )
    out["unique"], out["unique_approx"] = _distinct(s, kind, notna, count, cfg)
    return ColumnProfile(**out)


def _memory(s: pd.Series) -> tuple[int, bool]:
    # deep=True walks every Python object; for long object columns estimate from a sample.
    if s.dtype == object and len(s) > 100_000:
        sample = s.sample(10_000, random_state=0)
        per_row = sample.memory_usage(index=False, deep=True) / len(sample)
        return int(per_row * len(s)), True
    return int(s.memory_usage(index=False, deep=True)), False


def _as_float(s: pd.Series) -> np.ndarray:
    if pdt.is_timedelta64_dtype(s.dtype):
        return s.dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
    return s.to_numpy(dtype="float64", na_value=np.nan)


def _numeric_stats(values: np.ndarray, integer: bool, cfg: Settings) -> dict:
    out: dict[str, Any] = {}
    if len(values) == 0:
        return out
    finite = values[np.isfinite(values)]
    out["min"] = float(values.min())
    out["max"] = float(values.max())
    with np.errstate(all="ignore"):
        out["mean"] = float(values.mean())
        out["std"] = float(values.std(ddof=1)) if len(values) > 1 else None
    qs = np.quantile(values, QUANTILES)
    out["quantiles"] = {str(q): float(v) for q, v in zip(QUANTILES, qs)}
    if len(finite):
        out["histogram"] = _histogram(finite, integer, cfg.histogram_bins)
    return out


def _histogram(finite: np.ndarray, integer: bool, bins: int) -> Histogram:
    lo, hi = float(finite.min()), float(finite.max())
    if integer and hi - lo + 1 <= bins:
        # one bar per integer value reads better than 30 bars with gaps
        n, span = int(hi - lo + 1), (lo - 0.5, hi + 0.5)
    elif lo == hi:
        n, span = 1, (lo - 0.5, hi + 0.5)
    else:
        n, span = bins, (lo, hi)
    # equal-width bins as a count and a range: numpy's fast path, which bins without sorting
    # the data (with the edges as an array it sorts them: ~70% of a wide frame's profile) and
    # gives the same counts for the same edges
    counts, edges = np.histogram(finite, bins=n, range=span)
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _iso(value) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def _datetime_stats(s: pd.Series, notna: np.ndarray, cfg: Settings) -> dict:
    out: dict[str, Any] = {}
    if not notna.any():
        return out
    present = s[notna]
    out["min"], out["max"] = _iso(present.min()), _iso(present.max())
    out["mean"] = _iso(present.mean())
    if len(present) > 1:
        out["std"] = present.std().total_seconds()  # seconds: a spread, not a point in time
    qs = present.quantile(list(QUANTILES))
    out["quantiles"] = {str(q): _iso(v) for q, v in zip(QUANTILES, qs)}
    naive = present.dt.tz_convert(None) if present.dt.tz is not None else present
    as_np = naive.to_numpy()
    ints = as_np.view("i8").astype("float64")
    hist = _histogram(ints, integer=False, bins=cfg.histogram_bins)
    edges = np.array(hist.edges).round().astype("i8").view(as_np.dtype)
    tz = present.dt.tz
    iso = [
        pd.Timestamp(e).tz_localize("UTC").tz_convert(tz).isoformat() if tz else pd.Timestamp(e).isoformat()
        for e in edges
    ]
    out["histogram"] = Histogram(tuple(iso), hist.counts)
    return out


def _top_values(s: pd.Series, k: int, max_chars: int = 200) -> tuple[ValueCount, ...]:
    try:
        counts = s.value_counts(dropna=True, sort=True)
    except TypeError:  # unhashable elements (lists, dicts): count their text
        counts = s.dropna().astype(str).value_counts(sort=True)
    counts = counts.head(k)
    return tuple(
        ValueCount(cap_text(_display_value(v), max_chars), int(c)) for v, c in zip(counts.index, counts.to_numpy())
    )


def cap_text(value: Any, max_chars: int) -> Any:
    """A long text value cut to `max_chars` and marked: one 10 MB cell must not be copied into
    every profile, diff and page that shows top values."""
    if isinstance(value, str) and len(value) > max_chars:
        return value[: max_chars - 1] + "…"
    return value


def _display_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, float, str, np.integer, np.floating)):
        return json_safe(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v)


def _distinct(s: pd.Series, kind: str, notna: np.ndarray, count: int, cfg: Settings):
    if count == 0:
        return 0, False
    if kind == "categorical":
        codes = s.cat.codes.to_numpy()
        return int(len(np.unique(codes[codes >= 0]))), False
    if kind == "bool" or count <= cfg.exact_unique_max_rows:
        try:
            return int(s.nunique(dropna=True)), False
        except TypeError:
            return int(s[notna].astype(str).nunique()), False
    try:
        hashes = pd.util.hash_pandas_object(s[notna], index=False).to_numpy()
    except TypeError:
        hashes = pd.util.hash_pandas_object(s[notna].astype(str), index=False).to_numpy()
    return hyperloglog(hashes), True


def hyperloglog(hashes: np.ndarray, p: int = 14) -> int:
    """Distinct-count estimate of uint64 hashes (HyperLogLog, ~0.8% standard error at p=14)."""
    m = 1 << p
    hashes = hashes.astype(np.uint64, copy=False)
    idx = (hashes >> np.uint64(64 - p)).astype(np.intp)
    # a guard bit keeps w non-zero, capping the rank at 64 - p + 1
    w = (hashes << np.uint64(p)) | np.uint64(1 << (p - 1))
    # rank = leading zeros + 1, read off the float64 exponent (no log2 over a million values)
    exponent = (w.astype(np.float64).view(np.int64) >> 52) - 1023
    rank = (64 - exponent).astype(np.intp)
    # Scatter into an (m, 64) presence table and take the highest rank per register: several
    # times faster than np.maximum.at on a million hashes.
    seen = np.zeros((m, 64), dtype=bool)
    seen[idx, rank] = True
    registers = np.where(seen.any(axis=1), 63 - np.argmax(seen[:, ::-1], axis=1), 0)
    alpha = 0.7213 / (1 + 1.079 / m)
    estimate = alpha * m * m / np.sum(np.exp2(-registers.astype(np.float64)))
    zeros = int((registers == 0).sum())
    if estimate <= 2.5 * m and zeros:
        estimate = m * math.log(m / zeros)  # linear counting is better for small counts
    return int(round(estimate))

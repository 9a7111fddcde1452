"""Seeded benchmark data, identical in every venv (pandas 2 or 3; only numpy + pandas needed).

Nothing here imports cellsync: bench/peers_worker.py imports this module inside the peer
venvs, so the peers and CellSync see the same values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_FLOAT, N_INT = 12, 4
REGIONS = np.array(["north", "south", "east", "west", "centre"], dtype=object)


def float_frame(n_rows: int, n_cols: int = 20, seed: int = 0) -> pd.DataFrame:
    """n_rows x n_cols float64 (one 2-D block, as `pd.DataFrame(ndarray)` makes)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((n_rows, n_cols)), columns=[f"c{i}" for i in range(n_cols)])


def mixed_frame(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """20 columns: id (int64, unique) + 3 more int64, 12 float64 (f11 with 1% missing),
    2 strings (`name`: ~n/10 distinct, `code`: 200 distinct), 1 category, 1 datetime64[ns]."""
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {"id": np.arange(n_rows, dtype=np.int64)}
    for i in range(1, N_INT):
        cols[f"i{i}"] = rng.integers(0, 10 ** (i + 1), n_rows, dtype=np.int64)
    for i in range(N_FLOAT):
        cols[f"f{i}"] = rng.random(n_rows) if i % 2 else rng.normal(50, 10, n_rows)
    nan_at = rng.random(n_rows) < 0.01
    cols["f11"] = np.where(nan_at, np.nan, cols["f11"])
    n_names = max(1, n_rows // 10)
    cols["name"] = pd.Series(np.char.add("user_", rng.integers(0, n_names, n_rows).astype(str)))
    cols["code"] = pd.Series(np.char.add("C", rng.integers(0, 200, n_rows).astype(str)))
    cols["region"] = pd.Categorical.from_codes(rng.integers(0, len(REGIONS), n_rows), categories=REGIONS)
    start = np.datetime64("2020-01-01T00:00:00", "ns")
    offsets = rng.integers(0, 4 * 365 * 24 * 3600, n_rows).astype("timedelta64[s]").astype("timedelta64[ns]")
    cols["when"] = pd.Series(start + offsets).astype("datetime64[ns]")
    return pd.DataFrame(cols)


CHANGE_CODE = (
    "df = df[df['f1'] > 0.1]\n"  # filter ~10% of rows
    "df['f0'] = df['f0'] * 2\n"  # rewrite one column
    "df['score'] = df['f2'] + df['f3']"  # add one column
)


def changed(old: pd.DataFrame) -> pd.DataFrame:
    """The benchmark's change: filter ~10% of rows, rewrite one column, add one column
    (exactly what CHANGE_CODE does in a cell)."""
    ns = {"df": old}
    exec(CHANGE_CODE, ns)
    return ns["df"]


def frame_bytes(df: pd.DataFrame) -> int:
    return int(df.memory_usage(index=True, deep=True).sum())

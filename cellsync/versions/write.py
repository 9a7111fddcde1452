"""`persist`: a version written whole or as a delta on its parent."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..config import Settings
from ..redact import secret_column
from .records import ColumnRef, DataPlan, encode_label, IndexRef
from .files import ColumnFiles
from .encoding import NotPersistable



# --- writing -------------------------------------------------------------------------------


def persist(
    files: ColumnFiles,
    frame: pd.DataFrame,
    cfg: Settings,
    parent: DataPlan | None = None,
    parent_id: str | None = None,
    parent_positions: np.ndarray | None = None,
    same_columns: dict[int, int] | None = None,
    same_index: bool = False,
    series: bool = False,
    sample_rows: int | None = None,
) -> DataPlan:
    """Persist one version and return how to rebuild it.

    parent_positions: for each row of `frame`, its position in the parent version (-1: added).
    same_columns: frame column position -> parent column position, for columns whose values
    on the kept rows equal the parent's (from the diff).
    same_index: the row labels are the parent's labels of the kept rows (from the diff).
    series: the version was a Series (`frame` is it as one column); read back as a Series.
    sample_rows: the store is past its budget (settings.max_store_mb): keep at most this many
    rows, a seeded sample, and never a delta (a delta keeps its parent's full data alive).
    """
    if not cfg.persist_data:
        return DataPlan(kind="none", rows=len(frame), note="persist_data is off", series=series)

    def column(j: int) -> tuple[ColumnRef, int]:
        label = frame.columns[j]
        if not cfg.profile_secret_columns and secret_column(label):
            return ColumnRef(label=encode_label(label), encoding="none", dtype=str(frame.dtypes.iloc[j]),
                             note="not persisted: named like a secret (settings.profile_secret_columns)"), 0
        ref, n = files.write_series(frame.iloc[:, j])
        return dataclasses.replace(ref, label=encode_label(label)), n

    written = 0
    parent_rows = None
    if parent_positions is not None:
        n_parent = parent.rows if parent is not None and not parent.sampled else (
            int(parent_positions.max()) + 1 if len(parent_positions) else 0
        )
        parent_rows, n = files.write_positions(parent_positions, n_parent)
        written += n

    can_delta = (
        parent is not None
        and parent.kind in ("full", "delta")
        and not parent.sampled
        and parent_positions is not None
        and len(frame) <= cfg.max_persist_rows
        and bool((parent_positions >= 0).all())
        and parent.depth + 1 < cfg.full_version_every
        and sample_rows is None
    )
    if can_delta:
        same_columns = same_columns or {}
        rewritten = [j for j in range(frame.shape[1]) if j not in same_columns]
        new = dict(zip(rewritten, _each(column, rewritten, len(frame), cfg)))
        refs = []
        for j in range(frame.shape[1]):
            if j in same_columns:
                refs.append(ColumnRef(label=encode_label(frame.columns[j]), parent=same_columns[j]))
            else:
                ref, n = new[j]
                written += n
                refs.append(ref)
        if same_index and not isinstance(frame.index, pd.RangeIndex):
            index, n = IndexRef(kind="base", columns_names=tuple(encode_label(x) for x in frame.columns.names)), 0
        else:
            index, n = _write_index(files, frame)
        written += n
        return DataPlan(
            kind="delta",
            rows=len(frame),
            base=parent_id,
            depth=parent.depth + 1,
            parent_rows=parent_rows,
            parent_count=n_parent,
            columns=tuple(refs),
            index=index,
            column_levels=frame.columns.nlevels,
            bytes_written=written,
            series=series,
            columns_dtype=_columns_dtype(frame),
        )

    sampled, sample_of = False, None
    limit = cfg.max_persist_rows if sample_rows is None else min(sample_rows, cfg.max_persist_rows)
    if len(frame) > limit:
        rng = np.random.default_rng(cfg.sample_seed)
        take = np.sort(rng.choice(len(frame), limit, replace=False))
        sample_of = len(frame)
        frame = frame.iloc[take]
        sampled = True
    # whole, though its parent had the same values: the chain was long, or rows were added
    carry = (same_columns or {}) if (
        not sampled and parent is not None and parent.kind in ("full", "delta") and not parent.sampled
        and parent_positions is not None and bool((parent_positions >= 0).all())) else {}
    refs = []
    for j, (ref, n) in enumerate(_each(column, range(frame.shape[1]), len(frame), cfg)):
        written += n
        refs.append(dataclasses.replace(ref, same_as=carry[j]) if j in carry and ref.encoding != "none" else ref)
    index, n = _write_index(files, frame)
    written += n
    return DataPlan(
        kind="full",
        rows=len(frame),
        base=parent_id,
        parent_rows=parent_rows,
        parent_count=n_parent if parent_positions is not None else None,
        columns=tuple(refs),
        index=index,
        column_levels=frame.columns.nlevels,
        sampled=sampled,
        sample_of=sample_of,
        note=f"seeded sample of {len(frame):,} of {sample_of:,} rows" if sampled else None,
        bytes_written=written,
        series=series,
        columns_dtype=_columns_dtype(frame),
    )


def _each(column, positions, n_rows: int, cfg: Settings) -> list:
    """`column(j)` for each position, in `profile_threads` threads for a large frame: Arrow's
    Parquet writer and the file key's hashing release the GIL (20 columns of 2,000,000 floats:
    ~1.4 s -> ~0.8 s on two cores). The files are content-keyed and written atomically, so the
    order they are written in changes nothing a reader sees."""
    positions = list(positions)
    threads = min(cfg.profile_threads, len(positions)) if n_rows >= 100_000 else 1
    if threads > 1:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cellsync-persist") as pool:
            return list(pool.map(column, positions))
    return [column(j) for j in positions]


def _columns_dtype(frame: pd.DataFrame) -> str | None:
    return None if isinstance(frame.columns, pd.MultiIndex) else str(frame.columns.dtype)


def _write_index(files: ColumnFiles, frame: pd.DataFrame):
    idx = frame.index
    col_names = tuple(encode_label(n) for n in frame.columns.names)
    if isinstance(idx, pd.RangeIndex):
        return IndexRef(
            kind="range",
            start=idx.start,
            stop=idx.stop,
            step=idx.step,
            names=(encode_label(idx.name),),
            columns_names=col_names,
        ), 0
    keys, levels, written = [], [], 0
    for level in range(idx.nlevels):
        values = idx.get_level_values(level)
        ref, n = files.write_series(pd.Series(values, copy=False))
        if ref.encoding == "none":
            raise NotPersistable(f"the row index: {ref.note}")
        keys.append(ref.key)
        levels.append({"encoding": ref.encoding, "dtype": ref.dtype, "meta": ref.meta})
        written += n
    freq = getattr(idx, "freq", None) if isinstance(idx, (pd.DatetimeIndex, pd.TimedeltaIndex)) else None
    return IndexRef(
        kind="levels",
        keys=tuple(keys),
        names=tuple(encode_label(n) for n in idx.names),
        columns_names=col_names,
        levels=tuple(levels),
        freq=freq.freqstr if freq is not None else None,
    ), written

"""polars frames: profiled, diffed and hashed by polars itself (on all cores), recorded as the
same `FrameProfile` / `FrameDiff` / `DataPlan` a pandas frame gets.

- `DataFrame`: profile in one `select` of aggregates (plus a histogram and top values per
  column); rows followed by position when the height is unchanged and some shared column
  survived, else by `hash_rows` over the shared columns (the k-th copy of a row paired with
  the k-th copy, as the pandas path does; a filter's rows by a semi join on the hashes);
  data persisted as Parquet through `versions.persist`, from Arrow-backed pandas columns (no
  copy of numeric buffers). Segment impacts: `polars_segments.py`.
- `LazyFrame`: recorded as its optimized plan and schema, never collected.

polars has no index: a frame's rows have a position only, so "row identity" is position or
content (recorded as `index` / `content` so every existing reader understands it).

One module per engine on purpose, although it is long: the polars profile, diff and
version data are the pandas pipeline's three stages again, in polars expressions, and read
best side by side.
"""

from __future__ import annotations

import math
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..diff import ColumnChange, DtypeChange, FrameDiff, RowMatch, SHIFT_SAMPLE, ks_statistic
from ..profile import QUANTILES, ColumnProfile, FrameProfile, Histogram, LengthStats, ValueCount, _histogram, _display_value
from ..versions import DataPlan, persist
from .base import EngineError

ENGINE = "polars"


def _pl():
    import polars as pl

    return pl


def is_frame(value) -> bool:
    pl = _pl()
    return isinstance(value, (pl.DataFrame, pl.LazyFrame))


def hold(obj):
    """What is kept of the last version: a clone for a DataFrame (shares every buffer; polars
    copies a buffer before writing into a shared one, so an in-place `df[i, c] = v` leaves the
    clone as it was), the LazyFrame itself (a plan cannot change)."""
    pl = _pl()
    return obj.clone() if isinstance(obj, pl.DataFrame) else obj


def fingerprint(obj) -> tuple:
    """Cheap identity of a polars frame's content (~0.2 ms for 20 columns of a million rows):
    shape, schema, and the Arrow buffer addresses of fixed-width columns, which an in-place
    write changes (copy-on-write against the held clone). A string column written in place at
    the same length is not seen; polars' API makes that rare (it returns new frames)."""
    pl = _pl()
    if isinstance(obj, pl.LazyFrame):
        return ("lazy", id(obj))
    parts = []
    for s in obj.get_columns():
        if s.dtype.is_numeric() or s.dtype.is_temporal() or s.dtype == pl.Boolean:
            try:
                # chunk by chunk: `to_arrow()` of a column of several chunks (after `pl.concat`)
                # rechunks into new buffers on every call, so an unchanged frame looked changed
                # in place after every cell and was diffed again
                parts.append(tuple(b.address for chunk in s.get_chunks() for b in chunk.to_arrow().buffers()
                                   if b is not None))
                continue
            except Exception:
                pass
        parts.append((s.n_chunks(), s.null_count()))
    return (obj.shape, tuple((k, str(v)) for k, v in obj.schema.items()), tuple(parts))


# --- profile ---------------------------------------------------------------------------------


def column_kind(dtype) -> str:
    pl = _pl()
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Duration):
        return "timedelta"
    if dtype.is_numeric():
        return "numeric"
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    if dtype == pl.String:
        return "string"
    return "other"


def profile(df, cfg) -> FrameProfile:
    """Every column's statistics. The aggregates of all columns are one `select`, which
    polars runs in parallel; histograms and top values need the min/max and a group-by and
    come after, per column."""
    pl = _pl()
    n_rows, n_cols = df.shape
    limit = min(n_cols, cfg.max_profile_columns)
    cols = df.columns[:limit]
    approx = n_rows > cfg.exact_unique_max_rows
    per_column = []
    for i, name in enumerate(cols):
        exprs = []
        per_column.append(exprs)
        c = pl.col(name)
        kind = column_kind(df.schema[name])
        exprs += [c.null_count().alias(f"{i}:missing"),
                  (c.approx_n_unique() if approx else c.drop_nulls().n_unique()).alias(f"{i}:unique")]
        if kind in ("numeric", "timedelta", "datetime"):
            x = c.cast(pl.Float64) if kind == "numeric" else c.to_physical().cast(pl.Float64)
            exprs += [x.min().alias(f"{i}:min"), x.max().alias(f"{i}:max"), x.mean().alias(f"{i}:mean"),
                      x.std().alias(f"{i}:std")]
            exprs += [x.quantile(q, interpolation="linear").alias(f"{i}:q{q}") for q in QUANTILES]
            if kind == "numeric" and df.schema[name].is_integer():
                exprs += [c.min().cast(pl.Int64, strict=False).alias(f"{i}:imin"),
                          c.max().cast(pl.Int64, strict=False).alias(f"{i}:imax")]
        if kind == "string":
            ln = c.str.len_chars()
            exprs += [ln.min().alias(f"{i}:lmin"), ln.max().alias(f"{i}:lmax"), ln.mean().alias(f"{i}:lmean")]
    try:
        row = df.select([e for exprs in per_column for e in exprs]).row(0, named=True) if cols else {}
    except Exception:
        # one odd column (Python objects, nested types) fails the whole select: run the
        # columns one by one, and a failing one is then noted "not profiled" below
        row = {}
        for exprs in per_column:
            try:
                row.update(df.select(exprs).row(0, named=True))
            except Exception:
                pass

    def one(i: int) -> ColumnProfile:
        name = cols[i]
        try:
            return _column(df, i, name, row, cfg, approx)
        except Exception as exc:  # odd data must never stop the other columns
            return ColumnProfile(name=name, position=i, dtype=str(df.schema[name]), kind=column_kind(df.schema[name]),
                                 count=n_rows, note=f"not profiled: {type(exc).__name__}: {exc}"[:300])

    threads = cfg.profile_threads if n_rows >= 100_000 and len(cols) > 1 else 1
    if threads > 1:
        # the histograms are numpy's, one column at a time, and release the GIL: as the pandas
        # profile does, columns run in parallel (10M x 20: ~1.8 s -> ~1.2 s on two cores)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cellsync-profile") as pool:
            columns = list(pool.map(one, range(len(cols))))
    else:
        columns = [one(i) for i in range(len(cols))]
    note = f"not profiled: columns {limit + 1}-{n_cols} (max_profile_columns={limit})" if n_cols > limit else None
    return FrameProfile(n_rows=n_rows, n_cols=n_cols, index="none (polars)", index_unique=True,
                        memory_bytes=int(df.estimated_size()), columns=tuple(columns), note=note)


def _num(v) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _column(df, i: int, name: str, row: dict, cfg, approx: bool) -> ColumnProfile:
    pl = _pl()
    s = df.get_column(name)
    dtype = df.schema[name]
    kind = column_kind(dtype)
    missing = int(row[f"{i}:missing"])
    count = len(s) - missing
    out: dict[str, Any] = dict(name=name, position=i, dtype=str(dtype), kind=kind, count=count, missing=missing,
                               unique=int(row[f"{i}:unique"]) if count else 0, unique_approx=approx and count > 0,
                               memory_bytes=int(s.estimated_size()))
    if approx and count and s.null_count():
        out["unique"] = max(0, out["unique"] - 1)  # approx_n_unique counts null as a value
    if kind in ("numeric", "timedelta") and count:
        out.update(min=_num(row[f"{i}:min"]), max=_num(row[f"{i}:max"]), mean=_num(row[f"{i}:mean"]),
                   std=_num(row[f"{i}:std"]) if count > 1 else None,
                   quantiles={str(q): _num(row[f"{i}:q{q}"]) for q in QUANTILES})
        if kind == "timedelta":  # physical microseconds/ns -> seconds, as the pandas path
            scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[dtype.time_unit]
            out.update({k: out[k] * scale for k in ("min", "max", "mean", "std") if out.get(k) is not None})
            out["quantiles"] = {k: v * scale for k, v in out["quantiles"].items()}
        if f"{i}:imin" in row and row[f"{i}:imin"] is not None:
            out["min"], out["max"] = int(row[f"{i}:imin"]), int(row[f"{i}:imax"])  # exact beyond 2**53
        values = s.drop_nulls().cast(pl.Float64).to_numpy()  # no copy for a float column without nulls
        if kind == "timedelta":
            values = values * scale
        finite = np.isfinite(values)
        finite = values if finite.all() else values[finite]
        if len(finite):
            out["histogram"] = _histogram(finite, dtype.is_integer(), cfg.histogram_bins)
    elif kind == "datetime" and count:
        present = s.drop_nulls()
        out.update(min=_iso(present.min()), max=_iso(present.max()), mean=_iso(present.mean()))
        phys = present.to_physical().cast(pl.Float64)
        out["quantiles"] = {str(q): _iso_from_physical(phys.quantile(q, interpolation="linear"), dtype) for q in QUANTILES}
        if count > 1:
            out["std"] = _seconds(phys.std(), dtype)
        hist = _histogram(phys.to_numpy(), integer=False, bins=cfg.histogram_bins)
        out["histogram"] = Histogram(tuple(_iso_from_physical(e, dtype) for e in hist.edges), hist.counts)
    if kind in ("categorical", "string", "bool", "other") and count:
        try:
            vc = s.drop_nulls().value_counts(sort=True).head(cfg.top_values)
            out["top_values"] = tuple(ValueCount(_display_value(v), int(c)) for v, c in vc.iter_rows())
        except Exception:  # nested values (lists, structs) cannot be grouped: no top values
            pass
    if kind == "string" and count and row.get(f"{i}:lmin") is not None:
        out["length"] = LengthStats(int(row[f"{i}:lmin"]), int(row[f"{i}:lmax"]), float(row[f"{i}:lmean"]))
    return ColumnProfile(**out)


def _iso(value) -> str | None:
    return None if value is None else value.isoformat()


def _physical_seconds(dtype) -> float:
    pl = _pl()
    if dtype == pl.Date:
        return 86400.0
    return {"ns": 1e-9, "us": 1e-6, "ms": 1e-3}[dtype.time_unit]


def _seconds(v, dtype) -> float | None:
    return None if v is None else float(v) * _physical_seconds(dtype)


def _iso_from_physical(v, dtype) -> str | None:
    import datetime as dt

    if v is None:
        return None
    ts = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=float(v) * _physical_seconds(dtype))
    tz = getattr(dtype, "time_zone", None)
    if tz:
        import zoneinfo

        return ts.replace(tzinfo=dt.timezone.utc).astimezone(zoneinfo.ZoneInfo(tz)).isoformat()
    return ts.isoformat()


# --- diff --------------------------------------------------------------------------------------


def new_diff(df) -> FrameDiff:
    return FrameDiff(rows_before=None, rows_after=df.height, rows_removed=0, rows_added=df.height,
                     rows_kept=0, row_identity="new", columns_added=tuple(df.columns))


def diff(old, new, follow_rows: bool = True) -> tuple[FrameDiff, RowMatch]:
    """Diff two polars frames. Rows are matched by position when the height is unchanged and
    at least one shared column is intact there (`with_columns`, an in-place edit); otherwise
    by content: `hash_rows` over the shared columns whose type did not change."""
    pl = _pl()
    shared = [c for c in old.columns if c in new.schema]
    same_type = [c for c in shared if old.schema[c] == new.schema[c]]
    added = [c for c in new.columns if c not in old.schema]
    removed = [c for c in old.columns if c not in new.schema]
    empty = np.empty(0, dtype=np.int64)
    changes: dict[str, int] = {c: 0 for c in shared}
    if not follow_rows:
        match = RowMatch(empty, empty, "reshape")
    else:
        match, changes = _match(old, new, shared, same_type)
    dtype_changes = {c: DtypeChange(str(old.schema[c]), str(new.schema[c])) for c in shared if c not in same_type}
    rows_changed = old.height != new.height or len(match.old_pos) != old.height
    columns = []
    nulls_old = old.select(shared).null_count().row(0, named=True) if shared else {}
    nulls_new = new.select(shared).null_count().row(0, named=True) if shared else {}
    for c in shared:
        shift, metric, sampled = (0.0, None, False)
        if rows_changed or changes[c] or c in dtype_changes:
            shift, metric, sampled = _shift(old.get_column(c), new.get_column(c))
        columns.append(ColumnChange(column=c, before=c, values_changed=int(changes[c]),
                                    missing_before=int(nulls_old[c]), missing_after=int(nulls_new[c]),
                                    shift=shift, shift_metric=metric, shift_sampled=sampled))
    reshape = match.method == "reshape"
    kept_new_order = match.old_pos[np.argsort(match.new_pos, kind="stable")]
    out = FrameDiff(
        rows_before=old.height, rows_after=new.height,
        rows_removed=0 if reshape else old.height - len(match.old_pos),
        rows_added=0 if reshape else new.height - len(match.new_pos),
        rows_kept=int(len(match.old_pos)), row_identity=match.method,
        columns_added=tuple(added), columns_removed=tuple(removed), dtype_changes=dtype_changes,
        values_changed={c: int(n) for c, n in changes.items() if n},
        columns=tuple(columns),
        reordered=bool(len(kept_new_order) > 1 and np.any(np.diff(kept_new_order) < 0)),
    )
    same = {new.columns.index(c): old.columns.index(c) for c in same_type if not changes[c]}
    return out, RowMatch(match.old_pos, match.new_pos, match.method, same, False)


def _changed_counts(old, new, cols, old_pos=None, new_pos=None) -> dict[str, int]:
    """Values changed per column on matched rows (a null on one side only is a change)."""
    pl = _pl()
    if not cols:
        return {}
    a = old.select(cols) if old_pos is None else old.select(cols)[old_pos]
    b = new.select(cols) if new_pos is None else new.select(cols)[new_pos]
    both = pl.concat([a, b.rename({c: f"__new:{c}" for c in cols})], how="horizontal")
    row = both.select([pl.col(c).ne_missing(pl.col(f"__new:{c}")).sum().alias(c) for c in cols]).row(0, named=True)
    return {c: int(row[c]) for c in cols}


def _match(old, new, shared, same_type) -> tuple[RowMatch, dict[str, int]]:
    positional = None
    if old.height == new.height:
        changes = _changed_counts(old, new, same_type)
        changes.update({c: 0 for c in shared if c not in same_type})
        pos = np.arange(old.height, dtype=np.int64)
        positional = (RowMatch(pos, pos, "index"), changes)
        if any(n == 0 for n in changes.values()) or not same_type:
            return positional
    if not same_type:
        return RowMatch(np.empty(0, np.int64), np.empty(0, np.int64), "none"), {c: 0 for c in shared}
    content = _content_match(old, new, same_type)
    changes = {c: 0 for c in shared}  # rows matched on every shared column: nothing changed on them
    if positional is not None:
        # keep whichever explains more cells as unchanged
        unchanged_pos = sum(old.height - n for n in positional[1].values())
        unchanged_content = len(content.old_pos) * len(same_type)
        if unchanged_pos >= unchanged_content:
            return positional
    return content, changes


def _content_match(old, new, cols) -> RowMatch:
    """Pair the k-th copy of a row (hash over `cols`) in `old` with its k-th copy in `new`."""
    pl = _pl()
    a, b = _row_hashes(old, cols), _row_hashes(new, cols)
    kept = _kept_in_order(a, b)
    if kept is not None:
        return RowMatch(kept, np.arange(len(b), dtype=np.int64), "content")
    a, b = a.to_frame("h").with_row_index("pos"), b.to_frame("h").with_row_index("pos")
    if a.get_column("h").n_unique() < a.height or b.get_column("h").n_unique() < b.height:
        # repeated rows: number the copies so the k-th pairs with the k-th (a window over
        # the hash: only paid when some row occurs more than once). n_unique, not
        # is_duplicated().any(): the same answer, ~6x faster on 10M rows
        a = a.with_columns(pl.int_range(pl.len()).over("h").alias("k"))
        b = b.with_columns(pl.int_range(pl.len()).over("h").alias("k"))
        on = ["h", "k"]
    else:
        on = ["h"]
    joined = a.join(b, on=on, how="inner", suffix="_new").sort("pos_new")
    return RowMatch(joined.get_column("pos").cast(pl.Int64).to_numpy(), joined.get_column("pos_new").cast(pl.Int64).to_numpy(), "content")


def _kept_in_order(a, b) -> np.ndarray | None:
    """A filter's shortcut: the old positions of the new rows when the new hashes are exactly
    the old rows whose hash occurs in the new frame, in the old order; else None.

    Then every copy of a hash in `old` is kept and the copies come in the same order, so the
    k-th copy pairs with the k-th: the join's pairs, from a semi join (~2x cheaper than the
    join on 10M rows, no sort). Dropping one of two equal rows, a sort or an added row fails
    the check and takes the join."""
    pl = _pl()
    if len(b) > len(a):
        return None
    kept = a.to_frame("h").with_row_index("pos").join(b.to_frame("h"), on="h", how="semi", maintain_order="left")
    if kept.height != len(b) or not kept.get_column("h").equals(b, check_names=False):
        return None
    return kept.get_column("pos").cast(pl.Int64).to_numpy()


# frame (the held clone) -> (columns, its row hashes): this cell's new frame is the next cell's
# old one, so a chain of filters hashes each version once, not twice. Weakly keyed by identity
# (a polars DataFrame is not hashable); 8 bytes a row while the frame itself is held.
_HASHES: dict[int, tuple] = {}


def _row_hashes(df, cols):
    cols = tuple(cols)
    hit = _HASHES.get(id(df))
    if hit is not None and hit[0]() is df and hit[1] == cols:
        return hit[2]
    h = df.select(cols).hash_rows(seed=0)
    key = id(df)
    try:
        ref = weakref.ref(df, lambda _, key=key: _HASHES.pop(key, None))
    except TypeError:
        return h
    _HASHES[key] = (ref, cols, h)
    return h


def _shift(a, b) -> tuple[float | None, str | None, bool]:
    """The same measures as the pandas path: KS statistic for numbers and times (on at most
    SHIFT_SAMPLE values a side), total variation distance for everything else."""
    pl = _pl()
    try:
        ka, kb = column_kind(a.dtype), column_kind(b.dtype)
        if ka != kb:
            return None, None, False
        if ka in ("numeric", "datetime", "timedelta"):
            x, sx = _values(a)
            y, sy = _values(b)
            if len(x) == 0 or len(y) == 0:
                return None, "ks", False
            return ks_statistic(x, y), "ks", sx or sy
        pa = a.value_counts(normalize=True).rename({a.name: "v", "proportion": "pa"})
        pb = b.value_counts(normalize=True).rename({b.name: "v", "proportion": "pb"})
        j = pa.join(pb, on="v", how="full", coalesce=True, nulls_equal=True).fill_null(0.0)
        return float(0.5 * (j.get_column("pa") - j.get_column("pb")).abs().sum()), "tv", False
    except Exception:
        return None, None, False


def _values(s) -> tuple[np.ndarray, bool]:
    pl = _pl()
    s = s.drop_nulls()
    s = s.cast(pl.Float64) if s.dtype.is_numeric() else s.to_physical().cast(pl.Float64)
    x = s.to_numpy()
    if len(x) <= SHIFT_SAMPLE:
        return x, False
    rng = np.random.default_rng(0)
    return x[rng.integers(0, len(x), SHIFT_SAMPLE)], True


# --- the version -------------------------------------------------------------------------------


def record(worker, ch, parent_id):
    """Profile, diff, persist and segment impacts of one polars change (worker thread)."""
    from ..store import Version
    from .polars_segments import impacts
    from ..worker.versions import with_budget_note

    pl = _pl()
    obj, cfg = ch.native, worker.cfg
    if isinstance(obj, pl.LazyFrame):
        return _lazy_version(worker, ch, parent_id)
    parent = ch.parent_native if isinstance(ch.parent_native, pl.DataFrame) else None
    if parent is not None:
        d, match = diff(parent, obj, follow_rows=not ch.reshape)
        if ch.change == "mutated" and not d.changed:
            worker.redirect[ch.version_id] = parent_id
            return None
    elif ch.converted_from and parent_id:
        d, match = worker.converted(parent_id, obj.height, obj.columns), None
    else:
        d, match = new_diff(obj), None
    prof = profile(obj, cfg)
    worker.profiles[ch.version_id] = prof  # a frame converted from this one is diffed against it
    budget = worker.budget_rows() if cfg.persist_data else None
    plan = _persist(worker, obj, parent_id, match, budget)
    if parent is not None and match is not None and match.method not in ("reshape", "none"):
        ch.impacts = impacts(worker, ch, parent, obj, d, match)
    worker.bytes_written += plan.bytes_written
    worker.plans[ch.version_id] = plan
    ch.sample = obj.head(0).to_pandas()  # the columns and their types, for suggestions
    return Version(id=ch.version_id, frame=ch.name, session_id=worker.session_id, change=ch.change,
                   n_rows=obj.height, n_cols=obj.width, parent_id=parent_id, parent_frame=ch.parent_name,
                   profile=prof, diff=d, data=plan, note=with_budget_note(prof.note, plan, cfg, budget))


def _persist(worker, df, parent_id, match, budget: int | None = None) -> DataPlan:
    """Through the pandas path's `persist` (deltas, bitmasks, content-keyed column files), fed
    Arrow-backed pandas columns: numeric buffers are shared with polars, not copied."""
    cfg = worker.cfg
    if not cfg.persist_data:
        return DataPlan(kind="none", rows=df.height, note="persist_data is off")
    frame = df.to_pandas(use_pyarrow_extension_array=True)
    return persist(
        worker.store().files, frame, cfg,
        parent=worker.parent_plan(parent_id), parent_id=parent_id,
        parent_positions=match.parent_positions(df.height) if match is not None and match.method not in ("reshape", "none") else None,
        same_columns=match.same_columns if match is not None else None,
        same_index=False,
        sample_rows=budget,
    )


def _lazy_version(worker, ch, parent_id):
    """A LazyFrame is a plan: its schema (resolved without reading data) and the optimized
    plan's text are recorded; nothing is collected."""
    from ..store import Version

    lf = ch.native
    try:
        schema = lf.collect_schema()
    except Exception as exc:  # a plan over a missing file or a bad column fails here already
        raise EngineError(f"lazy polars plan of {ch.name!r} cannot be resolved: {str(exc).splitlines()[0]}") from exc
    plan_text = lf.explain(optimized=True)
    step = plan_step(plan_text)
    note = f"lazy polars frame, not collected: {step}"
    return Version(id=ch.version_id, frame=ch.name, session_id=worker.session_id, change=ch.change,
                   n_rows=None, n_cols=len(schema), parent_id=parent_id, parent_frame=ch.parent_name,
                   data=DataPlan(kind="none", note=f"lazy plan ({len(schema)} columns): {plan_text[:2000]}"),
                   note=note[:300])


def plan_step(plan_text: str) -> str:
    """The top step of a polars plan, on one line (`FILTER [(col("a")) > (1)]`)."""
    lines = [ln.strip() for ln in plan_text.splitlines() if ln.strip()]
    return lines[0] if lines else "(empty plan)"

"""PySpark frames: nothing is collected but aggregates and a seeded sample.

Per version, in the worker thread (never under the user's cell):

1. the schema and a one-line plan step from the analyzed plan (no job);
2. ONE aggregation job: the row count, per column the missing count, approximate distinct
   count, min / max / mean / std, the row count of every registered segment (segment
   conditions compiled by narwhals, aggregated natively) and, where the frame cannot have more
   rows than a version already counted (a filter, a new column), the seeded sample too, as a
   `collect_list` in the same pass;
3. otherwise one sampling job: a seeded sample of at most `spark_sample_rows` rows (fewer for a
   frame so wide that it would hold more than `spark_sample_values` values). Either way
   the sample is fetched as Arrow (never `toPandas()`), persisted like a pandas version and
   labelled as a sample, so SnapGrid and the dashboard work from the store without Spark.
   Quantiles, histograms and top values come from it and say so: quantile sketches
   (`percentile_approx`) were two thirds of the aggregation job's time; a 100,000-row uniform
   sample puts a quantile within ~0.16% of its rank (one standard error at the median),
   coarser than the sketch's 0.01% but finer than a quartile segment or a histogram needs.

A filter (the new plan is a `Filter` over the parent's plan) removes exactly before − after
rows, per segment too: those impacts are exact. Other changes report net counts only
(`row_identity: "none"`): Spark rows have no identity to follow without a key.

Cost control: CellSync's jobs run in their own scheduler pool (`spark.scheduler.pool`, used
when the session runs the FAIR scheduler) and job group; a watchdog cancels that group past
`spark_time_budget` seconds, or as soon as a job of the user's starts, and the version then
says "not profiled: ..." instead of holding the cluster.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
import uuid

from ..diff import FrameDiff
from ..profile import ColumnProfile, FrameProfile
from ..versions import DataPlan, persist
from .base import EngineError, segment_expr

ENGINE = "spark"


@functools.lru_cache(maxsize=1)
def _frame_types() -> tuple:
    # once per process: asked for every value of the namespace after every cell (the hook's
    # time), and a failing import (no grpcio for Connect) would be retried each time
    types = []
    try:
        from pyspark.sql import DataFrame

        types.append(DataFrame)
    except Exception:
        pass
    try:  # classic PySpark 4 has its own class beside the generic one
        from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

        types.append(ClassicDataFrame)
    except Exception:
        pass
    try:  # Spark Connect (`SparkSession.builder.remote(...)`, Databricks): needs grpcio
        from pyspark.sql.connect.dataframe import DataFrame as ConnectDataFrame

        types.append(ConnectDataFrame)
    except Exception:
        pass
    return tuple(types)


def is_connect(df) -> bool:
    """A Spark Connect frame: a client-side plan, no JVM in this process."""
    return type(df).__module__.startswith("pyspark.sql.connect")


def is_frame(value) -> bool:
    types = _frame_types()
    return bool(types) and isinstance(value, types)


def hold(obj):
    return obj  # a Spark DataFrame is an immutable plan: holding it holds no data


def fingerprint(obj) -> tuple:
    return ("spark", id(obj))  # immutable: only rebinding changes what a name means


# --- plans -------------------------------------------------------------------------------------

_IDS = re.compile(r"#\d+L?")


def _analyzed(df):
    return df._jdf.queryExecution().analyzed()


def _analyzed_text(df) -> str:
    if is_connect(df):
        # the server's explain (one round trip, no job), its analyzed section
        text = df._explain_string(extended=True)
        part = text.split("== Analyzed Logical Plan ==", 1)[-1].split("== Optimized Logical Plan ==", 1)[0]
        return "\n".join(ln for ln in part.strip().splitlines()[1:])  # the first line is the schema
    return _analyzed(df).toString()


def plan_step(df) -> str:
    """The step that made this frame, on one line, from the analyzed plan: the first node that
    is not a plain column selection (`Filter (age >= 18)`, `Join LeftOuter, (id = id)`,
    `Aggregate [region], ...`, `Relation [...] parquet`). Attribute ids (`#12L`) are dropped."""
    lines = [_IDS.sub("", ln).lstrip(" :+-").strip() for ln in _analyzed_text(df).splitlines()]
    lines = [ln for ln in lines if ln]
    for ln in lines:
        if ln.startswith("Project") and " AS " not in ln:
            continue
        if ln.startswith("SubqueryAlias"):
            continue
        return ln[:200]
    return (lines[0] if lines else "(empty plan)")[:200]


def is_filter_of(child, parent) -> bool:
    """The child's plan is a Filter directly over the parent's plan."""
    if is_connect(child):
        # Connect plans are client-side objects: `parent.filter(...)` wraps the parent's own
        plan = getattr(child, "_plan", None)
        return type(plan).__name__ == "Filter" and getattr(plan, "_child", None) is getattr(parent, "_plan", object())
    node = _analyzed(child)
    return node.nodeName() == "Filter" and node.child().sameResult(_analyzed(parent))


# plan nodes whose output has at most as many rows as their input (an Aggregate is left out: with
# no grouping it gives one row of an empty input)
_NO_MORE_ROWS = frozenset({
    "Filter", "Project", "Sort", "Deduplicate", "Distinct", "Sample", "GlobalLimit", "LocalLimit", "Limit",
    "Offset", "SubqueryAlias", "ResolvedHint", "Hint", "Repartition", "RepartitionByExpression",
    "RebalancePartitions", "Window", "WithColumns", "WithColumnsRenamed", "Drop", "ToDF",
})


def at_most_parent_rows(child, parent) -> bool:
    """The child's plan is the parent's under steps that never add rows (filters, column
    changes, sorts, limits): the parent's row count bounds the child's."""
    if is_connect(child):
        plan, target = getattr(child, "_plan", None), getattr(parent, "_plan", object())
        while plan is not None and plan is not target:
            if type(plan).__name__ not in _NO_MORE_ROWS:
                return False
            plan = getattr(plan, "_child", None)
        return plan is target
    node, target = _analyzed(child), _analyzed(parent)
    for _ in range(64):  # a long chain of withColumn calls is one node each
        if node.sameResult(target):
            return True
        if node.nodeName() not in _NO_MORE_ROWS or node.children().size() != 1:
            return False
        node = node.children().head()
    return False


# --- cost control ----------------------------------------------------------------------------


class _Guard:
    """Runs CellSync's Spark jobs in their own pool and job group, and cancels that group past
    the time budget or when a job that is not CellSync's starts (the user's next cell)."""

    def __init__(self, sc, cfg, name: str):
        self.sc, self.budget = sc, float(cfg.spark_time_budget)
        self.pool = cfg.spark_pool
        self.group = f"cellsync-{uuid.uuid4().hex[:12]}"
        self.reason: str | None = None
        self._done = threading.Event()
        self._name = name

    def __enter__(self):
        self.sc.setLocalProperty("spark.scheduler.pool", self.pool)
        self.sc.setJobGroup(self.group, f"CellSync profile of {self._name}", interruptOnCancel=True)
        self._ours_before = set(self.sc.statusTracker().getActiveJobsIds())
        threading.Thread(target=self._watch, name="cellsync-spark-watch", daemon=True).start()
        return self

    def _watch(self):
        started = time.monotonic()
        tracker = self.sc.statusTracker()
        seen_before: set = set()
        while not self._done.wait(0.2):
            if time.monotonic() - started > self.budget:
                self.reason = f"over the {self.budget:g} s time budget (spark_time_budget)"
            else:
                try:
                    # active first, then ours: a job of ours that starts in between is in both
                    active = set(tracker.getActiveJobsIds())
                    others = active - set(tracker.getJobIdsForGroup(self.group)) - self._ours_before
                except Exception:
                    others = set()
                # a job seen in two polls in a row, so a race with our own job's start or end
                # is never taken for the notebook's
                if others & seen_before:
                    self.reason = "gave way to a Spark job of the notebook's"
                seen_before = others
            if self.reason:
                self.sc.cancelJobGroup(self.group)
                return

    def __exit__(self, *exc):
        self._done.set()
        self.sc.setLocalProperty("spark.scheduler.pool", None)
        self.sc.setLocalProperty("spark.jobGroup.id", None)
        self.sc.setLocalProperty("spark.job.description", None)
        return False

    def check(self, exc: BaseException | None = None):
        if self.reason:
            raise EngineError(f"profile skipped: {self.reason}") from exc


class _ConnectGuard(_Guard):
    """Spark Connect has no SparkContext in this process: CellSync's operations carry a tag of
    their own and are interrupted by it past the time budget. Whether a job of the notebook's
    is running cannot be seen from a Connect client, so CellSync's jobs do not give way to it."""

    def __init__(self, session, cfg, name: str):
        self.session, self.budget = session, float(cfg.spark_time_budget)
        self.tag = f"cellsync-{uuid.uuid4().hex[:12]}"
        self.reason = None
        self._done = threading.Event()

    def __enter__(self):
        self.session.addTag(self.tag)  # this thread's operations only
        threading.Thread(target=self._watch, name="cellsync-spark-watch", daemon=True).start()
        return self

    def _watch(self):
        if not self._done.wait(self.budget):
            self.reason = f"over the {self.budget:g} s time budget (spark_time_budget)"
            try:
                self.session.interruptTag(self.tag)
            except Exception:
                pass

    def __exit__(self, *exc):
        self._done.set()
        try:
            self.session.removeTag(self.tag)
        except Exception:
            pass
        return False


# --- the aggregation job -----------------------------------------------------------------------

_NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")


def _kind(dtype) -> str:
    name = type(dtype).__name__
    if name == "BooleanType":
        return "bool"
    if name in _NUMERIC:
        return "numeric"
    if name in ("DateType", "TimestampType", "TimestampNTZType"):
        return "datetime"
    if name in ("StringType", "VarcharType", "CharType"):
        return "string"
    return "other"


_SAMPLE = "__cellsync_sample"
_RAND = "__cellsync_r"
_ORDER = "__cellsync_at"


def sample_size(cfg, n_cols: int) -> int:
    """Rows of a Spark version's sample: `spark_sample_rows`, fewer for a wide frame so the
    sample holds at most `spark_sample_values` values (never under 100 rows)."""
    k = int(cfg.spark_sample_rows)
    return min(k, max(100, int(cfg.spark_sample_values) // max(1, n_cols)))


def aggregate(df, cfg, segments=(), columns: bool = True, sample_fraction: float | None = None):
    """One Spark job: row count, per-column aggregates, segment counts and, given a
    `sample_fraction`, the `sample_size` rows with the smallest draws of a seeded Bernoulli
    sample with that fraction.
    Returns (rows, {column: {stat: value}}, {segment text: rows}, sample rows as pandas or None)."""
    import narwhals as nw
    from pyspark.sql import functions as F

    fields = df.schema.fields[: cfg.max_profile_columns] if columns else []
    schema = {f.name: type(f.dataType).__name__ for f in df.schema.fields}
    seg_cols = {}
    extra = []
    exprs = {}
    for seg in segments:
        try:
            exprs[f"__cellsync_seg{len(exprs)}"] = (seg, segment_expr(seg.spec, schema))
        except Exception:  # the segment's columns are not in this frame
            continue
    src = df
    if exprs:
        # narwhals compiles each condition to a Spark column; the sums join the one job below
        src = nw.from_native(src).with_columns(*[e.alias(k) for k, (_, e) in exprs.items()]).to_native()
        seg_cols = {k: seg for k, (seg, _) in exprs.items()}
    aggs = [F.count(F.lit(1)).alias("__rows")]
    for i, f in enumerate(fields):
        c, kind = F.col(f"`{f.name}`"), _kind(f.dataType)
        aggs += [F.count(c).alias(f"{i}:count"), F.approx_count_distinct(c).alias(f"{i}:unique")]
        if kind == "numeric":
            x = c.cast("double")
            aggs += [F.min(x).alias(f"{i}:min"), F.max(x).alias(f"{i}:max"), F.avg(x).alias(f"{i}:mean"),
                     F.stddev_samp(x).alias(f"{i}:std")]
        elif kind in ("datetime", "string", "bool"):
            aggs += [F.min(c).alias(f"{i}:min"), F.max(c).alias(f"{i}:max")]
    for k in seg_cols:
        aggs.append(F.sum(F.col(k).cast("long")).alias(k))
    if sample_fraction is not None:
        # the rand value decides membership and, smallest first, which rows are kept when
        # more than `spark_sample_rows` came (bottom-k: a uniform sample, the same every run);
        # the row's position puts the kept rows back in the frame's order
        src = src.withColumn(_RAND, F.rand(seed=cfg.sample_seed)).withColumn(_ORDER, F.monotonically_increasing_id())
        row = F.struct(F.col(_RAND), F.col(_ORDER), *[F.col(f"`{n}`") for n in df.columns])
        aggs.append(F.collect_list(F.when(F.col(_RAND) < F.lit(float(sample_fraction)), row)).alias(_SAMPLE))
        extra = [_SAMPLE]
    if not extra:
        row = src.agg(*aggs).collect()[0].asDict()
        sample = None
    else:
        table = src.agg(*aggs).toArrow()
        row = {name: _py(table.column(name)[0]) for name in table.column_names if name not in extra}
        sample = _sample_rows(table.column(_SAMPLE), sample_size(cfg, len(df.columns)), df.columns)
    stats = {f.name: {k.split(":", 1)[1]: v for k, v in row.items() if k.startswith(f"{i}:")} for i, f in enumerate(fields)}
    counts = {seg_cols[k].text: int(row[k] or 0) for k in seg_cols}
    return int(row["__rows"]), stats, counts, sample


def _py(scalar):
    """An Arrow scalar as `collect()` would give it: Spark's timestamps as naive local time."""
    value = scalar.as_py()
    if getattr(value, "tzinfo", None) is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value


def _sample_rows(column, k: int, names: list[str]):
    """The collected rows (a one-row list<struct> column) as Arrow-backed pandas: the k with
    the smallest rand values, in the frame's order, without the helper fields."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = pa.concat_arrays([c.flatten() for c in column.chunks])
    table = pa.Table.from_struct_array(rows)
    if table.num_rows > k:
        table = table.take(pc.sort_indices(table.column(_RAND))[:k])
    table = table.take(pc.sort_indices(table.column(_ORDER)))
    table = table.drop_columns([_RAND, _ORDER])
    # struct fields keep the frame's column names; rename by position (names may repeat)
    table = table.rename_columns(list(names))
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def key_diff(parent, child, keys: list[str]) -> dict:
    """Rows removed, added and kept between two Spark frames by their key columns, in one
    job: both sides grouped by the key, joined full outer. `unique` is False where a key
    repeats or is missing on either side (then the counts do not say which rows went)."""
    from functools import reduce

    from pyspark.sql import functions as F

    p = parent.groupBy(*keys).agg(F.count(F.lit(1)).alias("_cs_p"))
    c = child.groupBy(*keys).agg(F.count(F.lit(1)).alias("_cs_c"))
    j = p.join(c, on=keys, how="full_outer")
    missing = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys])
    row = j.agg(
        F.sum(F.when(F.col("_cs_c").isNull(), F.col("_cs_p")).otherwise(0)).alias("removed"),
        F.sum(F.when(F.col("_cs_p").isNull(), F.col("_cs_c")).otherwise(0)).alias("added"),
        F.sum(F.when(F.col("_cs_p").isNotNull() & F.col("_cs_c").isNotNull(), F.col("_cs_c")).otherwise(0)).alias("kept"),
        F.max(F.greatest(F.coalesce("_cs_p", F.lit(0)), F.coalesce("_cs_c", F.lit(0)))).alias("most"),
        F.max(F.when(missing, 1).otherwise(0)).alias("missing"),
    ).collect()[0]
    return {"removed": int(row["removed"] or 0), "added": int(row["added"] or 0), "kept": int(row["kept"] or 0),
            "unique": (row["most"] or 0) <= 1 and not row["missing"]}


def _row_key(cfg, parent, df) -> list[str]:
    """The configured key columns, where both frames have all of them."""
    keys = [k.strip() for k in (cfg.spark_row_key or "").split(",") if k.strip()]
    have = set(parent.columns) & set(df.columns)
    return keys if keys and all(k in have for k in keys) else []


def _sample(df, n_rows: int, cfg):
    """A seeded sample of at most `sample_size` rows, as Arrow-backed pandas."""
    import pandas as pd

    k = sample_size(cfg, len(df.columns))
    part = df if n_rows <= k else df.sample(withReplacement=False, fraction=min(1.0, 1.2 * k / n_rows), seed=cfg.sample_seed).limit(k)
    table = part.toArrow()
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def profile_from(n_rows, stats, df, sample, cfg) -> FrameProfile:
    """Counts, min / max / mean / std exact from the job, distinct counts approximate; quantiles,
    histograms and top values from the sample (exact where the sample is the whole frame)."""
    from ..profile import profile_frame

    sampled = len(sample) < n_rows
    sample_profile = profile_frame(sample, cfg) if len(sample) else None
    cols = []
    for i, f in enumerate(df.schema.fields[: cfg.max_profile_columns]):
        st, kind = stats[f.name], _kind(f.dataType)
        count = int(st["count"])
        from_sample = sample_profile.column(f.name) if sample_profile is not None else None
        out = dict(name=f.name, position=i, dtype=f.dataType.simpleString(), kind=kind, count=count,
                   missing=n_rows - count, unique=int(st["unique"]), unique_approx=True)
        if kind == "numeric" and count:
            out.update(min=st["min"], max=st["max"], mean=st["mean"], std=st["std"])
            if type(f.dataType).__name__ in ("ByteType", "ShortType", "IntegerType", "LongType"):
                out["min"], out["max"] = int(st["min"]), int(st["max"])
        elif kind in ("datetime", "string", "bool") and count:
            mn, mx = st.get("min"), st.get("max")
            out.update(min=mn.isoformat() if hasattr(mn, "isoformat") else mn,
                       max=mx.isoformat() if hasattr(mx, "isoformat") else mx)
        if from_sample is not None and from_sample.note is None:
            out.update(histogram=from_sample.histogram, top_values=from_sample.top_values, length=from_sample.length)
            if kind == "numeric" and count and from_sample.quantiles:
                out["quantiles"] = from_sample.quantiles
        cols.append(ColumnProfile(**out))
    notes = []
    if sampled:
        notes.append(f"quantiles, histograms and top values estimated from a seeded sample of {len(sample):,} of "
                     f"{n_rows:,} rows; distinct counts approximate")
    if len(df.schema.fields) > cfg.max_profile_columns:
        notes.append(f"not profiled: columns {cfg.max_profile_columns + 1}-{len(df.schema.fields)} "
                     f"(max_profile_columns={cfg.max_profile_columns})")
    return FrameProfile(n_rows=n_rows, n_cols=len(df.schema.fields), index="none (Spark)", index_unique=True,
                        memory_bytes=None, columns=tuple(cols), note="; ".join(notes) or None)


# --- the version -------------------------------------------------------------------------------


def _session_alive(df):
    """The frame's SparkContext (classic) or session (Connect), or one EngineError line."""
    connect = is_connect(df)
    try:
        if connect:
            session = df.sparkSession
            if getattr(getattr(session, "_client", None), "is_closed", False):
                raise EngineError("the Spark Connect session of this frame is closed")
            return session
        sc = df.sparkSession.sparkContext
        if sc._jsc is None or sc._jsc.sc().isStopped():
            raise EngineError("the Spark session of this frame is stopped")
        return sc
    except EngineError:
        raise
    except Exception as exc:
        what = "Spark Connect session" if connect else "Spark session"
        raise EngineError(f"no usable {what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc


def record(worker, ch, parent_id):
    from ..segments import SegmentImpact
    from ..store import Version

    cfg, df = worker.cfg, ch.native
    sc = _session_alive(df)
    step = plan_step(df)
    segs = worker.segments_for(ch.name, ch.parent_name)
    parent = ch.parent_native
    parent_prof = worker.profiles.get(parent_id) if parent_id else None
    parent_counts = _SEGMENT_COUNTS.get(parent_id, {})
    is_filter = parent is not None and _safe(is_filter_of, df, parent)
    # a filter's removed rows are exact from the counts already; anything else that keeps
    # rows is matched by the key the user named, if any
    keys = _row_key(cfg, parent, df) if parent is not None and not is_filter and not ch.reshape else []
    by_key = None
    guard_type = _ConnectGuard if is_connect(df) else _Guard
    with guard_type(sc, cfg, ch.name) as guard:
        try:
            # the sample joins the aggregation job where the parent's count bounds this
            # frame's (a Bernoulli draw of twice the sample's size on average, at most: it cannot run away)
            k = sample_size(cfg, len(df.columns))
            bound = parent_prof.n_rows if parent_prof is not None and _safe(at_most_parent_rows, df, parent) else None
            fraction = None if bound is None else min(1.0, 2 * k / bound) if bound else 1.0
            n_rows, stats, counts, sample = aggregate(df, cfg, segs, sample_fraction=fraction)
            late = [s for s in segs if s.text in counts and s.text not in parent_counts]
            if is_filter and late:
                # segments registered after the parent was profiled: count them on the
                # parent too (one more job, segment sums only), so the filter's impact is exact
                parent_counts = {**parent_counts, **aggregate(parent, cfg, late, columns=False)[2]}
                _SEGMENT_COUNTS[parent_id] = parent_counts
            if sample is None or len(sample) < min(k, n_rows) / 2:
                # no bound, or a filter that kept too few rows of the draw: a sampling job
                sample = _sample(df, n_rows, cfg)
            if keys:
                by_key = key_diff(parent, df, keys)
        except Exception as exc:
            guard.check(exc)
            raise
    prof = profile_from(n_rows, stats, df, sample, cfg)
    ch.sample = sample
    key_note = None
    if by_key is not None and not by_key["unique"]:
        key_note = (f"rows not matched by {', '.join(keys)}: it repeats or is missing in one of the "
                    "versions, so only net counts are known")
    _SEGMENT_COUNTS[ch.version_id] = counts
    worker.profiles[ch.version_id] = prof
    if parent is not None and parent_prof is not None:
        before = parent_prof.n_rows
        old_cols = [c.name for c in parent_prof.columns]
        new_cols = [f.name for f in df.schema.fields]
        identity = "reshape" if ch.reshape else "none"
        d = FrameDiff(
            rows_before=before, rows_after=n_rows,
            rows_removed=0 if ch.reshape else max(0, before - n_rows),
            rows_added=0 if ch.reshape else max(0, n_rows - before),
            rows_kept=0 if ch.reshape else min(before, n_rows), row_identity=identity,
            columns_added=tuple(c for c in new_cols if c not in old_cols),
            columns_removed=tuple(c for c in old_cols if c not in new_cols),
        )
        if by_key is not None and by_key["unique"]:
            d = dataclasses.replace(d, rows_removed=by_key["removed"], rows_added=by_key["added"],
                                    rows_kept=by_key["kept"], row_identity="key")
        if is_filter:
            # a filter only removes rows: before - after of them, exactly, though which ones is
            # not known (the store holds samples): told as removed rows, never listed
            d = dataclasses.replace(d, row_identity="filter")
            overall = (before - n_rows) / before if before else None
            for seg in segs:
                if seg.text in parent_counts and seg.text in counts:
                    b, a = parent_counts[seg.text], counts[seg.text]
                    rate = (b - a) / b if b else None
                    ch.impacts.append(SegmentImpact(
                        segment=seg.text, name=seg.name, rows_before=b, rows_after=a, rows_removed=b - a,
                        rows_added=0, removal_rate=rate, overall_removal_rate=overall,
                        flagged=bool(rate is not None and overall is not None and b - a > 0 and b >= cfg.flag_min_rows
                                     and rate >= cfg.flag_ratio * overall and rate - overall >= cfg.flag_min_points),
                        note="a filter: removed = before - after, exact",
                    ))
    elif ch.converted_from and parent_id:
        d = worker.converted(parent_id, n_rows, [f.name for f in df.schema.fields])
    else:
        d = FrameDiff(rows_before=None, rows_after=n_rows, rows_removed=0, rows_added=n_rows, rows_kept=0,
                      row_identity="new", columns_added=tuple(f.name for f in df.schema.fields))
    plan = persist(worker.store().files, sample, cfg) if cfg.persist_data else DataPlan(kind="none", rows=n_rows, note="persist_data is off")
    if plan.kind != "none" and len(sample) < n_rows:
        plan = dataclasses.replace(plan, sampled=True, sample_of=n_rows,
                                   note=f"seeded sample of {len(sample):,} of {n_rows:,} rows (Spark)")
    worker.bytes_written += plan.bytes_written
    worker.plans[ch.version_id] = plan
    note = f"Spark: {step}" + (f" — {key_note}" if key_note else "") + (f" — {prof.note}" if prof.note else "")
    return Version(id=ch.version_id, frame=ch.name, session_id=worker.session_id, change=ch.change,
                   n_rows=n_rows, n_cols=len(df.schema.fields), parent_id=parent_id, parent_frame=ch.parent_name,
                   profile=prof, diff=d, data=plan, note=note[:300])


# segment counts of recent versions (version id -> {segment text: rows}): a filter's impact is
# the parent's count minus the child's
from ..cache import BoundedDict  # noqa: E402

_SEGMENT_COUNTS: BoundedDict = BoundedDict(256)


def _safe(fn, *args) -> bool:
    try:
        return bool(fn(*args))
    except Exception:
        return False

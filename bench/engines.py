"""Engines bench: what CellSync adds on a polars or Spark filter cell, against the engine's
own summary of the same frame, measured in one run.

    PYTHONPATH=. python bench/engines.py [--polars-rows N] [--spark-rows N] [--cols 20] [--skip-spark]
                                          [--spark-time-budget S]
    python bench/engines.py --snapgrid-rows 100000000 [--snapgrid-versions 50] [--dir DIR]

polars: the worker's time to record the filtered frame (profile, diff by hash_rows, persist,
from `flush()` after the cell) / polars' `describe()` + `hash_rows()` on the same frame.
Spark: the worker's Spark time for the filter cell (one aggregation job + the sample job) /
one `df.summary().collect()`; and how long the user's next cell (a count) took while CellSync's
jobs ran. Sizes default to what a shared 2-core machine runs in a minute or two.
`PYTHONPATH=.`: the script's folder, not the working directory, is first on `sys.path`, so
without it the cellsync installed in the environment (another checkout's) is measured.

SnapGrid at scale (`--snapgrid-rows`): a history of `--snapgrid-versions` versions of one frame
written straight into a store through `versions.persist` (so deltas, bitmasks and the full write
every `full_version_every` versions are what the tracker writes; profiles are left out, SnapGrid
does not read them): version 1 is N rows x (age int8, income float32, region str of 8 values,
score float64); then, in turn, a filter on score keeping ~99.5% of the rows (a bitmask delta), a
rewrite of score (a delta with one new column), a filter on age (another bitmask), a new int8
column (a delta, nothing of the segment rewritten). Filters reset the row labels (a range, no
index files). Then a new segment, never stored, over every version, each engine in a fresh
process (imports before the clock), timed from `open_store`: DuckDB (`engine="duckdb"`) and
pandas (`engine="pandas"`), with the page cache holding what the build just wrote, and DuckDB
again with the store's files evicted from the page cache. The two grids must be equal, and
every version's count must equal the count pandas took on the frame itself while building.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def shell(store: str):
    from IPython.core.interactiveshell import InteractiveShell

    import cellsync

    cellsync.settings.store = store
    ip = InteractiveShell.instance()
    ip.run_cell("import cellsync, numpy as np", store_history=True)
    ip.extension_manager.load_extension("cellsync")
    return ip


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def cpu_timed(fn):
    """Wall seconds, and CPU seconds of every thread of this process (the worker's and
    polars' pool included): on a shared machine the wall ratio moves with the other load,
    the CPU ratio much less."""
    c, t = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def bench_polars(ip, rows: int, cols: int) -> dict:
    from cellsync.extension import current_tracker

    ip.run_cell(f"""import polars as pl
rng = np.random.default_rng(0)
pdf = pl.DataFrame({{f"c{{i}}": rng.random({rows}) for i in range({cols})}})""", store_history=True)
    tr = current_tracker()
    tr.flush(600)
    ip.run_cell("pdf = pdf.filter(pl.col('c0') > 0.1)", store_history=True)
    record, record_cpu = cpu_timed(lambda: tr.flush(600))
    df = ip.user_ns["pdf"]
    own, own_cpu = cpu_timed(lambda: (df.describe(), df.hash_rows()))
    return {"rows": rows, "cols": cols, "cellsync_record_s": round(record, 3),
            "describe_plus_hash_rows_s": round(own, 3), "ratio": round(record / own, 2),
            "cpu_s": [round(record_cpu, 2), round(own_cpu, 2)], "cpu_ratio": round(record_cpu / own_cpu, 2)}


def bench_spark(ip, rows: int, cols: int) -> dict:
    from cellsync.extension import current_tracker

    ip.run_cell(f"""from pyspark.sql import SparkSession, functions as F
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "4").config("spark.ui.showConsoleProgress", "false").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
sdf = spark.range({rows}).select(*[F.rand(seed=i).alias(f"c{{i}}") for i in range({cols})])""", store_history=True)
    tr = current_tracker()
    tr.flush(600)
    ip.run_cell("sdf = sdf.filter(F.col('c0') > 0.1)", store_history=True)
    t0 = time.perf_counter()
    # the user's next cell starts a job while CellSync's run: how long does it take?
    next_cell, _ = timed(lambda: ip.run_cell("n = spark.range(1000).count()", store_history=True))
    tr.flush(600)
    added = time.perf_counter() - t0
    df = ip.user_ns["sdf"]
    summary, _ = timed(lambda: df.summary().collect())
    alone, _ = timed(lambda: ip.user_ns["spark"].range(1000).count())
    import cellsync

    v = cellsync.open_store(tr.store_path).versions(frame="sdf")[-1]
    return {"rows": rows, "cols": cols, "cellsync_spark_s": round(added, 3), "summary_s": round(summary, 3),
            "ratio": round(added / summary, 2), "next_cell_s": round(next_cell, 3),
            "same_count_alone_s": round(alone, 3), "note": v.note}


SNAP_SEGMENT = 'age >= 80 and region == "north"'


def build_snap_history(path: str, rows: int, versions: int) -> dict:
    """The history described above; returns the segment's count per version (pandas, on the
    frames themselves) and what was written."""
    import os

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from cellsync.config import Settings
    from cellsync.store import CellRun, Store, Version, store_size
    from cellsync.versions import persist

    cfg = Settings(max_persist_rows=10 * rows)
    rng = np.random.default_rng(7)
    regions = pa.array(["north", "south", "east", "west", "centre", "coast", "hills", "islands"])
    region = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 8, rows, dtype=np.int8)), regions)
    frame = pd.DataFrame({
        "age": rng.integers(0, 100, rows, dtype=np.int8),
        "income": rng.normal(40, 9, rows).astype(np.float32),
        "region": pd.Series(region.cast(pa.large_string()).to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow", na_value=np.nan))),
        "score": rng.normal(0, 1, rows),
    })
    store = Store(path)
    store.start_session("bench", None, {"pid": os.getpid()})
    parent_id, plan, kinds, expected = None, None, [], []
    t0 = time.perf_counter()
    for i in range(versions):
        kwargs = {}
        if i:
            step = (i - 1) % 4
            if step in (0, 2):  # a filter: positions of the kept rows, every column the same
                keep = (frame["score"] > -2.6 + 0.002 * i) if step == 0 else (frame["age"] != (i % 100))
                positions = np.flatnonzero(keep.to_numpy())
                frame = frame.iloc[positions].reset_index(drop=True)
                same = {j: j for j in range(frame.shape[1])}
            else:
                positions = np.arange(len(frame))
                if step == 1:
                    frame = frame.assign(score=frame["score"] * 0.5 + rng.normal(0, 0.1, len(frame)))
                    same = {j: j for j in range(frame.shape[1]) if frame.columns[j] != "score"}
                else:
                    same = {j: j for j in range(frame.shape[1])}
                    frame = frame.assign(**{f"x{i}": rng.integers(0, 3, len(frame), dtype=np.int8)})
            kwargs = dict(parent=plan, parent_id=parent_id, parent_positions=positions, same_columns=same)
        plan = persist(store.files, frame, cfg, **kwargs)
        vid = f"v{i:03d}"
        store.write_cell(CellRun("bench", i + 1, i + 1, None, None, f"step {i}", "2026-01-01T00:00:00", 0.1, "ok"),
                         [Version(id=vid, frame="df", session_id="bench", change="new" if i == 0 else "rebound",
                                  n_rows=len(frame), n_cols=frame.shape[1], parent_id=parent_id,
                                  parent_frame="df" if parent_id else None, data=plan)])
        expected.append(int(((frame["age"] >= 80) & (frame["region"] == "north")).sum()))
        kinds.append(plan.kind)
        parent_id = vid
        if (i + 1) % 5 == 0:
            print(f"snapgrid history: {i + 1}/{versions} versions, {time.perf_counter() - t0:.0f} s", flush=True)
    store.close()
    return {"rows_first": rows, "rows_last": len(frame), "versions": versions, "expected": expected,
            "plans": {k: kinds.count(k) for k in sorted(set(kinds))}, "store_gb": store_size(path) / 1e9,
            "build_s": time.perf_counter() - t0}


SNAP_CHILD = r"""
import json, resource, sys, time
import cellsync, duckdb, polars, narwhals
from cellsync import snapgrid as sg, snapscan  # imports before the clock
path, segment, engine = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
st = cellsync.open_store(path)
grid = sg.snapgrid(st, "df", segment, engine=engine)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                  "grid": grid.to_dict()}))
"""


def snap_query(path: str, engine: str) -> dict:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", SNAP_CHILD, path, SNAP_SEGMENT, engine],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"failed": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300],
                "returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def evict(path: str) -> None:
    """Drop this store's files (only these) from the page cache: the next read is from disk."""
    import os
    from pathlib import Path

    for p in Path(path).rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def bench_snapgrid(rows: int, versions: int, folder: str | None, keep: bool = False, reuse: str | None = None) -> dict:
    import shutil
    from pathlib import Path

    path = reuse or tempfile.mkdtemp(dir=folder, prefix="snapgrid-") + "/store"
    try:
        if reuse:  # a history a `--keep` run left: query it again
            built = json.loads((Path(path).parent / "built.json").read_text())
        else:
            built = build_snap_history(path, rows, versions)
            (Path(path).parent / "built.json").write_text(json.dumps(built))
        out = {"history": {k: v for k, v in built.items() if k != "expected"}, "segment": SNAP_SEGMENT}
        print(json.dumps(out), flush=True)
        runs = {"duckdb": snap_query(path, "duckdb"), "pandas": snap_query(path, "pandas")}
        evict(path)
        runs["duckdb, files evicted"] = snap_query(path, "duckdb")
        grids = {k: r.pop("grid", None) for k, r in runs.items()}
        counts = [c["segment_rows"] for c in grids["duckdb"]["cells"]] if grids["duckdb"] else None
        out["runs"] = runs
        out["duckdb counts == pandas on the frames"] = counts == built["expected"]
        out["duckdb grid == pandas grid"] = grids["duckdb"] == grids["pandas"] if grids["pandas"] else None
        return out
    finally:
        if keep or reuse:
            print(f"kept {path}", flush=True)
        else:
            shutil.rmtree(path.rsplit("/", 1)[0], ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--polars-rows", type=int, default=2_000_000)
    ap.add_argument("--spark-rows", type=int, default=2_000_000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--skip-spark", action="store_true")
    ap.add_argument("--spark-time-budget", type=float, default=None,
                    help="spark_time_budget for the run (default: the setting's, 60 s; a larger frame needs more "
                    "or its profile is cancelled and the version says so)")
    ap.add_argument("--snapgrid-rows", type=int, default=0, help="run the SnapGrid bench (only) at this size")
    ap.add_argument("--snapgrid-versions", type=int, default=50)
    ap.add_argument("--dir", default=None, help="where the SnapGrid store is written (removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the SnapGrid store (and its expected counts)")
    ap.add_argument("--reuse", default=None, help="query the SnapGrid store a --keep run left at this path")
    a = ap.parse_args()
    if a.snapgrid_rows:
        print(json.dumps(bench_snapgrid(a.snapgrid_rows, a.snapgrid_versions, a.dir, a.keep, a.reuse), indent=1))
        return
    if a.spark_time_budget is not None:
        import cellsync

        cellsync.settings.spark_time_budget = a.spark_time_budget
    ip = shell(tempfile.mkdtemp() + "/store")
    out = {"polars": bench_polars(ip, a.polars_rows, a.cols)}
    print(json.dumps(out), flush=True)
    if not a.skip_spark:
        out["spark"] = bench_spark(ip, a.spark_rows, a.cols)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""Engines bench: what CellSync adds on a polars or Spark filter cell, against the engine's
own summary of the same frame, measured in one run.

    python bench/engines.py [--polars-rows N] [--spark-rows N] [--cols 20] [--skip-spark]

polars: the worker's time to record the filtered frame (profile, diff by hash_rows, persist,
from `flush()` after the cell) / polars' `describe()` + `hash_rows()` on the same frame.
Spark: the worker's Spark time for the filter cell (one aggregation job + the sample job) /
one `df.summary().collect()`; and how long the user's next cell (a count) took while CellSync's
jobs ran. Sizes default to what a shared 2-core machine runs in a minute or two.
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


def bench_polars(ip, rows: int, cols: int) -> dict:
    from cellsync.extension import current_tracker

    ip.run_cell(f"""import polars as pl
rng = np.random.default_rng(0)
pdf = pl.DataFrame({{f"c{{i}}": rng.random({rows}) for i in range({cols})}})""", store_history=True)
    tr = current_tracker()
    tr.flush(600)
    ip.run_cell("pdf = pdf.filter(pl.col('c0') > 0.1)", store_history=True)
    record, _ = timed(lambda: tr.flush(600))
    df = ip.user_ns["pdf"]
    own, _ = timed(lambda: (df.describe(), df.hash_rows()))
    return {"rows": rows, "cols": cols, "cellsync_record_s": round(record, 3),
            "describe_plus_hash_rows_s": round(own, 3), "ratio": round(record / own, 2)}


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
    v = tr.worker._open().versions(frame="sdf")[-1]
    return {"rows": rows, "cols": cols, "cellsync_spark_s": round(added, 3), "summary_s": round(summary, 3),
            "ratio": round(added / summary, 2), "next_cell_s": round(next_cell, 3),
            "same_count_alone_s": round(alone, 3), "note": v.note}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--polars-rows", type=int, default=2_000_000)
    ap.add_argument("--spark-rows", type=int, default=2_000_000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--skip-spark", action="store_true")
    a = ap.parse_args()
    ip = shell(tempfile.mkdtemp() + "/store")
    out = {"polars": bench_polars(ip, a.polars_rows, a.cols)}
    print(json.dumps(out), flush=True)
    if not a.skip_spark:
        out["spark"] = bench_spark(ip, a.spark_rows, a.cols)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

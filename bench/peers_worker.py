"""Runs one peer inside its own venv and prints one JSON object (bench/peers.py starts it).

    .venv-bench/bin/python bench/peers_worker.py autoprofiler --rows 100000 --repeats 3
    .venv-bench/bin/python bench/peers_worker.py datacompy --source-rows 1000000 --repeats 3
    .venv-ydata/bin/python bench/peers_worker.py ydata --rows 100000 --repeats 3
    ANY/bin/python bench/peers_worker.py describe --rows 100000 --repeats 3

The frames come from bench/data.py with the same seed as CellSync's side, so both profile
the same values: `--rows R` is the first R rows of the changed frame made from
`--source-rows` rows (default 1,000,000), exactly what bench/peers.py gives CellSync.
Imports only numpy, pandas and the peer (never cellsync).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from data import changed, mixed_frame


def _timed(fn, *args, **kwargs) -> float:
    return _timed_call(fn, *args, **kwargs)[0]


def _timed_call(fn, *args, **kwargs):
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


# --- AutoProfiler ----------------------------------------------------------------------------
# digautoprofiler's Python side (profile_lib.py) is called by its JupyterLab front end
# (PythonExecutor.ts / ProfileModel.ts in the wheel's labextension bundle): getColumns(df),
# getShape(df), then one call per column, the index included, chosen by the dtype's name:
# NUMERICS -> getNumericData, TIMESTAMPS -> getTemporalData, CATEGORICALS ->
# getCategoricalData, BOOLEANS -> getBooleanData. Each prints a JSON string that the front
# end reads. We make the same calls in the same order and discard the printed JSON.
AP_INTEGERS = {"int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"}
AP_FLOATS = {"float", "float_", "float16", "float32", "float64"}
AP_NUMERICS = AP_INTEGERS | AP_FLOATS
AP_BOOLEANS = {"bool", "_bool"}
AP_TIMESTAMPS = {"datetime64", "datetime64[ns]"}
AP_CATEGORICALS = {"object", "string", "str", "category"}


def autoprofile(df: pd.DataFrame) -> dict:
    import digautoprofiler as ap

    calls: dict[str, int] = {}
    skipped = []
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        ap.getColumns(df)
        ap.getShape(df)
        columns = [(df.index.name or "", str(df.index.dtype), True)]
        columns += [(c, str(t), False) for c, t in df.dtypes.items()]
        for name, dtype, is_index in columns:
            if dtype in AP_NUMERICS:
                fn = ap.getNumericData
            elif dtype in AP_TIMESTAMPS:
                fn = ap.getTemporalData
            elif dtype in AP_CATEGORICALS:
                fn = ap.getCategoricalData
            elif dtype in AP_BOOLEANS:
                fn = ap.getBooleanData
            else:
                skipped.append(f"{name}:{dtype}")
                continue
            fn(df, name, is_index)
            calls[fn.__name__] = calls.get(fn.__name__, 0) + 1
    return {"calls": calls, "skipped": skipped, "printed_chars": len(buf.getvalue())}


def task_autoprofiler(args) -> dict:
    import digautoprofiler

    df = changed(mixed_frame(args.source_rows)).iloc[: args.rows]
    detail = autoprofile(df)  # also checks it runs
    times = [_timed(autoprofile, df) for _ in range(args.repeats)]
    per_col = {}
    if args.per_column:
        import digautoprofiler as ap

        for name, dtype in df.dtypes.items():
            fn = (ap.getNumericData if str(dtype) in AP_NUMERICS else ap.getTemporalData if str(dtype) in AP_TIMESTAMPS
                  else ap.getCategoricalData if str(dtype) in AP_CATEGORICALS else None)
            if fn is None:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                per_col[f"{name} ({dtype})"] = _timed(fn, df, name, False)
    return {"version": digautoprofiler.__version__, "rows": len(df), "cols": df.shape[1], "times_s": times,
            "detail": detail, "per_column_s": per_col}


def task_ydata(args) -> dict:
    import warnings

    import ydata_profiling
    from ydata_profiling import ProfileReport

    warnings.filterwarnings("ignore")
    df = changed(mixed_frame(args.source_rows)).iloc[: args.rows]
    times, describe_s, json_s, size = [], [], [], 0
    for _ in range(args.repeats):
        # to_json() computes the description (the profile) and serialises it; time both
        # halves too: the description is cached on the report, so the sum is the same work.
        gc.collect()
        t0 = time.perf_counter()
        report = ProfileReport(df, minimal=True, progress_bar=False)
        report.get_description()
        t1 = time.perf_counter()
        text = report.to_json()
        t2 = time.perf_counter()
        times.append(t2 - t0)
        describe_s.append(t1 - t0)
        json_s.append(t2 - t1)
        size = len(text)
        del report, text
    return {"version": ydata_profiling.__version__, "rows": len(df), "cols": df.shape[1], "times_s": times,
            "describe_s": describe_s, "to_json_s": json_s, "json_chars": size}


def task_datacompy(args) -> dict:
    import datacompy

    old = mixed_frame(args.source_rows)
    new = changed(old)
    compare_s, report_s, summary = [], [], {}
    for _ in range(args.repeats):
        seconds, cmp = _timed_call(datacompy.PandasCompare, old, new, join_columns="id", df1_name="old",
                                   df2_name="new")
        compare_s.append(seconds)
        report_s.append(_timed(cmp.report))
        summary = {
            "rows_only_old": int(len(cmp.df1_unq_rows)),
            "rows_only_new": int(len(cmp.df2_unq_rows)),
            "columns_only_new": sorted(cmp.df2_unq_columns()),
            "matches": bool(cmp.matches()),
            "unequal_columns": [c["column"] for c in cmp.column_stats if c["unequal_cnt"] > 0],
        }
        del cmp
    return {"version": datacompy.__version__, "rows_old": len(old), "rows_new": len(new), "compare_s": compare_s,
            "report_s": report_s, "summary": summary}


def task_describe(args) -> dict:
    df = changed(mixed_frame(args.source_rows))
    if args.rows:
        df = df.iloc[: args.rows]
    times = [_timed(df.describe, include="all") for _ in range(args.repeats)]
    return {"rows": len(df), "cols": df.shape[1], "times_s": times}


TASKS = {"autoprofiler": task_autoprofiler, "ydata": task_ydata, "datacompy": task_datacompy, "describe": task_describe}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--rows", type=int, default=0, help="first ROWS rows of the changed frame (0: all)")
    p.add_argument("--source-rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--per-column", action="store_true")
    args = p.parse_args()
    import numpy

    env = {"python": sys.version.split()[0], "pandas": pd.__version__, "numpy": numpy.__version__,
           "executable": sys.executable}
    try:
        result = {"ok": True, "env": env, **TASKS[args.task](args)}
    except Exception as exc:
        result = {"ok": False, "env": env, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    print("@@RESULT@@" + json.dumps(result, default=str))


if __name__ == "__main__":
    main()

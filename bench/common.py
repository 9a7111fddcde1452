"""Helpers shared by the benchmark parts: timing statistics, machine description, memory.

Every part (bench/hook.py, worker.py, peers.py, store_growth.py, memory.py, segments.py,
dashboard.py, chat.py) is a script that
`bench/run.py` starts in its own process (`python bench/PART.py --out FILE [--quick]`), so one
part's memory, threads and IPython singleton never leak into the next one's numbers.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"


def stats(values: list[float]) -> dict:
    """median / p95 / min / max / n of a list of numbers (p95: nearest rank)."""
    vals = sorted(values)
    if not vals:
        return {"n": 0}
    rank = max(0, min(len(vals) - 1, int(round(0.95 * len(vals) + 0.5)) - 1))
    return {
        "n": len(vals),
        "median": statistics.median(vals),
        "p95": vals[rank],
        "min": vals[0],
        "max": vals[-1],
    }


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def repeat(fn, n: int) -> list[float]:
    """Seconds of n calls of fn() (a gc.collect() before each, outside the timing)."""
    return [timed(fn)[0] for _ in range(n)]


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        return _status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    return _status_kb("VmHWM") * 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def malloc_trim() -> bool:
    """Give freed heap memory back to the OS (glibc), to tell held memory from allocator slack."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except Exception:
        return False


def machine() -> dict:
    import numpy
    import pandas

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem = subprocess.run(["free", "-h"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        pass
    try:
        import pyarrow

        pa_version = pyarrow.__version__
    except ImportError:
        pa_version = None
    try:
        import IPython

        ip_version = IPython.__version__
    except ImportError:
        ip_version = None
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)" for i in threadpool_info()]
    except Exception:
        blas = None
    try:
        import cellsync

        cs_version = cellsync.__version__
    except Exception:
        cs_version = None
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "cellsync"], capture_output=True, text=True, timeout=10
        ).stdout
        dirty_files = [ln[3:] for ln in dirty.splitlines() if len(ln) > 3]
    except Exception:
        commit, dirty, dirty_files = "", "", []
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "free_h": mem,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pandas": pandas.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pa_version,
        "ipython": ip_version,
        "blas": blas,
        "cellsync": cs_version,
        "git_commit": commit,
        "cellsync_dir_modified": bool(dirty),
        "cellsync_modified_files": dirty_files,
        "openblas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ},
    }


def part_main(run, description: str) -> None:
    """Command line for one part: `python bench/PART.py [--quick] [--out FILE]`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test in seconds")
    parser.add_argument("--out", type=Path, default=None, help="write the result JSON here")
    args = parser.parse_args()
    result = run(quick=args.quick)
    if "cellsync" in sys.modules:  # which cellsync this part measured (work tree or --snapshot)
        result["cellsync_file"] = sys.modules["cellsync"].__file__
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    else:
        print(text)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

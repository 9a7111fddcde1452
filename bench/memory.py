"""Part 5: memory the tracker holds beyond the user's own frames.

A fresh process (this part always runs in its own), a real InteractiveShell, 20 float64
frames of N rows x 20 columns in the namespace. Process RSS (psutil) is read
  before   frames made, extension not loaded (cellsync, pyarrow.parquet and sqlite_utils
           already imported), after malloc_trim(0): a clean heap
  first    after the first cell (all 20 frames recorded as new) and a flush of the worker
  steady   after 5 more trivial cells (frames unchanged) and a flush
and `steady - before` is reported as a % of the tracked data (the frames'
`memory_usage(index=True)` sum). Nothing is trimmed between `before` and `steady`, so freed
memory that glibc or Arrow's pool keep also counts, as a user would see it; the steady
reading is then repeated after `malloc_trim(0)` and Arrow's pool `release_unused()`: the gap
is allocator slack left by the worker's transient buffers (Parquet encoding, hashing). A
thread samples RSS every 20 ms during the first cell and its flush: the transient peak.
tracemalloc runs from the extension load on (numpy and pandas report their buffers to it):
`traced_live_bytes` is what Python and numpy allocations made since the load still hold at
the end, i.e. what the tracker (and IPython's own bookkeeping of those cells) really keeps;
tracemalloc's own memory is subtracted from every RSS reading.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shell as sh
from common import log, malloc_trim, part_main, rss_bytes
from data import float_frame


def release_caches() -> bool:
    """glibc malloc_trim(0) and Arrow's memory pool (mimalloc/jemalloc) release_unused()."""
    trimmed = malloc_trim()
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:
        pass
    return trimmed


def _rss() -> int:
    """RSS without tracemalloc's own bookkeeping (tracemalloc runs from the extension load on)."""
    return rss_bytes() - (tracemalloc.get_tracemalloc_memory() if tracemalloc.is_tracing() else 0)


class Sampler:
    """Polls RSS every 20 ms in a thread: the transient peak while the worker runs."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(0.02)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def run(quick: bool = False) -> dict:
    n_rows = 20_000 if quick else 1_000_000
    n_frames = 20
    with tempfile.TemporaryDirectory(prefix="cellsync-bench-mem-") as tmp:
        ip = sh.make_shell(Path(tmp) / "store")
        log(f"memory: making {n_frames} frames of {n_rows:,} x 20")
        for i in range(n_frames):
            ip.user_ns[f"df{i}"] = float_frame(n_rows, seed=i)
        tracked = int(sum(ip.user_ns[f"df{i}"].memory_usage(index=True).sum() for i in range(n_frames)))
        sh.run(ip, "x = 0")
        # the modules the worker uses are imported by `import cellsync` already; make sure
        import pyarrow.parquet  # noqa: F401
        import sqlite_utils  # noqa: F401

        gc.collect()
        release_caches()  # start from a clean heap: later raw readings include any slack
        before = _rss()

        tracemalloc.start()
        with Sampler() as sampler:
            sh.load(ip)
            sh.run(ip, "x = 1")
            log("memory: first cell recorded the frames; waiting for the worker")
            sh.flush()
        gc.collect()
        first = _rss()
        for k in range(5):
            sh.run(ip, f"x = {k + 2}")
            sh.flush()
        gc.collect()
        steady_raw = _rss()  # what a user sees: nothing trimmed since the baseline
        traced_now, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        release_caches()
        steady_trim = _rss()
        tr = sh.tracker()
        held = {
            "tracked_objects": len(tr._objects),
            "snapshots_share_data": all(
                _shares(tr._objects[k].snapshot, ip.user_ns[n])
                for k in tr._objects
                for n in tr._objects[k].names
            ),
        }
        ip.extension_manager.unload_extension("cellsync")

    def pct(x):
        return 100.0 * x / tracked

    return {
        "n_frames": n_frames,
        "rows": n_rows,
        "tracked_bytes": tracked,
        "before": before,
        "after_first_cell": first,
        "steady": steady_raw,
        "steady_after_trim": steady_trim,
        "first_cell_overhead_pct": pct(first - before),
        "overhead_bytes": steady_raw - before,
        "overhead_pct": pct(steady_raw - before),
        "overhead_after_trim_bytes": steady_trim - before,
        "overhead_after_trim_pct": pct(steady_trim - before),
        "traced_live_bytes": traced_now,
        "traced_live_pct": pct(traced_now),
        "traced_peak_bytes": traced_peak,
        "transient_peak_bytes": sampler.peak - before,
        "transient_peak_pct": pct(sampler.peak - before),
        "held": held,
    }


def _shares(snapshot, live) -> bool:
    import numpy as np

    try:
        return bool(np.shares_memory(snapshot._mgr.blocks[0].values, live._mgr.blocks[0].values))
    except Exception:
        return False


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

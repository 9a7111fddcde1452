"""Part 2: the worker's cost for one changed N-row mixed-type frame, step by step.

The frame (bench/data.py `mixed_frame`): 20 columns: 4 int64 (one is a unique `id`),
12 float64, 2 strings, 1 category, 1 datetime64[ns]. The change (`data.CHANGE_CODE`):
filter ~10% of rows, rewrite one column, add one column.

Timed separately, each the median of several repeats:
  profile  cellsync.profile.profile_frame(new)
  diff     cellsync.diff.diff_frames(old, new)
  persist  cellsync.versions.persist(new) as a delta on the parent's plan (the parent is
           first persisted whole into a fresh Store's `files`, timed and reported apart;
           a fresh store per repeat, since column files are content-addressed and a second
           write of the same column costs nothing)
and end to end through a real InteractiveShell: run the changing cell, then time
`cellsync.flush()` and read the worker's `last_job_seconds`. Also the interference with the
user: a small pure-Python cell (PROBE) timed with the worker idle and right after the
changing cell, while the worker works on it in its thread (they share the GIL).
A cProfile of one profile+diff+persist (sorted by cumulative time) goes to
bench/results/worker_profile.txt.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shell as sh
from common import RESULTS, log, part_main, stats, timed
from data import CHANGE_CODE, changed, frame_bytes, mixed_frame


def prepare(old, new, cfg, tmp: Path, i: int):
    """A fresh store with the parent persisted whole (timed, reported apart)."""
    from cellsync.store import Store
    from cellsync.versions import persist

    store = Store(tmp / f"store{i}")
    parent_s, parent_plan = timed(persist, store.files, old, cfg)
    return store, parent_s, parent_plan


def steps(old, new, cfg, store, parent_plan) -> dict:
    """The three worker steps for one changed frame (what Worker._version does)."""
    from cellsync.diff import diff_frames
    from cellsync.profile import profile_frame
    from cellsync.versions import persist

    out = {}
    out["profile"], _ = timed(profile_frame, new, cfg)
    out["diff"], (diff, match) = timed(diff_frames, old, new)
    out["persist"], plan = timed(
        persist,
        store.files,
        new,
        cfg,
        parent=parent_plan,
        parent_id="parent",
        parent_positions=match.parent_positions(len(new)),
        same_columns=match.same_columns,
        same_index=match.same_index,
    )
    out["_plan"] = plan
    out["_diff"] = diff
    return out


def cprofile_once(old, new, cfg, tmp: Path) -> str:
    """cProfile sees only the thread it runs in, so the profile step runs on one thread here
    (profile_threads=1) to attribute its time; the timings above use the configured threads."""
    from cellsync.config import Settings

    if getattr(cfg, "profile_threads", 1) != 1:
        cfg = Settings(profile_threads=1)
    store, _, parent_plan = prepare(old, new, cfg, tmp, 999)  # not profiled
    prof = cProfile.Profile()
    try:
        prof.enable()
        steps(old, new, cfg, store, parent_plan)
        prof.disable()
    finally:
        store.close()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(50)
    text = buf.getvalue()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(30)
    return ("cProfile of profile_frame(new) + diff_frames(old, new) + persist(new) as a delta\n"
            "(profile_frame on one thread, profile_threads=1, so cProfile sees its work;\n"
            " timed() wraps each step and runs gc.collect() first: ignore its own gc time)\n\n"
            + text + "\n\n=== sorted by tottime ===\n" + buf.getvalue())


def run(quick: bool = False) -> dict:
    from cellsync.config import Settings

    n_rows = 50_000 if quick else 1_000_000
    repeats = 3 if quick else 5
    cfg = Settings()
    log(f"worker: making the {n_rows:,}-row mixed frame")
    old = mixed_frame(n_rows)
    new = changed(old)
    out: dict = {
        "rows_old": len(old),
        "rows_new": len(new),
        "cols_old": old.shape[1],
        "cols_new": new.shape[1],
        "dtypes": {c: str(t) for c, t in old.dtypes.items()},
        "change": CHANGE_CODE,
        "frame_bytes_old": frame_bytes(old),
        "frame_bytes_new": frame_bytes(new),
    }
    runs = []
    tmp = Path(tempfile.mkdtemp(prefix="cellsync-bench-worker-"))
    try:
        for i in range(repeats):
            log(f"worker: steps, repeat {i + 1}/{repeats}")
            store, parent_s, parent_plan = prepare(old, new, cfg, tmp, i)
            try:
                r = steps(old, new, cfg, store, parent_plan)
            finally:
                store.close()
            r["persist_parent_full"] = parent_s
            runs.append(r)
            shutil.rmtree(tmp / f"store{i}", ignore_errors=True)
        plan, diff = runs[-1]["_plan"], runs[-1]["_diff"]
        for key in ("profile", "diff", "persist", "persist_parent_full"):
            out[key + "_s"] = stats([r[key] for r in runs])
        totals = [r["profile"] + r["diff"] + r["persist"] for r in runs]
        out["profile_diff_persist_s"] = stats(totals)
        out["profile_threads"] = getattr(cfg, "profile_threads", None)
        if out["profile_threads"] not in (None, 1):
            # the same profile on one thread: what it costs when CellSync keeps to one core
            from cellsync.profile import profile_frame

            one = Settings(profile_threads=1)
            log("worker: profile_frame with profile_threads=1")
            out["profile_1thread_s"] = stats([timed(profile_frame, new, one)[0] for _ in range(repeats)])
        out["sum_of_medians_s"] = sum(out[k + "_s"]["median"] for k in ("profile", "diff", "persist"))
        out["plan"] = {
            "kind": plan.kind,
            "bytes_written": plan.bytes_written,
            "columns_written": [r.label for r in plan.columns if r.key],
            "index": plan.index.kind if plan.index else None,
            "parent_full_bytes": parent_plan.bytes_written,
        }
        out["diff_summary"] = {
            "row_identity": diff.row_identity,
            "rows_removed": diff.rows_removed,
            "columns_added": list(diff.columns_added),
            "values_changed": dict(diff.values_changed),
        }
        if not quick:
            log("worker: cProfile of one profile+diff+persist")
            text = cprofile_once(old, new, cfg, tmp)
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "worker_profile.txt").write_text(text)
            out["cprofile_file"] = str(RESULTS / "worker_profile.txt")

        out["end_to_end"] = end_to_end(old, tmp, repeats)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


PROBE = "_p = sum(i * i for i in range(1_500_000))"  # pure Python, ~70 ms: needs the GIL


def end_to_end(old, tmp: Path, repeats: int) -> dict:
    """The same change through the shell: the cell, then flush until the worker is done."""
    ip = sh.make_shell(tmp / "shell-store")
    ip.user_ns["_base"] = old  # names starting with _ are not tracked
    sh.load(ip)
    tr = sh.tracker()
    flush_s, job_s, hook_s, wall_s, restore_s = [], [], [], [], []
    probe_idle, probe_busy = [], []
    for i in range(repeats):
        log(f"worker: end to end, repeat {i + 1}/{repeats}")
        sh.run(ip, "df = _base.copy()")  # a new version of df (columns already in the store)
        restore_s.append(sh.flush())
        wall_s.append(sh.run(ip, CHANGE_CODE))
        hook_s.append(tr.hook_seconds_last)
        t0 = time.perf_counter()
        sh.flush()
        flush_s.append(time.perf_counter() - t0)
        job_s.append(tr.worker.last_job_seconds)
        # interference: a small CPU-bound cell run while the worker is idle, then right after
        # the changing cell, while the worker is busy with it
        probe_idle.append(sh.run(ip, PROBE))
        sh.run(ip, "df = _base.copy()")
        sh.flush()
        sh.run(ip, CHANGE_CODE)
        probe_busy.append(sh.run(ip, PROBE))
        sh.flush()
    from cellsync.extension import current_tracker

    st = current_tracker().status()
    ip.extension_manager.unload_extension("cellsync")
    return {
        "cell": CHANGE_CODE,
        "cell_wall_s": stats(wall_s),
        "hook_s": stats(hook_s),
        "flush_after_cell_s": stats(flush_s),
        "worker_last_job_s": stats(job_s),
        "restore_cell_flush_s": stats(restore_s),
        "probe_cell": PROBE,
        "probe_worker_idle_s": stats(probe_idle),
        "probe_worker_busy_s": stats(probe_busy),
        "problems": st["problems"],
    }


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

"""Part 2: the worker's cost for one changed N-row mixed-type frame, step by step.

The frame (bench/data.py `mixed_frame`): 20 columns: 4 int64 (one is a unique `id`),
12 float64, 2 strings, 1 category, 1 datetime64[ns]. The change (`data.CHANGE_CODE`):
filter ~10% of rows, rewrite one column, add one column.

Timed separately, each the median of several repeats:
  profile  cellsync.profile.profile_frame(new)
  diff     cellsync.diff.diff_frames(old, new)
  persist  cellsync.versions.persist(new) as a delta on the parent's plan (the parent is
           first persisted whole into a fresh Store's `files`, untimed here but reported;
           a fresh store per repeat, since column files are content-addressed and a second
           write of the same column costs nothing)
and end to end through a real InteractiveShell: run the changing cell, then time
`cellsync.flush()` and read the worker's `last_job_seconds`.
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

from common import RESULTS, log, part_main, stats, timed  # noqa: E402
from data import CHANGE_CODE, changed, frame_bytes, mixed_frame  # noqa: E402
import shell as sh  # noqa: E402


def steps(old, new, cfg, tmp: Path, i: int) -> dict:
    from cellsync.diff import diff_frames
    from cellsync.profile import profile_frame
    from cellsync.store import Store
    from cellsync.versions import persist

    out = {}
    out["profile"], _ = timed(profile_frame, new, cfg)
    out["diff"], (diff, match) = timed(diff_frames, old, new)
    store = Store(tmp / f"store{i}")
    try:
        out["persist_parent_full"], parent_plan = timed(persist, store.files, old, cfg)
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
    finally:
        store.close()
    out["_plan"] = plan
    out["_parent_plan"] = parent_plan
    out["_diff"] = diff
    return out


def cprofile_once(old, new, cfg, tmp: Path) -> str:
    prof = cProfile.Profile()
    prof.enable()
    steps(old, new, cfg, tmp, 999)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(45)
    text = buf.getvalue()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(25)
    return text + "\n\n=== sorted by tottime ===\n" + buf.getvalue()


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
            runs.append(steps(old, new, cfg, tmp, i))
            shutil.rmtree(tmp / f"store{i}", ignore_errors=True)
        plan, parent_plan, diff = runs[-1]["_plan"], runs[-1]["_parent_plan"], runs[-1]["_diff"]
        for key in ("profile", "diff", "persist", "persist_parent_full"):
            out[key + "_s"] = stats([r[key] for r in runs])
        totals = [r["profile"] + r["diff"] + r["persist"] for r in runs]
        out["profile_diff_persist_s"] = stats(totals)
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


def end_to_end(old, tmp: Path, repeats: int) -> dict:
    """The same change through the shell: the cell, then flush until the worker is done."""
    ip = sh.make_shell(tmp / "shell-store")
    ip.user_ns["_base"] = old  # names starting with _ are not tracked
    sh.load(ip)
    tr = sh.tracker()
    flush_s, job_s, hook_s, wall_s, restore_s = [], [], [], [], []
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
        "problems": st["problems"],
    }


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

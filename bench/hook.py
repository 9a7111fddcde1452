"""Part 1: how long CellSync's post_run_cell hook blocks the user's cell.

A real IPython InteractiveShell, 20 float64 frames of N rows x 20 columns in the namespace,
`%load_ext cellsync` writing to a temporary store. Reported: `hook_seconds_last` of the
tracker after each cell (the blocking time of the post_run_cell hook only), for
  - a trivial cell (`x = 1`) with all 20 frames unchanged (the steady state),
  - an in-place edit of one frame (`df0.loc[0, 'c0'] = ...`),
  - a rebinding (`dfK = dfK[dfK.c0 > 0.1]`, a different frame each repeat),
  - the first cell after loading (all 20 frames are new to the tracker).
The worker is flushed (outside the timing) before each measured cell, as at a human pace;
`cell_wall` is the whole `run_cell` (IPython + the cell + both hooks) for context, also
measured with the worker not woken (its submit() replaced by a no-op) to show how much of
the whole-cell time is the worker thread taking the GIL right after the hook.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shell as sh
from common import log, part_main, stats
from data import float_frame


def run(quick: bool = False) -> dict:
    n_rows = 20_000 if quick else 1_000_000
    n_frames, n_cells, n_edits = 20, (20 if quick else 50), (3 if quick else 7)
    out: dict = {"n_frames": n_frames, "rows": n_rows, "cols": 20, "trivial_cells": n_cells}
    with tempfile.TemporaryDirectory(prefix="cellsync-bench-hook-") as tmp:
        ip = sh.make_shell(Path(tmp) / "store")
        log(f"hook: making {n_frames} frames of {n_rows:,} x 20")
        for i in range(n_frames):
            ip.user_ns[f"df{i}"] = float_frame(n_rows, seed=i)
        out["tracked_bytes"] = int(sum(ip.user_ns[f"df{i}"].memory_usage(index=True).sum() for i in range(n_frames)))

        # baseline: the same trivial cell without CellSync
        base = [sh.run(ip, "x = 1") for _ in range(n_cells)]
        out["cell_wall_without_cellsync_s"] = stats(base)

        sh.load(ip)
        tr = sh.tracker()
        wall = sh.run(ip, "x = 1")
        out["first_cell"] = {"hook_s": tr.hook_seconds_last, "cell_wall_s": wall}
        log("hook: first cell recorded 20 new frames; waiting for the worker to persist them")
        out["first_cell"]["worker_flush_s"] = sh.flush()

        hooks, walls = [], []
        for _ in range(n_cells):
            sh.flush()
            walls.append(sh.run(ip, "x = 1"))
            hooks.append(tr.hook_seconds_last)
        out["trivial"] = {"hook_s": stats(hooks), "cell_wall_s": stats(walls), "hook_s_all": hooks}

        log("hook: in-place edits")
        hooks, walls, jobs = [], [], []
        for k in range(n_edits):
            sh.flush()
            walls.append(sh.run(ip, f"df0.loc[0, 'c0'] = {k + 2}.0"))
            hooks.append(tr.hook_seconds_last)
            sh.flush()
            jobs.append(tr.worker.last_job_seconds)
        out["inplace"] = {
            "code": "df0.loc[0, 'c0'] = <k>.0",
            "hook_s": stats(hooks),
            "cell_wall_s": stats(walls),
            "worker_job_s": stats(jobs),
        }

        log("hook: rebindings")
        hooks, walls, jobs = [], [], []
        for k in range(1, n_edits + 1):
            sh.flush()
            walls.append(sh.run(ip, f"df{k} = df{k}[df{k}.c0 > 0.1]"))
            hooks.append(tr.hook_seconds_last)
            sh.flush()
            jobs.append(tr.worker.last_job_seconds)
        out["rebind"] = {
            "code": f"dfK = dfK[dfK.c0 > 0.1]  (K = 1..{n_edits}, one frame each)",
            "hook_s": stats(hooks),
            "cell_wall_s": stats(walls),
            "worker_job_s": stats(jobs),
        }
        # Where the whole-cell time goes beyond the hook: the same trivial cell with the
        # worker's submit() replaced by a no-op (nothing queued, so the worker thread stays
        # asleep). The difference to `trivial.cell_wall_s` is the worker thread taking the GIL
        # for its (tiny) job while IPython finishes the cell. These cells are not recorded.
        sh.flush()
        submit = tr.worker.submit
        tr.worker.submit = lambda job: None
        try:
            walls = [sh.run(ip, "x = 1") for _ in range(n_cells)]
        finally:
            tr.worker.submit = submit
        out["trivial_worker_not_woken"] = {"cell_wall_s": stats(walls)}
        out["hook_max_s"] = tr.hook_seconds_max
        out["problems"] = sh.problems()
        ip.extension_manager.unload_extension("cellsync")
    return out


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

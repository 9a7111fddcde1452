"""Part 6: segments: their impacts on one changed frame, and SnapGrid over a long history.

(a) Impacts. The frame and the change of part 2 (bench/data.py: a 1M x 20 mixed frame; filter
    ~10%, rewrite `f0`, add `score`). The segments are what the tracker suggests for that
    frame: `cellsync.segments.suggest(old, profile_frame(old), limit=40)` (5 values of
    `region`, then quartiles of the numeric columns, then "f11 is missing", cut at 40). Timed:
    `cellsync.segments.impacts(segments, old, new, diff, match)` alone, with the diff and
    row match computed beforehand (the worker has them already). A cProfile of one call goes
    to bench/results/segments_profile.txt. Then the same change end to end in a shell: the
    worker's `last_job_seconds` with the 40 suggested segments and with none
    (`max_suggested_segments = 0`): the extra the segments cost the worker.
(b) SnapGrid. A store written directly (as tests/test_store.py does): version 1 of a 1M-row
    mixed frame persisted whole, then 49 more versions, alternately a filter (~1.5% of rows
    each, ~30% in all) and a column rewrite, each persisted as a delta on its parent (`diff_frames` for the row
    match, `full_version_every` cutting the chains as the tracker does) with its profile and
    diff, as the worker writes them. Then a segment that is NOT stored is queried over all
    50 versions, `cellsync.open_store(path).snapgrid(...)`, timed from the open:
      cold   the first query in a fresh Python process (imports not timed), once with the
             store's files in the page cache and once with them evicted from it
             (fsync + posix_fadvise DONTNEED on each file of the store: nothing else is
             touched), so it reads from disk
      warm   the same query again on the same open store, and a different new segment
    with and without one distribution column. A cProfile of one cold query goes to
    bench/results/snapgrid_profile.txt.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shell as sh
from common import RESULTS, log, part_main, stats, timed
from data import CHANGE_CODE, changed, mixed_frame

GRID_SEGMENT = 'region == "north" and f2 > 60'  # never stored: typed after the fact
GRID_OTHER = "i1 >= 90 or f11 is missing"  # a second new segment, for the warm case
GRID_COLUMN = "f4"  # a distribution column (rewritten in some versions)


# --- (a) impacts ---------------------------------------------------------------------------


def impacts_part(n_rows: int, repeats: int, tmp: Path, quick: bool) -> dict:
    from cellsync.config import Settings
    from cellsync.diff import diff_frames
    from cellsync.profile import profile_frame
    from cellsync.segments import impacts, suggest

    cfg = Settings()
    log(f"segments: the {n_rows:,}-row frame, its profile and suggested segments")
    old = mixed_frame(n_rows)
    new = changed(old)
    suggest_s, segs = timed(lambda: suggest(old, profile_frame(old, cfg), limit=40, frame_name="df"))
    diff, match = diff_frames(old, new)
    log(f"segments: impacts of {len(segs)} segments, {repeats} repeats")
    times = []
    out = None
    for _ in range(repeats):
        s, out = timed(impacts, segs, old, new, diff, match)
        times.append(s)
    # where the time goes: the masks (parse-free: specs are parsed once) and the changed masks
    from cellsync.diff import changed_mask
    from cellsync.segments.impacts import _safe_mask
    from cellsync.segments.segment import _column_lookup

    lookup_old, lookup_new = _column_lookup(old), _column_lookup(new)
    masks_s = [timed(lambda: [(_safe_mask(s, lookup_old, len(old)), _safe_mask(s, lookup_new, len(new))) for s in segs])[0]
               for _ in range(3)]
    changed_cols = [(c.before, c.column) for c in diff.columns if c.values_changed]
    changed_s = [timed(lambda: [changed_mask(lookup_old[b], lookup_new[a], match.old_pos, match.new_pos)
                                for b, a in changed_cols])[0] for _ in range(3)]
    by_kind: dict[str, list[float]] = {}
    for seg in segs:
        kind = "value of a category" if seg.columns == ["region"] else (
            "missing" if seg.spec["op"] == "missing" else "quartile of a number")
        t = min(timed(lambda: (_safe_mask(seg, lookup_old, len(old)), _safe_mask(seg, lookup_new, len(new))))[0]
                for _ in range(3))
        by_kind.setdefault(kind, []).append(t)
    if not quick:
        prof = cProfile.Profile()
        prof.enable()
        impacts(segs, old, new, diff, match)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(30)
        buf2 = io.StringIO()
        pstats.Stats(prof, stream=buf2).strip_dirs().sort_stats("tottime").print_stats(20)
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "segments_profile.txt").write_text(
            f"cProfile of cellsync.segments.impacts({len(segs)} segments) on the changed {n_rows:,}-row frame\n\n"
            + buf.getvalue() + "\n\n=== sorted by tottime ===\n" + buf2.getvalue())
    res = {
        "rows_old": len(old), "rows_new": len(new), "change": CHANGE_CODE,
        "n_segments": len(segs),
        "segments": [s.text for s in segs],
        "suggest_s": suggest_s,
        "impacts_s": stats(times),
        "masks_only_s": stats(masks_s),
        "changed_masks_s": stats(changed_s),
        "changed_columns": [a for _, a in changed_cols],
        "mask_pair_s_by_kind": {k: {"n": len(v), "each_median": stats(v)["median"], "sum": sum(v)} for k, v in by_kind.items()},
        "flagged": [{"segment": i.segment, "removal_rate": i.removal_rate, "overall": i.overall_removal_rate}
                    for i in out if i.flagged],
        "n_impacts": len(out),
    }
    res["end_to_end"] = worker_with_and_without(old, tmp, 2 if quick else 3)
    return res


def worker_with_and_without(old, tmp: Path, repeats: int) -> dict:
    """The change through a real shell; the worker's job with 40 suggested segments and with
    none. Suggestions are made from the frame's first profiled version (`df = _base.copy()`)."""
    import cellsync

    ip = None
    out = {}
    for label, limit in (("with_40_segments", 40), ("without_segments", 0)):
        store_dir = tmp / f"shell-{label}"
        cellsync.settings.max_suggested_segments = limit
        ip = sh.make_shell(store_dir)
        ip.user_ns["_base"] = old
        sh.load(ip)
        tr = sh.tracker()
        jobs, cells = [], []
        for i in range(repeats):
            log(f"segments: worker end to end, {label}, {i + 1}/{repeats}")
            sh.run(ip, "df = _base.copy()")
            sh.flush()
            sh.run(ip, CHANGE_CODE)
            sh.flush()
            jobs.append(tr.worker.last_job_seconds)
        st = cellsync.open_store(store_dir)
        last = st.timeline()[-1]
        n_imp = len(last.segments)
        st.close()
        problems = sh.problems()
        ip.extension_manager.unload_extension("cellsync")
        ip.reset(new_session=True)
        out[label] = {"worker_last_job_s": stats(jobs), "impacts_recorded": n_imp, "problems": problems}
    cellsync.settings.max_suggested_segments = 40
    a, b = out["with_40_segments"]["worker_last_job_s"], out["without_segments"]["worker_last_job_s"]
    out["extra_s"] = a["median"] - b["median"]
    return out


# --- (b) SnapGrid ----------------------------------------------------------------------------

REWRITE = ["f2", "f4", "f0", "i1", "f6", "f8", "f2", "f10", "f4", "i2"]


def build_history(path: Path, n_rows: int, n_versions: int) -> dict:
    """n_versions of one frame written straight into a Store, as the worker writes them."""
    import numpy as np

    from cellsync.config import Settings
    from cellsync.diff import diff_frames, new_frame_diff
    from cellsync.profile import profile_frame
    from cellsync.store import CellRun, Store, Version
    from cellsync.versions import persist

    cfg = Settings()
    store = Store(path)
    store.start_session("bench", None, {"pid": os.getpid()})
    rng = np.random.default_rng(7)
    frame = mixed_frame(n_rows)
    parent_id = None
    kinds, codes = [], []
    t0 = time.perf_counter()
    for i in range(n_versions):
        if i == 0:
            new, code = frame, "df = load()"
        elif i % 2:
            # a uniform [0, 1) column, and a threshold 0.015 higher each time the column comes
            # round again: every filter removes about 1.5% of the rows
            col = f"f{(i // 2) % 6 * 2 + 1}"
            cut = round(0.015 * (i // 12 + 1), 3)
            new, code = frame[frame[col] > cut], f"df = df[df['{col}'] > {cut}]"
        else:
            col = REWRITE[(i // 2) % len(REWRITE)]
            new = frame.copy()
            noise = rng.normal(0, 1, len(new))
            new[col] = (new[col] + noise).astype(new[col].dtype) if new[col].dtype.kind == "f" else new[col] + (noise > 1)
            code = f"df['{col}'] = df['{col}'] + noise"
        if parent_id is None:
            diff, kwargs = new_frame_diff(new), {}
        else:
            diff, match = diff_frames(frame, new)
            kwargs = dict(parent=store.plan(parent_id), parent_id=parent_id,
                          parent_positions=match.parent_positions(len(new)),
                          same_columns=match.same_columns, same_index=match.same_index)
        plan = persist(store.files, new, cfg, **kwargs)
        vid = f"v{i:03d}"
        cell = CellRun("bench", i + 1, i + 1, None, None, code, "2026-01-01T00:00:00", 0.1, "ok")
        store.write_cell(cell, [Version(id=vid, frame="df", session_id="bench", change="new" if i == 0 else "rebound",
                                        n_rows=len(new), n_cols=new.shape[1], parent_id=parent_id,
                                        parent_frame="df" if parent_id else None, profile=profile_frame(new, cfg),
                                        diff=diff, data=plan)])
        kinds.append(plan.kind)
        codes.append(code)
        frame, parent_id = new, vid
        if (i + 1) % 10 == 0:
            log(f"segments: history {i + 1}/{n_versions} versions ({time.perf_counter() - t0:.0f} s)")
    store.close()
    from cellsync.store import store_size

    return {
        "rows_first": n_rows, "rows_last": len(frame), "versions": n_versions,
        "plans": {k: kinds.count(k) for k in sorted(set(kinds))},
        "store_bytes": store_size(path), "build_s": time.perf_counter() - t0,
        "cells": codes[:4] + ["..."],
        "full_version_every": cfg.full_version_every,
    }


def evict(path: Path) -> int:
    """Drop this store's files (only these) from the page cache, so the next read is from disk."""
    n = 0
    for p in path.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                n += 1
            finally:
                os.close(fd)
    return n


CHILD = r"""
import json, sys, time
import cellsync
from cellsync import snapgrid as _sg  # imports done before the clock starts
path, seg, other, col, warm, prof = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
out = {}
if prof:
    import cProfile, io, pstats
    p = cProfile.Profile(); p.enable()
t0 = time.perf_counter()
st = cellsync.open_store(path)
t1 = time.perf_counter()
grid = st.snapgrid("df", seg, columns=[col] if col else [])
t2 = time.perf_counter()
if prof:
    p.disable()
    buf = io.StringIO(); pstats.Stats(p, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(35)
    buf2 = io.StringIO(); pstats.Stats(p, stream=buf2).strip_dirs().sort_stats("tottime").print_stats(20)
    open(prof, "w").write(buf.getvalue() + "\n=== sorted by tottime ===\n" + buf2.getvalue())
out["open_s"], out["query_s"], out["cold_s"] = t1 - t0, t2 - t1, t2 - t0
out["cells"] = [[c.status, c.frame_rows, c.segment_rows] for c in grid.cells]
warm_same, warm_other = [], []
for _ in range(warm):
    a = time.perf_counter(); st.snapgrid("df", seg, columns=[col] if col else []); warm_same.append(time.perf_counter() - a)
    a = time.perf_counter(); st.snapgrid("df", other, columns=[col] if col else []); warm_other.append(time.perf_counter() - a)
out["warm_same_s"], out["warm_other_s"] = warm_same, warm_other
print(json.dumps(out))
"""


def query(path: Path, column: str, warm: int, prof: str = "") -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), GRID_SEGMENT, GRID_OTHER, column, str(warm), prof],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"snapgrid child failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def snapgrid_part(n_rows: int, n_versions: int, repeats: int, tmp: Path, quick: bool) -> dict:
    import numpy as np

    path = tmp / "history"
    log(f"segments: writing {n_versions} versions of a {n_rows:,}-row frame")
    built = build_history(path, n_rows, n_versions)
    res = {"store": built, "segment": GRID_SEGMENT, "other_segment": GRID_OTHER, "column": GRID_COLUMN}
    # correctness: the counts against pandas on the last version (rebuilt whole)
    import cellsync

    st = cellsync.open_store(path)
    last = st.load_frame(st.versions(frame="df", profiles=False)[-1].id)
    expect = int(((last["region"] == "north") & (last["f2"] > 60)).sum())
    st.close()
    for column in ("", GRID_COLUMN):
        tag = "with_column" if column else "segment_only"
        cached, evicted = [], []
        for i in range(repeats):
            log(f"segments: snapgrid {tag}, cold (page cache warm) {i + 1}/{repeats}")
            cached.append(query(path, column, warm=3 if i == 0 else 0))
            log(f"segments: snapgrid {tag}, cold (files evicted) {i + 1}/{repeats}")
            res.setdefault("evicted_files", evict(path))
            evicted.append(query(path, column, warm=0))
        first = cached[0]
        res[tag] = {
            "cold_cached_s": stats([r["cold_s"] for r in cached]),
            "cold_cached_open_s": stats([r["open_s"] for r in cached]),
            "cold_evicted_s": stats([r["cold_s"] for r in evicted]),
            "warm_same_s": stats(first["warm_same_s"]),
            "warm_other_s": stats(first["warm_other_s"]),
            "statuses": {s: sum(1 for c in first["cells"] if c[0] == s) for s in {c[0] for c in first["cells"]}},
            "segment_rows_first_last": [first["cells"][0][2], first["cells"][-1][2]],
            "last_version_matches_pandas": first["cells"][-1][2] == expect,
        }
    if not quick:
        log("segments: cProfile of one cold snapgrid query")
        evict(path)
        query(path, GRID_COLUMN, warm=0, prof=str(RESULTS / "snapgrid_profile.txt"))
        res["cprofile_file"] = str(RESULTS / "snapgrid_profile.txt")
    res["rows_in_segment_expected_last"] = expect
    log("segments: the dashboard's server-side work for a click on a cell of this history")
    res["dashboard_click_server_side"] = large_click(path)
    shutil.rmtree(path, ignore_errors=True)
    return res


def large_click(path: Path) -> dict:
    """What a click in the dashboard costs the server for a cell of a 1M-row frame (part 7
    uses 50,000-row frames): `Dashboard.cell_view(entry)` for a filter cell and a column
    rewrite, and `Store.removed_rows(version)`, which the view calls for a filter."""
    import panel as pn

    pn.extension("tabulator", design="native")
    import cellsync
    from cellsync.ui import Dashboard

    init_s, d = timed(lambda: Dashboard(store=str(path)))
    out = {"dashboard_init_s": init_s}
    entries = d.state.entries
    picks = {"filter": next(e for e in entries[len(entries) // 2:]
                            if e.code.startswith("df = df[") and e.frames[0].rows_removed),
             "rewrite": next(e for e in entries[len(entries) // 2:] if "noise" in e.code)}
    for kind, e in picks.items():
        out[f"cell_view_{kind}_s"] = stats([timed(lambda: d.cell_view(e))[0] for _ in range(2)])
    st = cellsync.open_store(path)
    vid = picks["filter"]["frames"][0]["version"]
    out["removed_rows_s"] = stats([timed(lambda: st.removed_rows(vid).head(50))[0] for _ in range(2)])
    out["load_frame_s"] = stats([timed(lambda: st.load_frame(vid))[0] for _ in range(2)])
    st.close()
    return out


def run(quick: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cellsync-bench-segments-"))
    try:
        out = {"impacts": impacts_part(50_000 if quick else 1_000_000, 3 if quick else 7, tmp, quick)}
        out["snapgrid"] = snapgrid_part(50_000 if quick else 1_000_000, 10 if quick else 50, 2 if quick else 5, tmp, quick)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

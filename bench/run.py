"""CellSync benchmarks: one entry point.

    .venv/bin/python bench/run.py            # everything (about 20 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # small sizes, a few minutes: a smoke test
    .venv/bin/python bench/run.py --parts segments,dashboard,chat   # the newer features only
    .venv/bin/python bench/run.py --parts hook,worker --no-setup
    .venv/bin/python bench/run.py --snapshot # measure the last commit's cellsync/, not the work tree
    .venv/bin/python bench/run.py --wait-idle 300   # on a shared machine: start each part when quiet

Each part runs in its own process (see bench/common.py); peers run in their own venvs,
which bench/setup_peers.sh creates (run first unless --no-setup). Results go to
bench/results/latest.json and bench/results/latest.md, and a summary table is printed.
docs/benchmarks.md explains what is measured and shows the numbers of a full run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, RESULTS, ROOT, log, machine

PARTS = ["hook", "worker", "peers", "store_growth", "memory", "segments", "dashboard", "chat", "sidecar", "timeline"]
TIMEOUT = {"hook": 1800, "worker": 1800, "peers": 3600, "store_growth": 1800, "memory": 1800,
           "segments": 1800, "dashboard": 1800, "chat": 2400, "sidecar": 900, "timeline": 1200}

TARGETS = {"hook_ms": 2.0, "worker_s": 1.5, "memory_pct": 10.0,
           "impacts_s": 0.5, "snapgrid_s": 2.0, "page_s": 2.0, "click_s": 0.3, "new_cell_s": 1.0, "chat_s": 1.0,
           "sidecar_s": 1.0, "overview_s": 1.5}


def snapshot_source(rev: str) -> tuple[Path, str]:
    """Export REV's cellsync/ (git archive: read-only on the repo) to bench/results/src-SHA/,
    so a run measures committed code even while someone edits the work tree."""
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = RESULTS / f"src-{sha}"
    if not (dest / "cellsync" / "__init__.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", sha, "cellsync"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest, sha


def cpu_busy(seconds: float = 3.0) -> float:
    """Fraction of all cores busy over the next `seconds` (from /proc/stat): other work here."""
    def sample():
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
        idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
        return sum(vals), idle

    t1, i1 = sample()
    time.sleep(seconds)
    t2, i2 = sample()
    return 0.0 if t2 == t1 else 1.0 - (i2 - i1) / (t2 - t1)


def wait_idle(max_wait: float, threshold: float) -> dict:
    """Wait (up to max_wait s) until the machine is quiet: other processes busy < threshold."""
    t0 = time.perf_counter()
    busy = cpu_busy()
    while busy > threshold and time.perf_counter() - t0 < max_wait:
        log(f"   machine busy ({busy:.0%} of {os.cpu_count()} cores); waiting")
        busy = cpu_busy(5.0)
    return {"cpu_busy_at_start": busy, "waited_s": time.perf_counter() - t0}


def run_part(name: str, quick: bool, idle: dict | None = None) -> dict:
    out = RESULTS / f"part-{name}{'-quick' if quick else ''}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(BENCH / f"{name}.py"), "--out", str(out)] + (["--quick"] if quick else [])
    log(f"== {name}")
    quiet = wait_idle(**idle) if idle else {"cpu_busy_at_start": cpu_busy(1.0)}
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, timeout=TIMEOUT[name], cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {TIMEOUT[name]} s", "seconds": time.perf_counter() - t0}
    seconds = time.perf_counter() - t0
    # the 1-minute load average around the part: other work on this 2-core machine shows here
    load = {"loadavg_1m_before": load_before[0], "loadavg_1m_after": os.getloadavg()[0], **quiet}
    if proc.returncode != 0 or not out.exists():
        return {"ok": False, "error": f"exit code {proc.returncode} (see the log above)", "seconds": seconds, **load}
    return {"ok": True, "seconds": seconds, **load, **json.loads(out.read_text())}


# --- formatting ------------------------------------------------------------------------------


def ms(x) -> str:
    return "n/a" if x is None else f"{x * 1000:.2f} ms"


def sec(x) -> str:
    return "n/a" if x is None else f"{x:.3f} s"


def mb(x) -> str:
    return "n/a" if x is None else f"{x / 1e6:,.1f} MB"


def kb(x) -> str:
    return "n/a" if x is None else f"{x / 1e3:,.1f} KB"


def table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


QUICK = False  # set by main(): targets are for the full sizes only


def verdict(value, target) -> str:
    if value is None:
        return "not measured"
    if QUICK:
        return f"(target {target:g} applies to full-size runs only)"
    if value <= target:
        return f"met (target <= {target:g})"
    return f"MISSED by {value - target:.2f} ({value / target:.1f}x the target {target:g})"


def med(d: dict | None):
    return None if not d or not d.get("n") else d["median"]


def report(res: dict) -> tuple[list[str], list[list]]:
    """Markdown lines and the summary rows printed to the terminal."""
    m = res["machine"]
    lines = [
        f"# CellSync benchmark results{' (--quick: small sizes, not representative)' if res['quick'] else ''}",
        "",
        f"Run {res['started']} in {res['seconds']:.0f} s; "
        + (f"cellsync/ as committed at {res['cellsync_source']['snapshot_of']} (`--snapshot`)."
           if res.get("cellsync_source") else
           f"work tree at git {m['git_commit']}"
           f"{' with uncommitted changes in: ' + ', '.join(m.get('cellsync_modified_files') or []) if m['cellsync_dir_modified'] else ''}."),
        "",
        f"Machine: {m['nproc']} cores, {m['cpu']}; python {m['python']}, pandas {m['pandas']}, numpy {m['numpy']}, "
        f"pyarrow {m['pyarrow']}, IPython {m['ipython']}; {m['platform']}.",
        "",
        "```",
        m["free_h"],
        "```",
        "",
        "Other work on the machine: CPU busy just before each part (share of all cores, measured over "
        "1-5 s), and the 1-minute load average before / after it (which includes this benchmark's own "
        "previous part): "
        + ", ".join(f"{k} {v.get('cpu_busy_at_start', 0):.0%}, load {v.get('loadavg_1m_before', 0):.2f} / "
                    f"{v.get('loadavg_1m_after', 0):.2f}" for k, v in res["parts"].items()) + ".",
        "",
    ]
    summary: list[list] = []

    h = res["parts"].get("hook")
    if h:
        lines += ["## 1. Hook blocking time (post_run_cell)", ""]
        if h.get("ok"):
            tri = h["trivial"]["hook_s"]
            lines += [f"{h['n_frames']} frames of {h['rows']:,} x {h['cols']} float64 ({mb(h['tracked_bytes'])}) in the namespace.", ""]
            rows = [
                [f"`x = 1`, frames unchanged ({tri['n']} cells)", ms(tri["median"]), ms(tri["p95"]), ms(tri["max"]),
                 ms(med(h["trivial"]["cell_wall_s"]))],
                [f"in place: `{h['inplace']['code']}` ({h['inplace']['hook_s']['n']}x)", ms(h["inplace"]["hook_s"]["median"]),
                 ms(h["inplace"]["hook_s"]["p95"]), ms(h["inplace"]["hook_s"]["max"]), ms(med(h["inplace"]["cell_wall_s"]))],
                [f"rebinding: `{h['rebind']['code']}`", ms(h["rebind"]["hook_s"]["median"]), ms(h["rebind"]["hook_s"]["p95"]),
                 ms(h["rebind"]["hook_s"]["max"]), ms(med(h["rebind"]["cell_wall_s"]))],
                ["first cell after `%load_ext` (20 new frames)", ms(h["first_cell"]["hook_s"]), "", "",
                 ms(h["first_cell"]["cell_wall_s"])],
            ]
            lines += table(["cell", "hook median", "hook p95", "hook max", "whole cell (median)"], rows)
            lines += [
                "",
                f"The same `x = 1` cell without CellSync: {ms(med(h['cell_wall_without_cellsync_s']))} (median); "
                f"with CellSync but the worker not woken (its submit() a no-op, cell not recorded): "
                f"{ms(med(h.get('trivial_worker_not_woken', {}).get('cell_wall_s')))}, so the rest of the whole-cell time is the "
                f"worker thread taking the GIL for its job while IPython finishes the cell. "
                f"Worker time after the edits (not blocking): in place {sec(med(h['inplace']['worker_job_s']))}, "
                f"rebinding {sec(med(h['rebind']['worker_job_s']))}; persisting the 20 new frames after the first cell: "
                f"{sec(h['first_cell']['worker_flush_s'])}. Problems recorded: {h['problems'] or 'none'}.",
                "",
                f"Target <= 2 ms (median, unchanged frames): {verdict(tri['median'] * 1000, TARGETS['hook_ms'])}.",
                "",
            ]
            summary.append(["hook, unchanged frames (median / p95)", f"{ms(tri['median'])} / {ms(tri['p95'])}",
                            verdict(tri["median"] * 1000, TARGETS["hook_ms"])])
            summary.append(["whole `x = 1` cell: without / with CellSync (median)",
                            f"{ms(med(h['cell_wall_without_cellsync_s']))} / {ms(med(h['trivial']['cell_wall_s']))}", ""])
            summary.append(["hook, in-place edit / rebinding (median)",
                            f"{ms(h['inplace']['hook_s']['median'])} / {ms(h['rebind']['hook_s']['median'])}", ""])
        else:
            lines += [f"FAILED: {h.get('error')}", ""]
            summary.append(["hook", "FAILED", h.get("error")])

    w = res["parts"].get("worker")
    if w:
        lines += ["## 2. Worker cost of one changed frame", ""]
        if w.get("ok"):
            tot = w["profile_diff_persist_s"]["median"]
            lines += [
                f"Old: {w['rows_old']:,} x {w['cols_old']} mixed ({mb(w['frame_bytes_old'])} in memory); change "
                f"(one cell): `{w['change'].replace(chr(10), '; ')}` -> {w['rows_new']:,} x {w['cols_new']}. "
                f"Medians of {w['profile_s']['n']} repeats.",
                "",
            ]
            threads = w.get("profile_threads")
            rows = [
                [f"profile_frame(new){f' (profile_threads={threads})' if threads else ''}", sec(w["profile_s"]["median"]),
                 sec(w["profile_s"]["min"]), sec(w["profile_s"]["max"])],
                ["diff_frames(old, new)", sec(w["diff_s"]["median"]), sec(w["diff_s"]["min"]), sec(w["diff_s"]["max"])],
                [f"persist(new) as a {w['plan']['kind']} ({kb(w['plan']['bytes_written'])} written)",
                 sec(w["persist_s"]["median"]), sec(w["persist_s"]["min"]), sec(w["persist_s"]["max"])],
                ["**profile + diff + persist**", f"**{sec(tot)}**", sec(w["profile_diff_persist_s"]["min"]),
                 sec(w["profile_diff_persist_s"]["max"])],
                *([["(for reference) profile_frame(new) with profile_threads=1", sec(w["profile_1thread_s"]["median"]),
                    sec(w["profile_1thread_s"]["min"]), sec(w["profile_1thread_s"]["max"])]]
                  if w.get("profile_1thread_s") else []),
                [f"(for reference) persist(old) whole, {mb(w['plan']['parent_full_bytes'])}",
                 sec(w["persist_parent_full_s"]["median"]), sec(w["persist_parent_full_s"]["min"]),
                 sec(w["persist_parent_full_s"]["max"])],
            ]
            e = w["end_to_end"]
            rows += [
                ["end to end: the cell in the shell, then `cellsync.flush()`", sec(med(e["flush_after_cell_s"])),
                 sec(e["flush_after_cell_s"]["min"]), sec(e["flush_after_cell_s"]["max"])],
                ["end to end: worker `last_job_seconds`", sec(med(e["worker_last_job_s"])), sec(e["worker_last_job_s"]["min"]),
                 sec(e["worker_last_job_s"]["max"])],
            ]
            lines += table(["step", "median", "min", "max"], rows)
            lines += [
                "",
                f"Columns written by the delta: {w['plan']['columns_written']}; index: {w['plan']['index']}. "
                f"Diff: rows matched by {w['diff_summary']['row_identity']}, {w['diff_summary']['rows_removed']:,} removed, "
                f"added {w['diff_summary']['columns_added']}, values changed {w['diff_summary']['values_changed']}. "
                f"Hook for that cell: {ms(med(e['hook_s']))}. Problems: {e['problems'] or 'none'}.",
                "",
                f"Interference: the cell `{e.get('probe_cell')}` takes {ms(med(e.get('probe_worker_idle_s')))} with the worker "
                f"idle and {ms(med(e.get('probe_worker_busy_s')))} when run right after the changing cell, while the worker "
                f"profiles/diffs/persists it (same process, shared GIL; medians).",
                "",
                f"Target <= 1.5 s for profile + diff + persist: {verdict(tot, TARGETS['worker_s'])}.",
                "",
            ]
            summary.append(["worker: profile / diff / persist (median)",
                            f"{sec(w['profile_s']['median'])} / {sec(w['diff_s']['median'])} / {sec(w['persist_s']['median'])}",
                            ""])
            summary.append(["worker: profile+diff+persist; end to end", f"{sec(tot)}; {sec(med(e['worker_last_job_s']))}",
                            verdict(tot, TARGETS["worker_s"])])
            summary.append(["probe cell, worker idle / busy (median)",
                            f"{ms(med(e.get('probe_worker_idle_s')))} / {ms(med(e.get('probe_worker_busy_s')))}", ""])
        else:
            lines += [f"FAILED: {w.get('error')}", ""]
            summary.append(["worker", "FAILED", w.get("error")])

    p = res["parts"].get("peers")
    if p:
        lines += ["## 3. Peers on the same frame", ""]
        if p.get("ok"):
            lines += [f"Changed frame from a {p['source_rows']:,}-row source; 'small' = its first {p['rows']:,} rows. "
                      f"Medians of {p['repeats']} repeats (CellSync: {p['cellsync']['profile_small_s']['n']} on the small frame).", ""]
            rows = []
            for name, r in p["ratios"].items():
                rows.append([name, sec(r["peer_s"]), sec(r["cellsync_s"]),
                             "n/a" if r["ratio"] is None else f"{r['ratio']:.1f}x", r["basis"]])
            lines += table(["peer / CellSync", "peer", "CellSync", "ratio", "on"], rows)
            lines += ["", "Seconds per 100,000 rows (scaled from the small frame):", ""]
            lines += table(["tool", "s / 100k rows"], [[k, sec(v)] for k, v in p["seconds_per_100k_rows"].items()])
            lines += ["", "Peer environments:", ""]
            prow = []
            for k, v in p["peers"].items():
                env = v.get("env", {})
                prow.append([k, "ok" if v.get("ok") else f"FAILED: {v.get('error')}", v.get("version", ""),
                             f"pandas {env.get('pandas', '?')}", env.get("executable", "")])
            lines += table(["peer", "status", "version", "pandas", "python"], prow)
            cal = [f"pandas {m['pandas']} (project venv) {sec(p['cellsync']['describe_small_s']['median'])}"]
            for key in ("describe_in_venv_bench", "describe_in_venv_ydata"):
                v = p["peers"].get(key, {})
                if v.get("ok"):
                    cal.append(f"pandas {v['env']['pandas']} ({Path(v['env']['executable']).parents[1].name}) "
                               f"{sec(med_list(v['times_s']))}")
            lines += ["", "Calibration, `describe(include=\"all\")` on the same small frame in each venv: " + ", ".join(cal)
                      + ". A peer's ratio moves by about as much as these differ because of its pandas version alone."]
            ap = p["peers"].get("autoprofiler", {})
            if ap.get("ok") and ap.get("per_column_s"):
                slow = sorted(ap["per_column_s"].items(), key=lambda kv: -kv[1])[:3]
                lines += ["", "AutoProfiler's slowest columns (one call each): "
                          + ", ".join(f"{k} {sec(v)}" for k, v in slow) + "."]
            yd = p["peers"].get("ydata", {})
            if yd.get("ok"):
                lines += ["", f"ydata-profiling: description {sec(med_list(yd.get('describe_s')))}, JSON serialisation "
                          f"{sec(med_list(yd.get('to_json_s')))} ({yd.get('json_chars', 0) / 1e6:,.1f} M characters of JSON)."]
            dc = p["peers"].get("datacompy", {})
            if dc.get("ok"):
                lines += ["", f"datacompy found: {dc['summary']}; its text report took a further "
                          f"{sec(med_list(dc.get('report_s')))}."]
            lines += [""]
            for name, r in p["ratios"].items():
                summary.append([name, "n/a" if r["ratio"] is None else f"{r['ratio']:.1f}x", f"{sec(r['peer_s'])} vs {sec(r['cellsync_s'])}"])
        else:
            lines += [f"FAILED: {p.get('error')}", ""]
            summary.append(["peers", "FAILED", p.get("error")])

    s = res["parts"].get("store_growth")
    if s:
        lines += ["## 4. Store growth per cell", ""]
        if s.get("ok"):
            d = s["demo"]
            if d.get("ok"):
                lines += [f"### Demo notebook (`cellsync replay notebooks/demo.ipynb --allow-errors`, {sec(d['replay_s'])})", ""]
                rows = []
                for c in d["cells"]:
                    vs = ", ".join(f"{v['frame']} {v['change']} {v['kind']}{'(' + str(v.get('depth')) + ')' if v['kind'] == 'delta' else ''} "
                                   f"{kb(v['bytes_written'])}" for v in c["versions"])
                    rows.append([c["cell"], f"`{c['code'].replace('|', '/')}`", c["status"], kb(c["bytes_written"]), vs or "-"])
                lines += table(["cell", "code (first line)", "status", "data written", "versions (frame, change, plan(delta depth), bytes)"], rows)
                lines += ["", f"Total: {kb(d['data_bytes_total'])} of column/row files, store folder {kb(d['store_bytes_total'])} "
                          f"(SQLite {kb(d['sqlite_bytes'])}); the input CSV is {kb(d['csv_bytes'])}.", ""]
            else:
                lines += [f"Demo replay FAILED: {d.get('error')}", ""]
            y = s["synthetic"]
            lines += [f"### Synthetic sequence on {y['rows']:,} rows (InteractiveShell)", ""]
            rows = [[st["step"], f"`{st['code']}`", f"{st['rows']:,} x {st['cols']}", mb(st["frame_bytes"]),
                     "/".join(k or "-" for k in st["kinds"]), mb(st["bytes_written"]), mb(st["store_growth_bytes"]),
                     f"{100 * st['bytes_written'] / st['frame_bytes']:.1f}%", sec(st["worker_job_s"])] for st in y["steps"]]
            lines += table(["step", "cell", "shape", "in memory", "plan", "data written", "store growth", "written / in memory",
                            "worker"], rows)
            lines += ["", f"Store folder at the end: {mb(y['store_bytes_total'])}. Problems: {y['problems'] or 'none'}.", ""]
            after_load = [st for st in y["steps"][1:]]
            if after_load:
                summary.append(["store growth per cell after the load (synthetic)",
                                ", ".join(f"{st['step']} {mb(st['bytes_written'])}" for st in after_load),
                                f"load {mb(y['steps'][0]['bytes_written'])}"])
            if d.get("ok"):
                summary.append(["store, demo notebook", f"{kb(d['data_bytes_total'])} data, {kb(d['store_bytes_total'])} folder", ""])
        else:
            lines += [f"FAILED: {s.get('error')}", ""]
            summary.append(["store growth", "FAILED", s.get("error")])

    mm = res["parts"].get("memory")
    if mm:
        lines += ["## 5. Memory held by the tracker", ""]
        if mm.get("ok"):
            lines += [f"{mm['n_frames']} frames of {mm['rows']:,} x 20 float64 tracked and not mutated "
                      f"({mb(mm['tracked_bytes'])} of data).", ""]
            rows = [
                ["RSS before `%load_ext` (clean heap)", mb(mm["before"]), ""],
                ["after the first cell (20 frames recorded as new) + flush", mb(mm["after_first_cell"]),
                 f"{mm['first_cell_overhead_pct']:.1f}%"],
                ["**after 5 more cells + flush (steady)**", mb(mm["steady"]), f"**{mm['overhead_pct']:.1f}%**"],
                ["steady, after malloc_trim(0) + Arrow pool release", mb(mm["steady_after_trim"]),
                 f"{mm['overhead_after_trim_pct']:.1f}%"],
                ["live allocations made since the load (tracemalloc)", mb(mm["traced_live_bytes"]), f"{mm['traced_live_pct']:.2f}%"],
                ["transient peak while the worker persisted the 20 frames", mb(mm["transient_peak_bytes"]),
                 f"{mm['transient_peak_pct']:.1f}%"],
            ]
            lines += table(["reading", "RSS (or growth)", "growth / tracked data"], rows)
            lines += ["", f"Snapshots share the user's buffers: {mm['held']['snapshots_share_data']}. "
                      f"Target <= 10% (steady, raw RSS): {verdict(mm['overhead_pct'], TARGETS['memory_pct'])}.", ""]
            summary.append(["memory overhead (RSS, steady; after trim)",
                            f"{mm['overhead_pct']:.1f}%; {mm['overhead_after_trim_pct']:.1f}%",
                            verdict(mm["overhead_pct"], TARGETS["memory_pct"])])
        else:
            lines += [f"FAILED: {mm.get('error')}", ""]
            summary.append(["memory", "FAILED", mm.get("error")])
    new_lines, new_summary = report_new_parts(res)
    return lines + new_lines, summary + new_summary


def dist(d: dict | None, fmt=None) -> str:
    """'median (p95 x, max y; n)' of a stats() dict."""
    fmt = fmt or sec
    if not d or not d.get("n"):
        return "n/a"
    return f"{fmt(d['median'])} (p95 {fmt(d['p95'])}, max {fmt(d['max'])}; n={d['n']})"


def report_new_parts(res: dict) -> tuple[list[str], list[list]]:
    """Sections 6-8: segments, dashboard, chat."""
    lines: list[str] = []
    summary: list[list] = []
    g = res["parts"].get("segments")
    if g:
        lines += ["## 6. Segments: impacts and SnapGrid", ""]
        if g.get("ok"):
            im = g["impacts"]
            t = im["impacts_s"]
            lines += [
                f"Impacts of {im['n_segments']} suggested segments (`suggest(old, profile, limit=40)`, "
                f"{sec(im['suggest_s'])} to profile and suggest) on the change of part 2 "
                f"({im['rows_old']:,} -> {im['rows_new']:,} rows), `impacts(...)` alone:",
                "",
            ]
            e = im["end_to_end"]
            rows = [
                ["`impacts(40 segments, old, new, diff, match)`", sec(t["median"]), sec(t["p95"]), sec(t["max"])],
                ["  of which the 80 masks (before and after, every segment)", sec(med(im["masks_only_s"])), "", ""],
                [f"  of which the changed-value masks ({', '.join(im['changed_columns'])})", sec(med(im["changed_masks_s"])), "", ""],
                ["worker job end to end, 40 segments (shell, `last_job_seconds`)", sec(med(e["with_40_segments"]["worker_last_job_s"])),
                 "", sec(e["with_40_segments"]["worker_last_job_s"].get("max"))],
                ["worker job end to end, no segments (`max_suggested_segments = 0`)", sec(med(e["without_segments"]["worker_last_job_s"])),
                 "", sec(e["without_segments"]["worker_last_job_s"].get("max"))],
            ]
            lines += table(["step", "median", "p95", "max"], rows)
            kinds = "; ".join(f"{k}: {v['n']} x {ms(v['each_median'])}" for k, v in im["mask_pair_s_by_kind"].items())
            lines += ["", f"Mask pair (before + after) per segment, by kind: {kinds}. Flagged: "
                      + (", ".join(f"`{f['segment']}` ({100 * f['removal_rate']:.1f}% removed vs {100 * f['overall']:.1f}%)"
                                   for f in im["flagged"]) or "none")
                      + f". Extra worker time with segments, end to end: {sec(e['extra_s'])}.", "",
                      f"Target <= 0.5 s for `impacts`: {verdict(t['median'], TARGETS['impacts_s'])}.", ""]
            summary.append(["segments: impacts of 40 segments (median / p95)", f"{sec(t['median'])} / {sec(t['p95'])}",
                            verdict(t["median"], TARGETS["impacts_s"])])
            sg = g["snapgrid"]
            b = sg["store"]
            lines += [
                f"SnapGrid: {b['versions']} versions of a {b['rows_first']:,}-row frame ({b['rows_last']:,} rows at the end; "
                f"plans {b['plans']}; store {mb(b['store_bytes'])}, written in {sec(b['build_s'])}); new segment "
                f"`{sg['segment']}`; from a fresh `open_store(path)` in a new process:",
                "",
            ]
            rows = []
            for tag, label in (("segment_only", "segment only"), ("with_column", f"+ distribution of `{sg['column']}`")):
                x = sg[tag]
                rows.append([label, dist(x["cold_cached_s"]), dist(x["cold_evicted_s"]), dist(x["warm_same_s"]),
                             dist(x["warm_other_s"]), str(x["statuses"]), str(x["last_version_matches_pandas"])])
            lines += table(["query", "cold, files in page cache", "cold, files evicted", "warm, same segment",
                            f"warm, `{sg['other_segment']}`", "cells", "last count = pandas"], rows)
            cold = sg["segment_only"]["cold_cached_s"]["median"]
            cold_ev = sg["segment_only"]["cold_evicted_s"]["median"]
            lines += ["", f"Target <= 2 s (cold, from open_store): {verdict(max(cold, cold_ev), TARGETS['snapgrid_s'])} "
                      f"(the slower of the two cold medians).", ""]
            lc = sg.get("dashboard_click_server_side")
            if lc:
                lines += [f"The dashboard's server side on this 1M-row history (this process): `Dashboard()` "
                          f"{sec(lc['dashboard_init_s'])}; `cell_view()` of a filter cell {dist(lc['cell_view_filter_s'])}, of a "
                          f"column rewrite {dist(lc['cell_view_rewrite_s'])}; `Store.removed_rows()` {sec(med(lc['removed_rows_s']))}; "
                          f"`Store.load_frame()` {sec(med(lc['load_frame_s']))}.", ""]
            summary.append(["SnapGrid, new segment over all versions: cold (cached / evicted); warm",
                            f"{sec(cold)} / {sec(cold_ev)}; {sec(sg['segment_only']['warm_same_s']['median'])}",
                            verdict(max(cold, cold_ev), TARGETS["snapgrid_s"])])
        else:
            lines += [f"FAILED: {g.get('error')}", ""]
            summary.append(["segments", "FAILED", g.get("error")])

    d = res["parts"].get("dashboard")
    if d:
        lines += ["## 7. Dashboard in a browser", ""]
        if d.get("ok"):
            st, sm, ss = d["store"], d["summary"], d["server_side"]
            lines += [
                f"Store: {st['cells']} cells ({st['cells_with_versions']} with frame versions, {st['cells_with_summary']} with a summary), "
                f"{st['versions']} versions of {st['frames']} frames, {st['impacts']:,} segment impacts ({st['flagged']} flagged), "
                f"{mb(st['size_bytes'])}; built by a shell in {sec(d['build']['seconds'])}. `cellsync serve` ready in "
                f"{sec(d['server_start_s'])}. Timeline paginated: {d['paginated']} ({d['rows_per_page']} rows a page).",
                "",
            ]
            rows = [
                ["page load: goto -> overview visible (the landing tab)", dist(sm.get("load_overview_s")),
                 f"first load after server start {sec(sm.get('first_load_overview_s'))}; the server computes it in "
                 f"{sec(med(ss.get('overview_refresh_s')))}"],
                ["then the Timeline tab: click -> first row visible", dist(sm.get("timeline_tab_s")), ""],
                ["page load: goto -> first timeline row visible", dist(sm["load_first_row_s"]),
                 f"first load after server start {sec(sm['first_load_first_row_s'])}; HTML's first byte "
                 f"{sec(med(sm.get('load_html_first_byte_s')))}; load event {sec(med(sm['load_event_s']))}; "
                 f"document message {sec(med(sm.get('load_first_big_ws_message_s')))}"],
                ["click on a row -> 'Cell N' heading visible", dist(sm["click_heading_s"]),
                 f"server's answer after {sec(med(sm.get('click_server_answer_s')))}; frame card {sec(med(sm['click_frame_card_s']))}"],
                ["new cell: commit -> row in the page", dist(sm["new_cell_commit_to_row_s"]),
                 f"header count {sec(med(sm['new_cell_commit_to_header_s']))}; rows needing a scroll/page change: "
                 f"{sm['new_cells_needing_navigation']}; not seen: {sm['new_cells_not_seen']}"],
            ]
            lines += table(["measure", "median (p95, max; n)", "notes"], rows)
            jp = d.get("click_js_profile", {})
            lines += [
                "",
                f"Server-side work (this process, same store): `Dashboard(store=...)` {sec(med(ss['dashboard_init_s']))}, "
                f"`Store.timeline()` {sec(med(ss['store_timeline_s']))}, `Store.versions()` with profiles "
                f"{sec(med(ss['store_versions_all_profiles_s']))} (without {sec(med(ss['store_versions_no_profiles_s']))}), "
                f"`cell_view()` {sec(med(ss['cell_view_s']))} (max {sec(ss['cell_view_s'].get('max'))}), `_refresh()` "
                f"{sec(med(ss['refresh_s']))}. Browser main thread during one click (CDP sampling profiler): busy "
                f"{jp.get('busy_ms', 0):.0f} ms, idle {jp.get('idle_ms', 0):.0f} ms; "
                + ", ".join(f"{k} {v:.0f} ms" for k, v in list(jp.get("by_source_ms", {}).items())[:8]) + ".",
                "",
                f"Blocked non-local requests: {len(d.get('blocked_requests', []))}; page errors: {len(d.get('page_errors', []))}.",
                "",
                f"Targets: page <= 2 s: {verdict(med(sm['load_first_row_s']), TARGETS['page_s'])}; click <= 0.3 s: "
                f"{verdict(med(sm['click_heading_s']), TARGETS['click_s'])}; new cell <= 1 s: "
                f"{verdict(med(sm['new_cell_commit_to_row_s']), TARGETS['new_cell_s'])} (p95: "
                f"{verdict((sm['new_cell_commit_to_row_s'] or {}).get('p95'), TARGETS['new_cell_s'])}).",
                "",
            ]
            if sm.get("load_overview_s"):
                summary.append(["dashboard: page load -> overview visible (median / p95)",
                                f"{sec(med(sm['load_overview_s']))} / {sec(sm['load_overview_s'].get('p95'))}",
                                verdict(med(sm["load_overview_s"]), TARGETS["overview_s"])])
            summary.append(["dashboard: page load -> first row (median / p95)",
                            f"{sec(med(sm['load_first_row_s']))} / {sec(sm['load_first_row_s'].get('p95'))}",
                            verdict(med(sm["load_first_row_s"]), TARGETS["page_s"])])
            summary.append(["dashboard: click -> cell view (median / p95)",
                            f"{sec(med(sm['click_heading_s']))} / {sec(sm['click_heading_s'].get('p95'))}",
                            verdict(med(sm["click_heading_s"]), TARGETS["click_s"])])
            summary.append(["dashboard: new cell, commit -> row (median / p95)",
                            f"{sec(med(sm['new_cell_commit_to_row_s']))} / {sec(sm['new_cell_commit_to_row_s'].get('p95'))}",
                            verdict(med(sm["new_cell_commit_to_row_s"]), TARGETS["new_cell_s"])])
        else:
            lines += [f"FAILED: {d.get('error')}", ""]
            summary.append(["dashboard", "FAILED", d.get("error")])

    c = res["parts"].get("chat")
    if c:
        lines += ["## 8. Chat", ""]
        if c.get("ok"):
            sm = c["summary"]
            lines += [f"Store: {c['sizes']['cells']} cells, {c['sizes']['frames']} frames of {c['sizes']['rows']:,} rows; "
                      f"three browser sessions on cell {c['clicked_cell']['execution_count']}.", ""]
            rows = [
                ["browser -> the two other sessions", dist(sm["browser_to_both_others_s"]),
                 f"each receiver {sec(med(sm['browser_to_each_other_s']))}; the sender sees it after "
                 f"{sec(med(sm['browser_sender_sees_s']))} (server's answer {sec(med(sm.get('sender_server_answer_s')))})"],
                ["notebook `cellsync.reply(...)` -> all three sessions", dist(sm["notebook_to_all_three_s"]),
                 f"the call itself {sec(med(sm['notebook_reply_call_s']))}"],
                ["notebook -> one session (the other two closed)", dist(sm.get("notebook_to_one_browser_s")), ""],
            ]
            lines += table(["round trip", "median (p95, max; n)", "notes"], rows)
            rp = c["round_trips"].get("receiver_js_profile", {})
            lines += ["", f"Receiving page's main thread during one reply (one session open): busy {rp.get('busy_ms', 0):.0f} ms, "
                      f"idle {rp.get('idle_ms', 0):.0f} ms; " + ", ".join(f"{k} {v:.0f} ms" for k, v in list(rp.get("by_source_ms", {}).items())[:8]) + ".", ""]
            rows = []
            for name, v in c["messages_10k"].items():
                bb = v["browser"]
                rows.append([name, f"{v.get('messages', 0):,}", str(v.get("threads", 0)), f"{v.get('on_clicked_cell', 0):,}",
                             dist(bb["load_first_row_s"]), dist(bb["click_heading_s"]),
                             sec(med(v["server_side"]["dashboard_init_s"])), sec(med(v["server_side"]["cell_view_s"])),
                             sec(v["server_side"].get("poll_after_new_message_s")), "; ".join(bb["errors"]) or ""])
            lines += table(["messages stored", "messages", "threads", "on the clicked cell", "page load", "click -> heading",
                            "`Dashboard()`", "`cell_view()`", "poll after a new message", "errors"], rows)
            p95 = max(sm["browser_to_both_others_s"]["p95"], sm["notebook_to_all_three_s"]["p95"])
            lines += ["", f"Target p95 <= 1 s: {verdict(p95, TARGETS['chat_s'])} (the slower of the two p95s).", ""]
            summary.append(["chat: browser -> 2 sessions; notebook -> 3 sessions (p95)",
                            f"{sec(sm['browser_to_both_others_s']['p95'])}; {sec(sm['notebook_to_all_three_s']['p95'])}",
                            verdict(p95, TARGETS["chat_s"])])
            v0, vs = c["messages_10k"].get("none"), c["messages_10k"].get("spread")
            if v0 and vs:
                summary.append(["chat: page load / click, no messages vs spread messages (median)",
                                f"{sec(med(v0['browser']['load_first_row_s']))} / {sec(med(v0['browser']['click_heading_s']))} vs "
                                f"{sec(med(vs['browser']['load_first_row_s']))} / {sec(med(vs['browser']['click_heading_s']))}", ""])
        else:
            lines += [f"FAILED: {c.get('error')}", ""]
            summary.append(["chat", "FAILED", c.get("error")])

    sc = res["parts"].get("sidecar")
    if sc:
        lines += ["## 9. The sidecar in JupyterLab", ""]
        if sc.get("ok"):
            sm = sc["summary"]
            lines += [f"{sc['sizes']['cells']} cells on a {sc['sizes']['rows']:,}-row frame, run one at a time (Shift+Enter) "
                      f"in a real JupyterLab; `%load_ext cellsync` until the sidecar shows its timeline: "
                      f"{sec(sc['load_to_sidecar_rows_s'])}.", ""]
            lines += table(["from the cell's execution count appearing to its row in the sidecar", "median (p95, max; n)"],
                           [["a filter or a column rewrite", dist(sm["finished_to_sidecar_s"])],
                            ["the cell that builds the frame", sec(sm["build_cell_finished_to_sidecar_s"])]])
            lines += ["", f"Blocked requests (not to 127.0.0.1): {len(sc.get('blocked_requests', []))}; "
                      f"page errors: {len(sc.get('page_errors', []))}.", ""]
            summary.append(["sidecar: cell finished -> its row in the sidecar (median / p95)",
                            f"{sec(med(sm['finished_to_sidecar_s']))} / {sec(sm['finished_to_sidecar_s'].get('p95'))}",
                            verdict(sm["finished_to_sidecar_s"].get("p95"), TARGETS["sidecar_s"])])
        else:
            lines += [f"FAILED: {sc.get('error')}", ""]
            summary.append(["sidecar", "FAILED", sc.get("error")])
    lines, summary = report_timeline(res, lines, summary)
    return lines, summary


def report_timeline(res: dict, lines: list, summary: list) -> tuple[list, list]:
    """Part 10: a timeline of 1,000 cells (bench/timeline.py)."""
    t = res["parts"].get("timeline")
    if not t:
        return lines, summary
    lines += ["## 10. A timeline of 1,000 cells", ""]
    if not t.get("ok"):
        lines += [f"FAILED: {t.get('error')}", ""]
        summary.append(["timeline", "FAILED", t.get("error")])
        return lines, summary
    lines += [f"{t['cells']:,} cells in {t['sections']} sections, built by a shell in {sec(t['build_s'])}; "
              f"`Dashboard()` {sec(t['dashboard_s'].get('median'))}; rows in the page after load: "
              f"{t['rows_drawn'].get('median')}; requests leaving 127.0.0.1: {len(t.get('external_requests') or [])}.", ""]
    rows = [["page load: goto -> newest row visible", dist(t["load_s"]), ""],
            ["scroll to the top -> first cell drawn", dist(t["scroll_top_s"]), ""],
            ["scroll to the middle -> its cells drawn", dist(t["scroll_middle_s"]), ""],
            ["search typed -> count of matching cells shown", dist(t["search_s"]), ""]]
    lines += table(["measure", "median (p95, max; n)", "notes"], rows) + [""]
    summary.append(["timeline 1,000 cells: page load", sec(t["load_s"].get("median")), ""])
    return lines, summary


def med_list(vals):
    if not vals:
        return None
    v = sorted(vals)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test, under a minute)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--no-setup", action="store_true", help="do not run bench/setup_peers.sh first")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each part, wait up to SECONDS until other processes use < 25%% of the CPUs")
    ap.add_argument("--snapshot", nargs="?", const="HEAD", default=None, metavar="REV",
                    help="benchmark cellsync/ as committed at REV (default HEAD) instead of the work tree")
    args = ap.parse_args()
    global QUICK
    QUICK = args.quick
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts: {sorted(unknown)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    source = None
    if args.snapshot:
        src, sha = snapshot_source(args.snapshot)
        # every part is a child process: PYTHONPATH puts the snapshot before the editable install
        os.environ["PYTHONPATH"] = str(src) + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
        source = {"snapshot_of": sha, "path": str(src)}
        log(f"== measuring cellsync/ as committed at {sha} ({src})")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.perf_counter()
    setup = None
    if "peers" in parts and not args.no_setup:
        log("== setup_peers.sh")
        proc = subprocess.run(["bash", str(BENCH / "setup_peers.sh")], capture_output=True, text=True, cwd=str(ROOT))
        setup = {"exit": proc.returncode, "output": proc.stdout.strip().splitlines()}
        for line in setup["output"]:
            log(f"   {line}")
    res = {"quick": args.quick, "started": started, "machine": machine(), "cellsync_source": source,
           "setup_peers": setup, "parts": {}}
    idle = {"max_wait": args.wait_idle, "threshold": 0.25} if args.wait_idle else None
    for name in parts:
        res["parts"][name] = run_part(name, args.quick, idle)
    res["seconds"] = time.perf_counter() - t0
    lines, summary = report(res)
    # latest.* is always the last run; latest-full.* / latest-quick.* keep the last of each kind
    # so a --quick smoke test does not hide the numbers of the last full run
    text_json, text_md = json.dumps(res, indent=2, default=str), "\n".join(lines) + "\n"
    for stem in ("latest", "latest-quick" if args.quick else "latest-full"):
        (RESULTS / f"{stem}.json").write_text(text_json)
        (RESULTS / f"{stem}.md").write_text(text_md)
    width = max(len(r[0]) for r in summary) if summary else 10
    print()
    for r in summary:
        print(f"{r[0]:<{width}}  {r[1]}   {r[2] or ''}")
    print(f"\nwrote {RESULTS / 'latest.json'} and {RESULTS / 'latest.md'} ({res['seconds']:.0f} s)")
    return 0 if all(p.get("ok") for p in res["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())

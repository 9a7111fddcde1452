"""Part 4: how much the store grows per cell.

(a) The bundled demo notebook, replayed on a real kernel with
    `cellsync replay notebooks/demo.ipynb --store DIR --allow-errors`; per cell, the bytes
    of version data written (`version.data.bytes_written`, summed over the cell's versions,
    counted once per object: an alias shares its plan) and the plan kinds.
(b) A synthetic sequence on an N-row mixed frame through a real InteractiveShell: load,
    filter ~10%, sort, add a column, dropna. Per cell: the data bytes written, the growth of
    the whole store folder (SQLite included), and the frame's in-memory size.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shell as sh
from common import ROOT, log, part_main
from data import frame_bytes, mixed_frame

SEQUENCE = [
    ("load", "df = _make()"),
    ("filter 10%", "df = df[df['f1'] > 0.1]"),
    ("sort", "df = df.sort_values('f2')"),
    ("add a column", "df['z'] = df['f3'] * 2"),
    ("dropna", "df = df.dropna()"),
]


def _cell_rows(store) -> list[dict]:
    by_cell: dict[int, list] = {}
    for v in store.versions():
        by_cell.setdefault(v.cell, []).append(v)
    rows = []
    for c in store.cells():
        versions = by_cell.get(c.id, [])
        seen_plans, written = set(), 0
        for v in versions:
            if v.data is not None:
                key = v.data.to_json()
                if key not in seen_plans:
                    seen_plans.add(key)
                    written += v.data.bytes_written
        rows.append({
            "cell": c.id,
            "code": c.code.strip().splitlines()[0][:70] if c.code.strip() else "",
            "status": c.status,
            "bytes_written": written,
            "versions": [
                {"frame": v.frame, "change": v.change, "rows": v.n_rows, "cols": v.n_cols,
                 "kind": v.data.kind if v.data else None,
                 "depth": v.data.depth if v.data else None,
                 "bytes_written": v.data.bytes_written if v.data else 0}
                for v in versions
            ],
        })
    return rows


def demo(tmp: Path) -> dict:
    import cellsync
    from cellsync.store import store_size

    store_dir = tmp / "demo-store"
    nb = ROOT / "notebooks" / "demo.ipynb"
    exe = Path(sys.executable).parent / "cellsync"
    log("store: replaying the demo notebook")
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "replay", str(nb), "--store", str(store_dir), "--allow-errors"],
                          capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    replay_s = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"ok": False, "error": (proc.stderr or proc.stdout).strip().splitlines()[-1:], "replay_s": replay_s}
    store = cellsync.open_store(store_dir)
    try:
        cells = _cell_rows(store)
        db = sum(p.stat().st_size for p in store_dir.glob("cellsync.db*"))
        out = {
            "ok": True,
            "replay_s": replay_s,
            "replay_output": proc.stdout.strip().splitlines(),
            "cells": cells,
            "data_bytes_total": sum(c["bytes_written"] for c in cells),
            "store_bytes_total": store_size(store_dir),
            "sqlite_bytes": db,
            "csv_bytes": (ROOT / "notebooks" / "data" / "patients.csv").stat().st_size,
            "problems": store.problems(),
        }
    finally:
        store.close()
    return out


def synthetic(tmp: Path, n_rows: int) -> dict:
    import cellsync
    from cellsync.store import store_size

    store_dir = tmp / "seq-store"
    ip = sh.make_shell(store_dir)
    source = mixed_frame(n_rows)
    ip.user_ns["_make"] = lambda: source.copy()
    sh.load(ip)
    tr = sh.tracker()
    sh.run(ip, "x = 0")  # nothing tracked yet: opens the store
    sh.flush()
    rows = []
    for label, code in SEQUENCE:
        log(f"store: synthetic {label}")
        before = store_size(store_dir)
        sh.run(ip, code)
        hook = tr.hook_seconds_last
        sh.flush()
        job = tr.worker.last_job_seconds
        reader = cellsync.open_store(store_dir)
        try:
            cell = _cell_rows(reader)[-1]
        finally:
            reader.close()
        df = ip.user_ns["df"]
        rows.append({
            "step": label,
            "code": code,
            "rows": len(df),
            "cols": df.shape[1],
            "frame_bytes": frame_bytes(df),
            "bytes_written": cell["bytes_written"],
            "store_growth_bytes": store_size(store_dir) - before,
            "kinds": [v["kind"] for v in cell["versions"]],
            "hook_s": hook,
            "worker_job_s": job,
        })
    problems = sh.problems()
    ip.extension_manager.unload_extension("cellsync")
    return {"rows": n_rows, "steps": rows, "store_bytes_total": store_size(store_dir), "problems": problems}


def run(quick: bool = False) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cellsync-bench-store-"))
    try:
        return {"demo": demo(tmp), "synthetic": synthetic(tmp, 50_000 if quick else 1_000_000)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

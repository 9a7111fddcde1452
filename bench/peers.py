"""Part 3: peers beside CellSync, on the same changed frame, in the same run.

CellSync's side runs here (the project venv); each peer runs in the venv that can hold it
(bench/setup_peers.sh explains why) through bench/peers_worker.py, on the same seeded data:
  describe     pandas `df.describe(include="all")`           vs cellsync profile_frame
  autoprofiler digautoprofiler's per-column profiling calls  vs cellsync profile_frame
  ydata        ydata-profiling ProfileReport(minimal).to_json vs cellsync profile_frame
  datacompy    datacompy.PandasCompare(old, new, join on id)  vs cellsync diff_frames
Ratios are peer seconds / CellSync seconds on the same rows (medians). pandas' describe also
runs in each peer venv, to show how much of a gap is the pandas version rather than the peer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, RESULTS, ROOT, log, part_main, repeat, stats
from data import changed, mixed_frame

VENV_BENCH = ROOT / ".venv-bench"
VENV_YDATA = ROOT / ".venv-ydata"


def peer(venv: Path, task: str, *args: str, timeout: float = 1800) -> dict:
    """Run bench/peers_worker.py TASK in VENV; return its JSON (or why it could not run)."""
    python = venv / "bin" / "python"
    if not python.exists():
        setup_log = RESULTS / f"setup-{venv.name}.log"
        last = _last_error_line(setup_log)
        return {"ok": False, "error": f"{venv.name} does not exist (run bench/setup_peers.sh)"
                + (f"; setup log says: {last}" if last else "")}
    cmd = [str(python), str(BENCH / "peers_worker.py"), task, *args]
    log(f"peers: {venv.name}: {task} {' '.join(args)}")
    env = dict(os.environ, PYTHONWARNINGS="ignore", TQDM_DISABLE="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()
    return {"ok": False, "error": f"exit {proc.returncode}: {tail[-1] if tail else '(no output)'}"}


def _last_error_line(path: Path) -> str | None:
    if not path.exists():
        return None
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if "ERROR" in ln or "Error" in ln]
    return lines[-1].strip() if lines else None


def _median(d: dict, key: str = "times_s"):
    vals = d.get(key) if d.get("ok") else None
    return stats(vals)["median"] if vals else None


def cellsync_side(source: int, rows: int, reps: int) -> dict:
    """CellSync's profile and diff (and pandas' describe) on the frames the peers get."""
    from cellsync.config import Settings
    from cellsync.diff import diff_frames
    from cellsync.profile import profile_frame

    cfg = Settings()
    old = mixed_frame(source)
    new = changed(old)
    small = new.iloc[:rows]
    out = {}
    if getattr(cfg, "profile_threads", 1) != 1:  # peers use one core: show CellSync on one too
        one = Settings(profile_threads=1)
        out["profile_small_1thread_s"] = stats(repeat(lambda: profile_frame(small, one), reps + 2))
        out["profile_threads"] = cfg.profile_threads
    return {
        **out,
        "profile_small_s": stats(repeat(lambda: profile_frame(small, cfg), reps + 2)),
        "profile_full_s": stats(repeat(lambda: profile_frame(new, cfg), reps)),
        "diff_full_s": stats(repeat(lambda: diff_frames(old, new), reps)),
        "describe_small_s": stats(repeat(lambda: small.describe(include="all"), reps)),
        "describe_full_s": stats(repeat(lambda: new.describe(include="all"), reps)),
    }


def run(quick: bool = False) -> dict:
    source = 50_000 if quick else 1_000_000
    rows = 10_000 if quick else 100_000
    reps = 1 if quick else 3
    log(f"peers: CellSync side on {source:,} and the first {rows:,} rows of the changed frame")
    cs = cellsync_side(source, rows, reps)
    common_args = ["--source-rows", str(source), "--repeats", str(reps)]
    peers = {
        "autoprofiler": peer(VENV_BENCH, "autoprofiler", "--rows", str(rows), *common_args,
                             *([] if quick else ["--per-column"])),
        "ydata": peer(VENV_YDATA, "ydata", "--rows", str(rows), *common_args),
        "datacompy": peer(VENV_BENCH, "datacompy", *common_args),
        "describe_in_venv_bench": peer(VENV_BENCH, "describe", "--rows", str(rows), *common_args),
        "describe_in_venv_ydata": peer(VENV_YDATA, "describe", "--rows", str(rows), *common_args),
    }
    per100k = 100_000 / rows
    cs_small = cs["profile_small_s"]["median"]
    ratios = {}

    def ratio(name, peer_s, cs_s, basis):
        ratios[name] = {
            "peer_s": peer_s,
            "cellsync_s": cs_s,
            "ratio": (peer_s / cs_s) if peer_s is not None and cs_s else None,
            "basis": basis,
        }

    ratio("describe (all rows) / profile_frame", cs["describe_full_s"]["median"], cs["profile_full_s"]["median"],
          f"{source:,}-row source, changed frame, same process")
    ratio(f"describe ({rows:,} rows) / profile_frame", cs["describe_small_s"]["median"], cs_small, f"first {rows:,} rows")
    ratio("AutoProfiler / profile_frame", _median(peers["autoprofiler"]), cs_small, f"first {rows:,} rows")
    ratio("ydata-profiling minimal to_json / profile_frame", _median(peers["ydata"]), cs_small, f"first {rows:,} rows")
    ratio("ydata-profiling description only / profile_frame", _median(peers["ydata"], "describe_s"), cs_small,
          f"first {rows:,} rows; get_description() without the JSON serialisation")
    ratio("datacompy PandasCompare / diff_frames", _median(peers["datacompy"], "compare_s"), cs["diff_full_s"]["median"],
          f"{source:,}-row old vs changed frame")
    cs_one = cs.get("profile_small_1thread_s", {}).get("median")
    if cs_one:
        ratio("AutoProfiler / profile_frame on 1 thread", _median(peers["autoprofiler"]), cs_one,
              f"first {rows:,} rows, CellSync with profile_threads=1")
        ratio("ydata-profiling minimal to_json / profile_frame on 1 thread", _median(peers["ydata"]), cs_one,
              f"first {rows:,} rows, CellSync with profile_threads=1")
        ratio(f"describe ({rows:,} rows) / profile_frame on 1 thread", cs["describe_small_s"]["median"], cs_one,
              f"first {rows:,} rows, CellSync with profile_threads=1")
    per_100k = {
        "cellsync profile_frame": cs_small * per100k,
        **({"cellsync profile_frame, 1 thread": cs_one * per100k} if cs_one else {}),
        "pandas describe": cs["describe_small_s"]["median"] * per100k,
        "AutoProfiler": (_median(peers["autoprofiler"]) or 0) * per100k or None,
        "ydata-profiling": (_median(peers["ydata"]) or 0) * per100k or None,
    }
    return {"source_rows": source, "rows": rows, "repeats": reps, "cellsync": cs, "peers": peers,
            "ratios": ratios, "seconds_per_100k_rows": per_100k}


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

"""Corpus audit (issue 11): replay real notebooks with CellSync and dump, per cell, what an
expert would read next to what the code did, so a person can judge every sentence.

    python bench/corpus.py NOTEBOOK_DIR OUT_DIR [--glob 'ch*.ipynb'] [--only ch05,ch06]
                           [--baseline] [--timeout 3600] [--cell-timeout 600] [--read-only]

For each notebook (sorted by name) it

1. replays it with tracking on into OUT/<nb>.store, the way `cellsync replay NB --store
   OUT/<nb>.store --allow-errors` does (same function, `cellsync.replay.replay_notebook`, run in
   a child process with a whole-notebook timeout) and keeps the executed notebook as
   OUT/<nb>.executed.ipynb, whose outputs the CLI throws away;
2. with --baseline, runs the same notebook once more with plain nbclient and no CellSync
   (OUT/<nb>.baseline.ipynb), to see which warnings or errors differ per cell;
3. reads the store (`cellsync.open_store`, `timeline()`, `versions()`, `problems()`) and writes
   OUT/<nb>.jsonl, one line per recorded cell: notebook, execution count, code, summary (and
   its sentences), details, caveats, per frame the recorded change, parent and diff (rows,
   row identity, columns added/removed/renamed, dtype changes, values changed, index changed),
   metrics, flagged segments, and from the executed notebook the outputs that matter here:
   tracebacks that are not the cell's own error, lines naming cellsync, warnings, and (with
   --baseline) warnings missing or extra against the run without CellSync;
4. writes OUT/summary.json: per notebook the replay outcome, cells, frames, sentences,
   problem rows of the store and the output counts above.

Notebooks run in their own folder (relative paths to data resolve there) on the `python3`
kernel of the interpreter running this script: run it with the checkout's venv
(`.venv/bin/python bench/corpus.py ...`) so the kernel imports that checkout. The corpus
notebooks' own imports (matplotlib, statsmodels, ...) must be installed in that venv; a missing
one shows up as the notebook's own ModuleNotFoundError, not as a CellSync problem.
--read-only skips running and only re-reads existing stores and executed notebooks.
Nothing of the corpus is written anywhere but OUT (and whatever the notebooks write in their
own folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

WARNING_RE = re.compile(r"\b([A-Z]\w*Warning)\b:?\s*(.*)")
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'`(])|(?<=the error:)\s+")


# ---------------------------------------------------------------- running (child processes)

def _child_replay(nb: str, store: str, executed: str, cell_timeout: int) -> None:
    import nbformat

    from cellsync.errors import CellsyncError
    from cellsync.replay import replay_notebook

    out = {"cells_run": None, "errors": [], "fatal": None}
    try:
        res = replay_notebook(nb, store, allow_errors=True, timeout=cell_timeout)
        out.update(cells_run=res.cells_run, errors=list(res.errors))
        nbformat.write(res.executed, executed)
    except CellsyncError as exc:
        out["fatal"] = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # nbclient timeouts, dead kernels
        out["fatal"] = f"{type(exc).__name__}: {exc}"
    print("CORPUS-RESULT " + json.dumps(out))


def _child_baseline(nb: str, executed: str, cell_timeout: int) -> None:
    import nbformat
    from nbclient import NotebookClient

    path = Path(nb).resolve()
    book = nbformat.read(path, as_version=4)
    out = {"fatal": None}
    try:
        NotebookClient(book, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as exc:
        out["fatal"] = f"{type(exc).__name__}: {exc}"
    nbformat.write(book, executed)
    print("CORPUS-RESULT " + json.dumps(out))


def _run_child(args: list[str], timeout: float, log: Path) -> dict:
    """Run this script in a child process (own process group, killed whole on timeout)."""
    t0 = time.time()
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=fh,
                                text=True, start_new_session=True)
        try:
            stdout, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"fatal": f"notebook timeout after {timeout:.0f} s", "seconds": time.time() - t0}
    result = {"fatal": f"child exited {proc.returncode} without a result (see {log.name})"}
    for line in stdout.splitlines():
        if line.startswith("CORPUS-RESULT "):
            result = json.loads(line[len("CORPUS-RESULT "):])
    result["seconds"] = round(time.time() - t0, 1)
    result["exit_code"] = proc.returncode
    return result


# ---------------------------------------------------------------- reading outputs

def _text(out: dict) -> str:
    if out.get("output_type") == "stream":
        return out.get("text", "")
    if out.get("output_type") == "error":
        return "\n".join(out.get("traceback", []))
    data = out.get("data", {})
    return data.get("text/plain", "") if isinstance(data.get("text/plain", ""), str) else "".join(data["text/plain"])


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _warnings(outputs: list[dict]) -> list[str]:
    """`Category: message` of every warning printed to stderr (path and line number dropped)."""
    found = []
    for out in outputs:
        if out.get("output_type") != "stream" or out.get("name") != "stderr":
            continue
        for line in ANSI.sub("", out.get("text", "")).splitlines():
            m = WARNING_RE.search(line)
            if m:
                found.append(f"{m.group(1)}: {m.group(2).strip()[:200]}")
    return found


def _clip(text: str, head: int = 700, tail: int = 900) -> str:
    return text if len(text) <= head + tail else text[:head] + "\n[...]\n" + text[-tail:]


def cell_outputs(cell: dict) -> dict:
    outputs = cell.get("outputs", [])
    own_error = None
    tracebacks, cellsync_lines = [], []
    for out in outputs:
        text = ANSI.sub("", _text(out))
        if out.get("output_type") == "error":
            own_error = f"{out.get('ename')}: {out.get('evalue')}"
            # the user's own error; it is CellSync's if a frame of the traceback is in cellsync/
            if re.search(r"[/\\]cellsync[/\\]", text):
                tracebacks.append("error raised inside cellsync: " + _clip(text))
            continue
        if "Traceback" in text:
            tracebacks.append(_clip(text))
        for line in text.splitlines():
            if "cellsync" in line.lower():
                cellsync_lines.append(line[:300])
    return {"error": own_error, "tracebacks": tracebacks, "cellsync_lines": cellsync_lines,
            "warnings": _warnings(outputs)}


def _code_cells(path: Path) -> list[dict]:
    """The code cells replay runs (non-empty source), in order: the i-th recorded cell of a
    replay is the i-th of these (notebooks older than nbformat 4.5 have no cell ids)."""
    if not path.is_file():
        return []
    import nbformat

    book = nbformat.read(path, as_version=4)
    return [c for c in book.cells if c.cell_type == "code" and c.source.strip()]


# ---------------------------------------------------------------- reading the store

def sentences(text: str | None, error: dict | None = None) -> list[str]:
    """The summary cut into sentences; the error sentence (whose message may hold full stops
    of its own) stays whole."""
    if not text:
        return []
    text = text.strip()
    first = []
    if error:
        lead = f"This cell stopped with an error ({error.get('type')}: {error.get('message')})."
        if text.startswith(lead):
            first, text = [lead], text[len(lead):].strip()
    return first + [s.strip() for s in SENTENCE_RE.split(text) if s.strip()]


def frame_record(f: dict, version) -> dict:
    d = version.diff if version is not None else None
    keys = ("name", "change", "parent", "rows_before", "rows_after", "rows_removed", "rows_added",
            "row_identity", "reordered", "columns_added", "columns_removed", "columns_renamed",
            "dtype_changes", "values_changed", "n_cols", "note")
    rec = {k: f.get(k) for k in keys}
    rec["index_changed"] = bool(d.index_changed) if d is not None else None
    return rec


def read_store(store_path: Path, nb_name: str, executed: list[dict], baseline: list[dict] | None) -> tuple[list[dict], dict]:
    import cellsync

    lines = []
    with cellsync.open_store(store_path) as st:
        versions = {v.id: v for v in st.versions(profiles=False)}
        timeline = [e.to_dict() for e in st.timeline()]  # written out as JSON
        problems = st.problems()
        explanations = st.explanations()
    # one replay session per store: its cells in run order are the notebook's code cells in order
    for pos, c in enumerate(timeline):
        ex = explanations.get(c["id"]) or {}
        cell = executed[pos] if pos < len(executed) else None
        outs = cell_outputs(cell) if cell is not None else None
        rec = {
            "notebook": nb_name,
            "store_cell": c["id"],
            "position": pos,
            "cell_id": c["cell_id"],
            "execution_count": c["execution_count"],
            "code": c["code"],
            "status": c["status"],
            "error": c["error"],
            "summary": c.get("summary"),
            "sentences": sentences(c.get("summary"), c["error"]),
            "details": ex.get("details"),
            "caveats": ex.get("caveats"),
            "frames": [frame_record(f, versions.get(f["version"])) for f in c["frames"]],
            "metrics": c.get("metrics", []),
            "flagged_segments": [s for s in c.get("segments", []) if s.get("flagged")],
            "segments_touched": [s for s in c.get("segments", []) if any(s.get(k) for k in ("rows_removed", "rows_added", "rows_left", "rows_entered"))],
            "outputs": outs,
            # sanity check of the position mapping (code is redacted in the store, so rarely False)
            "source_matches": cell is not None and cell.source.strip() == (c["code"] or "").strip(),
        }
        if baseline is not None:
            base = baseline[pos] if pos < len(baseline) else None
            if base is not None and outs is not None:
                b = cell_outputs(base)
                rec["baseline"] = {
                    "error": b["error"],
                    "error_differs": b["error"] != outs["error"],
                    "warnings_missing": [w for w in b["warnings"] if w not in outs["warnings"]],
                    "warnings_extra": [w for w in outs["warnings"] if w not in b["warnings"]],
                }
        lines.append(rec)
    # cells that ran but were not recorded (or whose outputs carry something of CellSync's)
    unrecorded = [cell for cell in executed[len(timeline):] if cell.get("execution_count") is not None]
    stats = {
        "cells_recorded": len(timeline),
        "cells_executed": sum(1 for cell in executed if cell.get("execution_count") is not None),
        "cells_unrecorded": len(unrecorded),
        "cells_source_mismatch": sum(1 for r in lines if not r["source_matches"]),
        "cells_error": sum(1 for c in timeline if c["status"] == "error"),
        "frames_recorded": sum(len(c["frames"]) for c in timeline),
        "versions": len(versions),
        "sentences": sum(len(r["sentences"]) for r in lines),
        "problems": problems,
        "output_tracebacks": sum(len(r["outputs"]["tracebacks"]) for r in lines if r["outputs"]),
        "output_cellsync_lines": sum(len(r["outputs"]["cellsync_lines"]) for r in lines if r["outputs"]),
        "cells_with_warnings": sum(1 for r in lines if r["outputs"] and r["outputs"]["warnings"]),
    }
    # outputs of unrecorded cells can carry CellSync's tracebacks too
    for cell in unrecorded:
        o = cell_outputs(cell)
        stats["output_tracebacks"] += len(o["tracebacks"])
        stats["output_cellsync_lines"] += len(o["cellsync_lines"])
    if baseline is not None:
        stats["cells_warning_missing"] = sum(1 for r in lines if r.get("baseline", {}).get("warnings_missing"))
        stats["cells_warning_extra"] = sum(1 for r in lines if r.get("baseline", {}).get("warnings_extra"))
        stats["cells_error_differs"] = sum(1 for r in lines if r.get("baseline", {}).get("error_differs"))
    return lines, stats


# ---------------------------------------------------------------- main

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_replay":
        return _child_replay(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    if len(sys.argv) > 1 and sys.argv[1] == "--_baseline":
        return _child_baseline(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", type=Path, help="folder of notebooks")
    ap.add_argument("out", type=Path, help="output folder (stores, executed notebooks, JSONL)")
    ap.add_argument("--glob", default="*.ipynb")
    ap.add_argument("--only", default="", help="comma-separated notebook stems to run (default: all)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one notebook may take")
    ap.add_argument("--cell-timeout", type=int, default=600, help="seconds one cell may take")
    ap.add_argument("--baseline", action="store_true", help="also run each notebook without CellSync")
    ap.add_argument("--read-only", action="store_true", help="do not run; re-read existing outputs")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    only = {s for s in a.only.split(",") if s}
    notebooks = [p for p in sorted(a.notebooks.glob(a.glob)) if not only or p.stem in only]
    summary_path = a.out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    for nb in notebooks:
        stem = nb.stem
        store = a.out / f"{stem}.store"
        executed = a.out / f"{stem}.executed.ipynb"
        base = a.out / f"{stem}.baseline.ipynb"
        entry = summary.get(stem, {})
        if not a.read_only:
            if store.exists():
                shutil.rmtree(store)
            print(f"[{stem}] replaying with cellsync ...", flush=True)
            entry["replay"] = _run_child(["--_replay", str(nb), str(store), str(executed), str(a.cell_timeout)],
                                         a.timeout, a.out / f"{stem}.replay.log")
            print(f"[{stem}] replay: {entry['replay'].get('fatal') or 'ok'} in {entry['replay']['seconds']} s, "
                  f"{len(entry['replay'].get('errors') or [])} cells raised", flush=True)
            if a.baseline:
                print(f"[{stem}] running without cellsync ...", flush=True)
                entry["baseline_run"] = _run_child(["--_baseline", str(nb), str(base), str(a.cell_timeout)],
                                                   a.timeout, a.out / f"{stem}.baseline.log")
        if (store / "cellsync.db").is_file():
            lines, stats = read_store(store, nb.name, _code_cells(executed),
                                      _code_cells(base) if base.is_file() else None)
            with open(a.out / f"{stem}.jsonl", "w") as fh:
                for rec in lines:
                    fh.write(json.dumps(rec, default=str) + "\n")
            entry["stats"] = stats
            print(f"[{stem}] {stats['cells_recorded']} cells, {stats['frames_recorded']} frames, "
                  f"{stats['sentences']} sentences, {len(stats['problems'])} problem kinds, "
                  f"{stats['output_tracebacks']} tracebacks in outputs", flush=True)
        else:
            entry["stats"] = None
            print(f"[{stem}] no store written", flush=True)
        summary[stem] = entry
        summary_path.write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()

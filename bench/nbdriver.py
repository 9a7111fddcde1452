"""A stand-in for a notebook kernel, for the dashboard and chat parts: a real IPython
InteractiveShell with CellSync loaded on a given store, in its own process (as a kernel is
beside `cellsync serve` and the browser), driven by one JSON command per stdin line:

    {"cmd": "build", "cells": 300, "frames": 20, "rows": 50000}   # the dashboard's workload
    {"cmd": "run", "code": "..."}    # one cell, then cellsync.flush()
    {"cmd": "quit"}

Each answer is one JSON line on stdout. "run" answers with `commit_monotonic`: the
time.monotonic() (CLOCK_MONOTONIC, the same clock in every process here) just after the
store transaction that wrote the cell committed (Store.write_cell returned), so another
process can time from the commit to what it sees.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shell as sh
from data import mixed_frame

COMMITS: list[float] = []


def _instrument() -> None:
    """Note when each cell's transaction commits (benchmark-side wrapper; cellsync unchanged)."""
    from cellsync.store import Store

    original = Store.write_cell

    def write_cell(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        COMMITS.append(time.monotonic())
        return out

    Store.write_cell = write_cell


def workload(n_cells: int, n_frames: int) -> list[str]:
    """n_frames frames created, then cells that filter, rewrite, add, sort, fill and drop,
    round-robin over the frames: every cell changes one frame."""
    cells = [f"df{k} = _make({k})" for k in range(min(n_cells, n_frames))]
    j = 0
    while len(cells) < n_cells:
        k = j % n_frames
        step = j // n_frames  # how many changes this frame has had
        uniform = f"f{(step % 6) * 2 + 1}"  # f1, f3, ... are uniform in [0, 1)
        normal = f"f{(step % 5) * 2}"  # f0, f2, ... are normal(50, 10)
        op = j % 7
        if op == 0:
            code = f"df{k} = df{k}[df{k}['{uniform}'] > 0.03]"
        elif op == 1:
            code = f"df{k}['{normal}'] = df{k}['{normal}'] * 1.01"
        elif op == 2:
            code = f"df{k}['x{step}'] = df{k}['f2'] + df{k}['f4']"
        elif op == 3:
            code = f"df{k} = df{k}.sort_values('{normal}')"
        elif op == 4:
            code = f"df{k}.loc[df{k}['f7'] < 0.05, 'f11'] = {step}.5"
        elif op == 5:
            code = f"df{k} = df{k}[df{k}['i1'] != {step}]"
        else:
            code = f"df{k} = df{k}.drop(columns=[c for c in df{k}.columns if c.startswith('x')])"
        cells.append(code)
        j += 1
    return cells


def main() -> int:
    store_dir = Path(sys.argv[1])
    proto = sys.stdout  # the protocol's channel; whatever cells print goes to stderr
    sys.stdout = sys.stderr
    _instrument()
    ip = sh.make_shell(store_dir)
    ip.user_ns["_make"] = lambda seed, rows=50_000: mixed_frame(rows, seed=seed)
    sh.load(ip)
    tr = sh.tracker()
    print(json.dumps({"ready": True}), file=proto, flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "quit":
                break
            if cmd["cmd"] == "build":
                rows = int(cmd.get("rows", 50_000))
                ip.user_ns["_make"] = lambda seed, rows=rows: mixed_frame(rows, seed=seed)
                t0 = time.perf_counter()
                jobs = []
                for i, code in enumerate(workload(int(cmd["cells"]), int(cmd["frames"]))):
                    sh.run(ip, code)
                    sh.flush()  # at a human pace: each cell recorded before the next
                    jobs.append(tr.worker.last_job_seconds)
                    if (i + 1) % 50 == 0:
                        print(f"[nbdriver] {i + 1} cells ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
                answer = {"ok": True, "seconds": time.perf_counter() - t0, "worker_job_s": jobs, "problems": sh.problems()}
            elif cmd["cmd"] == "run":
                n = len(COMMITS)
                t0 = time.monotonic()
                sh.run(ip, cmd["code"])
                t_cell = time.monotonic()
                sh.flush()
                answer = {"ok": True, "started_monotonic": t0, "cell_done_monotonic": t_cell,
                          "commit_monotonic": COMMITS[n] if len(COMMITS) > n else None,
                          "flushed_monotonic": time.monotonic(), "worker_job_s": tr.worker.last_job_seconds}
            else:
                answer = {"ok": False, "error": f"unknown command {cmd['cmd']!r}"}
        except Exception as exc:
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        print(json.dumps(answer, default=str), file=proto, flush=True)
    ip.extension_manager.unload_extension("cellsync")
    return 0


class Driver:
    """The parent's handle on an nbdriver process."""

    def __init__(self, store_dir: Path):
        import subprocess

        self.proc = subprocess.Popen([sys.executable, __file__, str(store_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        first = self._read()
        if not first.get("ready"):
            raise RuntimeError(f"nbdriver did not start: {first}")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"nbdriver exited (code {self.proc.poll()})")
        return json.loads(line)

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def call(self, **cmd) -> dict:
        self.send(**cmd)
        out = self._read()
        if not out.get("ok"):
            raise RuntimeError(f"nbdriver {cmd.get('cmd')} failed: {out.get('error')}\n{out.get('trace', '')}")
        return out

    def read(self) -> dict:
        out = self._read()
        if not out.get("ok"):
            raise RuntimeError(f"nbdriver failed: {out.get('error')}\n{out.get('trace', '')}")
        return out

    def close(self) -> None:
        try:
            self.send(cmd="quit")
            self.proc.wait(120)
        except Exception:
            self.proc.kill()
            self.proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())

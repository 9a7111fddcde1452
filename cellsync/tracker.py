"""After every cell: find the dataframes that changed, cheaply, and hand them to a worker.

The blocking part (`Tracker.after_cell`) runs on the kernel's main thread under the user's
cell, so it only compares fingerprints (`detect.ChangeDetector`, `changes.py`) and reads
metric-like values (`capture.py`). Profiling, diffing and persisting happen in the worker
(`cellsync/worker`), off the user's path. CellSync's own problems are counted and logged by
`problems.Problems`, never raised into the cell.
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .capture import assigned_metrics, scan_metrics, target_columns
from .changes import CellJob, FrameChange, copy_on_write_active
from .config import Settings, settings as default_settings
from .detect import ChangeDetector
from .errors import CellsyncError
from .metrics import MetricValue, displayed_values
from .problems import Problems
from .redact import redact
from .store import CellRun
from .worker import Worker

# Cells CellSync runs itself during `cellsync replay` start with this line and are not recorded.
INTERNAL_MARKER = "# cellsync: internal"


class Tracker:
    """Watches one namespace (an IPython shell's, or any dict) and records every cell."""

    def __init__(
        self,
        namespace: dict,
        store_path: str | Path | None = None,
        notebook: str | None = None,
        cfg: Settings | None = None,
        transform=None,
    ):
        self.ns = namespace
        self.cfg = cfg or default_settings
        self.notebook = notebook
        self.transform = transform  # IPython's transform_cell: magics -> Python, for lineage
        self.store_path = Path(store_path or default_store_path(notebook))
        self.session_id = uuid.uuid4().hex
        self.cow = copy_on_write_active()
        self.paused = False
        self.seq = 0
        self.cells_seen = 0
        self.problem = Problems(self.store_path)
        self.hook_seconds_last = 0.0
        self.hook_seconds_max = 0.0
        self.detector = ChangeDetector(namespace, self.cfg, self.cow, self.problem)
        self._pre: tuple | None = None
        self._next_cell_id: str | None = None
        self._estimators: dict[str, tuple] = {}
        self._logged: list = []
        self._predictions: list = []
        self._new_segments: list = []
        self.worker = self._start_worker()

    @property
    def problems(self):
        """Problems seen, counted per kind."""
        return self.problem.counts

    @property
    def problem_messages(self) -> dict[str, str]:
        """The latest message of each kind of problem."""
        return self.problem.messages

    def _start_worker(self) -> Worker:
        w = Worker(self.store_path, self.session_id, self.cfg, self.problem)
        self.problem.sink = w.record_problem
        w.start_session(
            self.session_id,
            self.notebook,
            {
                "pid": os.getpid(),
                "python": platform.python_version(),
                "pandas": pd.__version__,
                "cellsync": __version__,
            },
        )
        return w

    def announce_problems(self) -> str | None:
        return self.problem.announce()

    def scan(self, code: str = "") -> list[FrameChange]:
        """Compare the namespace with what we last recorded; return the changes (blocking)."""
        return self.detector.scan(code)

    # --- IPython events ---------------------------------------------------------------------

    def set_next_cell_id(self, cell_id: str | None) -> None:
        """For runners that cannot send JupyterLab's cell id (nbclient): use this one next."""
        self._next_cell_id = cell_id

    def before_cell(self, info=None) -> None:
        try:
            raw = getattr(info, "raw_cell", None) or ""
            if raw.lstrip().startswith(INTERNAL_MARKER):
                return
            cell_id = getattr(info, "cell_id", None) or self._next_cell_id
            self._next_cell_id = None
            self._pre = (time.time(), time.perf_counter(), raw, cell_id)
        except Exception as exc:  # pragma: no cover - defensive
            self.problem("hook.pre_run_cell", exc)

    def after_cell(self, result=None) -> None:
        started = time.perf_counter()
        try:
            self._after_cell(result)
        except Exception as exc:
            self.problem("hook.post_run_cell", exc)
        try:
            line = self.announce_problems() if self.cfg.announce_problems else None
            if line:
                print(line)
        except Exception:
            pass
        finally:
            self.hook_seconds_last = time.perf_counter() - started
            self.hook_seconds_max = max(self.hook_seconds_max, self.hook_seconds_last)

    def _after_cell(self, result) -> None:
        if self.paused:
            self._pre = None
            return
        pre, self._pre = self._pre, None
        info = getattr(result, "info", None)
        raw = (getattr(info, "raw_cell", None) if info is not None else None)
        if pre is None:
            # the cell that loaded the extension: it started before we were listening
            if raw is None:
                pre = (time.time(), time.perf_counter(), "", None)
            else:
                return
        wall, t0, pre_raw, cell_id = pre
        raw = raw if raw is not None else pre_raw
        if raw.lstrip().startswith(INTERNAL_MARKER):
            return
        cell_id = getattr(info, "cell_id", None) or cell_id
        status, etype, emsg = "ok", None, None
        error = None
        if result is not None:
            error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        if error is not None:
            status, etype, emsg = "error", type(error).__name__, str(error)[:2000]
        self.seq += 1
        self.cells_seen += 1
        cell = CellRun(
            session_id=self.session_id,
            seq=self.seq,
            execution_count=getattr(result, "execution_count", None),
            cell_id=cell_id,
            notebook=self.notebook,
            code=redact(raw),
            started_at=_iso(wall),
            duration_s=round(time.perf_counter() - t0, 6),
            status=status,
            error_type=etype,
            error_message=redact(emsg),
        )
        code = raw
        if self.transform is not None:
            try:
                code = self.transform(raw)
            except Exception:
                code = raw
        changes = self.scan(code)
        job = CellJob(cell, changes)
        if self.cfg.capture_metrics:
            try:
                job.captured, job.models = scan_metrics(self.ns, self._estimators)
                job.captured += displayed_values(self.detector.lineage.last_expression, getattr(result, "result", None))
                job.captured += assigned_metrics(self.detector.lineage, self.ns, {name for name, _, _ in job.captured})
            except Exception as exc:
                self.problem("hook.metrics", exc)
        job.logged, self._logged = self._logged, []
        job.predictions, self._predictions = self._predictions, []
        job.segments, self._new_segments = self._new_segments, []
        job.lineage = self.detector.lineage
        job.targets = target_columns(self.detector.lineage, self.ns)
        job.known_frames = tuple(self.detector.names)
        job.estimators = {n: sig[0] for n, (_, sig) in self._estimators.items()}
        self.worker.submit(job)


    # --- explicit API (called from the user's cell) -----------------------------------------

    def add_segment(self, seg) -> None:
        self._new_segments.append(seg)

    def log_metrics(self, values: dict) -> None:
        for name, value in values.items():
            num = float(value) if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) else None
            if num is None:
                raise CellsyncError(f"metric {name!r} must be a number, not {type(value).__name__}")
            self._logged.append(MetricValue(name=str(name), value=num, source="log_metrics"))

    def log_predictions(self, predictions, data_obj) -> None:
        data_name = self.detector.object_name(data_obj) if data_obj is not None else None
        self._predictions.append((predictions, data_name))

    def current_frames(self) -> dict[str, pd.DataFrame]:
        """The tracked frames as of the last cell (their snapshots), by name."""
        return self.detector.current_frames()

    def record_existing(self, code: str = "", execution_count: int | None = None) -> int:
        """Record the frames that already exist when tracking starts, as versions of the cell
        that loaded CellSync, so the first real cell is not credited with creating them.
        Returns how many frames were found (nothing is recorded when there are none)."""
        changes = self.scan("")
        if not changes:
            return 0
        self.seq += 1
        self.cells_seen += 1
        cell = CellRun(
            session_id=self.session_id,
            seq=self.seq,
            execution_count=execution_count,
            cell_id=None,
            notebook=self.notebook,
            code=redact(code) or "%load_ext cellsync",
            started_at=_iso(time.time()),
            duration_s=0.0,
            status="ok",
        )
        self.worker.submit(CellJob(cell, changes))
        return len(changes)

    # --- control ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        return self.worker.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        return self.worker.stop(self.cfg.flush_on_exit_timeout if timeout is None else timeout)

    def status(self) -> dict:
        return {
            "store": str(self.store_path),
            "session": self.session_id,
            "paused": self.paused,
            "cells_tracked": self.cells_seen,
            "frames": self.detector.names,
            "versions_written": self.worker.versions_written,
            "bytes_written": self.worker.bytes_written,
            "queue": self.worker.pending,
            "hook_ms_last": round(self.hook_seconds_last * 1000, 3),
            "hook_ms_max": round(self.hook_seconds_max * 1000, 3),
            "copy_on_write": self.cow,
            "problems": dict(self.problems),
            "problem_messages": dict(self.problem_messages),
        }



def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds")


def default_store_path(notebook: str | None = None) -> Path:
    """CELLSYNC_STORE / settings.store, else `.cellsync/` beside the notebook, else here."""
    if default_settings.store:
        return Path(default_settings.store).expanduser()
    if notebook:
        return Path(notebook).expanduser().resolve().parent / ".cellsync"
    return Path.cwd() / ".cellsync"

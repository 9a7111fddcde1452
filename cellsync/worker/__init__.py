"""The worker: a queue and a thread that put each cell through the pipeline, in order, off
the user's path. `flush` waits for everything submitted so far; `stop` drains and ends.

What happens to one cell is `pipeline.py` (versions -> operations -> segments -> metrics ->
the store -> explanation); this module only owns the thread, the queue and the store
connection that thread writes with.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

from .. import quiet
from ..changes import CellJob
from ..config import Settings
from ..store import Store
from ..store.budget import hold_kernel_lock, release_kernel_lock
from ..work import WorkCounter
from .pipeline import Pipeline

__all__ = ["Pipeline", "Worker"]


class Worker:
    """Processes one cell at a time, in order, in a thread."""

    def __init__(self, store_path: Path, session_id: str, cfg: Settings, on_problem):
        self.store_path = Path(store_path)
        self.session_id = session_id
        self.cfg = cfg
        self.on_problem = on_problem
        self._queue: queue.Queue = queue.Queue()
        self._work = WorkCounter()
        self._store: Store | None = None
        self._lock = None  # held while this worker records: `cellsync prune` sees a kernel at work
        self.pipeline = Pipeline(self.store_path, session_id, cfg, on_problem, self.store)
        self.last_job_seconds = 0.0
        quiet.install()
        self._thread = threading.Thread(target=self._run, name="cellsync-worker", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._work.pending

    @property
    def versions(self):
        """The version stage (its memory of recent plans and profiles)."""
        return self.pipeline.versions

    @property
    def versions_written(self) -> int:
        return self.pipeline.versions_written

    @property
    def bytes_written(self) -> int:
        return self.pipeline.versions.bytes_written

    def start_session(self, session_id: str, notebook: str | None, info: dict) -> None:
        self._submit(("session", session_id, notebook, info))

    def submit(self, job: CellJob) -> None:
        self._submit(("cell", job))

    def _submit(self, item) -> None:
        self._work.add()
        self._queue.put(item)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is in the store, LLM summaries included.
        False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._work.wait(timeout):
            return False
        service = self.pipeline.explanation.service
        if service is not None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            return service.flush(remaining)
        return True

    def stop(self, timeout: float | None = None) -> bool:
        drained = self.flush(timeout)
        if self.pipeline.explanation.service is not None:
            self.pipeline.explanation.service.stop()
        self._queue.put(None)
        self._thread.join(timeout=1.0 if not drained else timeout)
        if self._store is not None and not self._thread.is_alive():
            self._store.close()
            self._lock, lock = None, self._lock
            release_kernel_lock(lock)
        return drained

    def store(self) -> Store:
        """The worker's own connection, opened on first use (in the worker's thread)."""
        if self._store is None:
            self._store = Store(self.store_path)
            self._lock = self._lock or hold_kernel_lock(self.store_path)
        return self._store

    def close_store(self) -> None:
        """Close the connection; the next cell opens the store again (and, if the folder is
        gone or unusable, fails as a `worker.*` problem)."""
        store, self._store = self._store, None
        lock, self._lock = self._lock, None
        if store is not None:
            store.close()
        release_kernel_lock(lock)

    def record_problem(self, kind: str, message: str) -> None:
        """Count a problem in the store's `problems` table, from the worker's thread only
        (an SQLite connection stays in the thread that uses it)."""
        if threading.current_thread() is self._thread and self._store is not None:
            self._store.record_problem(kind, message)

    def _run(self) -> None:
        quiet.mark_current_thread()  # the libraries' warning filters must not reach the user's
        while True:
            item = self._queue.get()
            if item is None:
                return
            # let IPython finish the cell (output, history) before this thread takes the GIL
            time.sleep(0.005)
            started = time.perf_counter()
            try:
                if item[0] == "session":
                    self.store().start_session(item[1], item[2], item[3])
                else:
                    self.pipeline.process(item[1], self.store())
            except Exception as exc:
                self.on_problem(f"worker.{type(exc).__name__}", exc)
            finally:
                self.last_job_seconds = time.perf_counter() - started
                self._work.done()

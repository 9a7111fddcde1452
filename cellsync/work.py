"""Counting queued work so callers can wait for it: the tracker's worker and the explainer."""

from __future__ import annotations

import threading
import time


class WorkCounter:
    """`add()` when work is queued, `done()` when it finishes; `wait(timeout)` until everything
    queued so far has finished. Thread-safe."""

    def __init__(self):
        self._lock = threading.Condition()
        self.submitted = 0
        self.finished = 0

    @property
    def pending(self) -> int:
        with self._lock:
            return self.submitted - self.finished

    def add(self) -> None:
        with self._lock:
            self.submitted += 1

    def done(self) -> None:
        with self._lock:
            self.finished += 1
            self._lock.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """True once everything submitted before this call is done; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self.submitted
            while self.finished < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

"""CellSync's own problems: counted per kind, logged once per kind (with the stack) to
`<store>/cellsync.log`, recorded in the store's `problems` table, and announced in the
notebook in at most one short line — never raised into the user's cell.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections import Counter
from pathlib import Path

# A handler-less logger prints through logging's last resort to stderr, which in a kernel
# lands under whichever user cell runs next, stack and all: this one never propagates.
log = logging.getLogger("cellsync.problems")
log.propagate = False
LOG_NAME = "cellsync.log"


class Problems:
    def __init__(self, store_path: Path):
        self.store_path = Path(store_path)
        self.counts: Counter = Counter()
        self.messages: dict[str, str] = {}
        self.sink = None  # (kind, message) -> None: the worker's record in the store, once it runs
        self._lock = threading.Lock()
        self._unannounced: list[str] = []  # kinds not yet mentioned in the notebook
        self._log_handler = None

    def __call__(self, kind: str, exc: BaseException | str) -> None:
        message = str(exc) if not isinstance(exc, BaseException) else f"{type(exc).__name__}: {exc}"
        with self._lock:
            first = kind not in self.counts
            self.counts[kind] += 1
            self.messages[kind] = message
            if first:
                self._unannounced.append(kind)
        if first:
            detail = "".join(traceback.format_exception(exc)) if isinstance(exc, BaseException) else message
            self._log_to_store()
            log.warning("%s (%s); further problems of this kind are only counted.\n%s", kind, message, detail)
        try:
            if self.sink is not None:
                self.sink(kind, message)
        except Exception:
            pass  # a store that cannot take the record: the count above still shows it

    def _log_to_store(self) -> None:
        """Attach the store's log file once (the folder may not exist until the first problem)."""
        if self._log_handler is not None:
            return
        import logging.handlers

        try:
            self.store_path.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(self.store_path / LOG_NAME, maxBytes=1_000_000, backupCount=1,
                                                           encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        except Exception:
            handler = logging.NullHandler()  # an unwritable store: status still counts problems
        self._log_handler = handler
        log.addHandler(handler)

    def announce(self) -> str | None:
        """One short line for kinds of problem first seen since the last call (no stack: the
        details are in the store's log and `%cellsync status`)."""
        with self._lock:
            kinds, self._unannounced = self._unannounced, []
        if not kinds:
            return None
        return (f"CellSync could not record everything ({', '.join(kinds[:3])}{' …' if len(kinds) > 3 else ''}); "
                f"your code is not affected. Details: %cellsync status")

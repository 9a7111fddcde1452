"""The store: one folder holding `cellsync.db` (SQLite via sqlite-utils) and `data/` (column
files). It is the only contract between the notebook side and everything that reads it, and
the only code that writes SQL.

Writers (the tracker's worker) use WAL, a busy timeout and one transaction per cell. Readers
(`open_store(path)`, the CLI, the dashboard) can open it read-only, which never creates or
writes a file. The schema is described in docs/store.md.

One `Store` class, its methods grouped by concern in this package:

- `schema.py`      migration steps (sqlite-utils `Migrations`)
- `connection.py`  opening (read-only or writable), the schema check, `writing()`
- `writing.py`     a session, a cell in one transaction, segments, problems, explanations
- `frames.py`      versions and their data (plans, frames, columns, rows)
- `timeline.py`    cells, impacts, metrics, explanations, the timeline, the marks a view polls
- `chat.py`        threads and messages
- `budget.py`      size by frame, `prune`, the recording kernel's lock
- `records.py`     `CellRun`, `Version`, and the timeline entry (`TimelineEntry`, `FrameSummary`,
                   `ImpactSummary`, `MetricSummary`)
"""

from __future__ import annotations

from pathlib import Path

from .budget import Budget, PruneResult, StoreSize  # noqa: F401
from .chat import ChatTables
from .connection import Connection
from .frames import Frames
from .records import (  # noqa: F401  (the package's API)
    CellError, CellRun, FrameSummary, ImpactSummary, MetricSummary, TimelineEntry, Version, cell_entry,
    frame_summary, id_list, impact_summary, metric_summary, now_iso, store_size,
)
from .schema import DATA_DIR, DB_NAME, MAX_SEGMENT_TEXT, migrations  # noqa: F401
from .timeline import Timeline
from .writing import Writing


class Store(Connection, Writing, Frames, Timeline, ChatTables, Budget):
    """A CellSync store folder. `Store(path)` creates it if needed; `read_only=True` opens an
    existing one without writing anything (and raises StoreNotFound if there is none)."""


def open_store(path: str | Path, read_only: bool = True) -> Store:
    """Open an existing store for queries (read-only by default)."""
    return Store(path, read_only=read_only)


__all__ = ["CellError", "CellRun", "FrameSummary", "ImpactSummary", "MetricSummary", "Store", "TimelineEntry",
           "Version", "cell_entry", "frame_summary", "impact_summary", "metric_summary", "now_iso", "open_store",
           "store_size"]

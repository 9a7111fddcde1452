"""The records a store keeps and hands out: a cell run, a version, and the timeline entry
(`cell_entry`, `frame_summary`) that `cellsync show --json`, the dashboard and the
explainers read."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..diff import FrameDiff
from ..operations import Operation
from ..profile import FrameProfile
from ..records import Record
from ..versions import DataPlan


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CellRun(Record):
    session_id: str
    seq: int
    execution_count: int | None
    cell_id: str | None
    notebook: str | None
    code: str
    started_at: str
    duration_s: float
    status: str  # ok | error
    error_type: str | None = None
    error_message: str | None = None
    id: int | None = None  # assigned by the store
    section: str | None = None  # the notebook's Markdown heading above the cell (sections.py)


@dataclass(frozen=True)
class Version(Record):
    id: str
    frame: str
    session_id: str
    change: str  # new | rebound | mutated | alias | deleted
    n_rows: int | None
    n_cols: int | None
    parent_id: str | None = None
    parent_frame: str | None = None
    cell: int | None = None
    profile: FrameProfile | None = None
    diff: FrameDiff | None = None
    data: DataPlan | None = None
    note: str | None = None
    operation: Operation | None = None



_IMPACT_KEYS = (
    "frame", "segment", "name", "rows_before", "rows_after", "rows_removed", "rows_added",
    "rows_left", "rows_entered", "removal_rate", "overall_removal_rate", "values_changed",
    "flagged", "by_construction", "note",
)
_METRIC_KEYS = ("name", "value", "previous", "segment", "model", "source", "n", "note")


def impact_summary(imp: dict) -> dict[str, Any]:
    return {k: imp.get(k) for k in _IMPACT_KEYS}


def metric_summary(m: dict) -> dict[str, Any]:
    return {k: m.get(k) for k in _METRIC_KEYS}


def cell_entry(c: CellRun, versions: list[Version], impacts: list[dict], metrics: list[dict]) -> dict[str, Any]:
    """One cell as `cellsync show --json` prints it (and as explainers read it)."""
    return {
        "id": c.id,
        "session_id": c.session_id,
        "execution_count": c.execution_count,
        "cell_id": c.cell_id,
        "notebook": c.notebook,
        "code": c.code,
        "started_at": c.started_at,
        "duration_s": c.duration_s,
        "section": c.section,
        "status": c.status,
        "error": {"type": c.error_type, "message": c.error_message} if c.status == "error" else None,
        "frames": [frame_summary(v) for v in versions],
        "segments": impacts,
        "metrics": metrics,
    }


def frame_summary(v: Version) -> dict[str, Any]:
    d, op = v.diff, v.operation
    return {
        "name": v.frame,
        "version": v.id,
        "change": v.change,
        "parent": v.parent_frame,
        "parent_version": v.parent_id,
        "rows_before": d.rows_before if d else None,
        "rows_after": v.n_rows,
        "rows_removed": d.rows_removed if d else 0,
        "rows_added": d.rows_added if d else 0,
        "row_identity": d.row_identity if d else None,
        "reordered": d.reordered if d else False,
        "columns_added": list(d.columns_added) if d else [],
        "columns_removed": list(d.columns_removed) if d else [],
        "columns_renamed": dict(d.columns_renamed) if d else {},
        "dtype_changes": {k: {"before": c.before, "after": c.after} for k, c in (d.dtype_changes.items() if d else [])},
        "values_changed": dict(d.values_changed) if d else {},
        "n_cols": v.n_cols,
        "data": v.data.kind if v.data else None,
        "note": v.note,
        "index_changed": bool(d.index_changed) if d else False,
        "index": (op.detail.get("index") if op else None) if d and d.index_changed else None,
        "series": bool(op.series) if op else False,
        "operation": op.to_dict() if op else None,
    }


def id_list(column: str, ids: Iterable[int], args: list) -> str:
    """`column in (?, ?, ...)` for a where clause; the ids go to args (never into the SQL)."""
    ids = [int(i) for i in ids]
    args.extend(ids)
    return f"{column} in ({', '.join('?' * len(ids))})" if ids else "0"


def store_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())

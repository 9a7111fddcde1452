"""The records a store keeps and hands out: a cell run, a version, and the timeline entry
(`TimelineEntry` with its `FrameSummary`, `ImpactSummary` and `MetricSummary` records) that
`cellsync show --json`, the dashboard, the overview and the explainers read. Typed records cross
every module line; JSON only at the edges (`--json`, HTTP, the LLM's fact sheet)."""

from __future__ import annotations

import datetime as _dt
import dataclasses
from dataclasses import dataclass, field
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



@dataclass(frozen=True)
class FrameSummary(Record):
    """What one cell did to one frame: a version's diff and operation, flattened for readers
    (`phrasing`, the dashboard, `cellsync show --json`, the explainers)."""

    name: str
    version: str
    change: str  # new | rebound | mutated | alias | deleted
    parent: str | None = None
    parent_version: str | None = None
    rows_before: int | None = None
    rows_after: int | None = None
    rows_removed: int = 0
    rows_added: int = 0
    row_identity: str | None = None  # index | content | position | none | reshape
    reordered: bool = False
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_renamed: dict[str, str] = field(default_factory=dict)
    dtype_changes: dict[str, dict] = field(default_factory=dict)  # column -> {"before", "after"}
    values_changed: dict[str, int] = field(default_factory=dict)
    n_cols: int | None = None
    data: str | None = None  # how the version's data is stored (DataPlan.kind)
    note: str | None = None
    index_changed: bool = False
    index: dict | None = None  # {"before", "after"}: the row labels' kinds, where they changed
    series: bool = False
    operation: Operation | None = None

    @property
    def kind(self) -> str | None:
        return self.operation.kind if self.operation else None

    @property
    def new_name(self) -> bool:
        """A new name made from another frame (the parent still holds its rows)."""
        return bool(self.parent) and self.parent != self.name


@dataclass(frozen=True)
class ImpactSummary(Record):
    """What one cell did to one segment of one frame."""

    frame: str
    name: str  # the segment's name, as people see it
    segment: str | None = None  # its text (the condition)
    rows_before: int | None = None
    rows_after: int | None = None
    rows_removed: int | None = None
    rows_added: int | None = None
    rows_left: int | None = None  # rows whose values changed so that they left the segment
    rows_entered: int | None = None
    removal_rate: float | None = None
    overall_removal_rate: float | None = None
    values_changed: dict[str, int] = field(default_factory=dict)
    flagged: bool = False
    by_construction: bool = False  # the operation tested the segment's own column
    note: str | None = None

    @property
    def excess(self) -> float:
        """How much more of the segment than of the whole went (0 where unknown)."""
        return (self.removal_rate or 0) - (self.overall_removal_rate or 0)


@dataclass(frozen=True)
class MetricSummary(Record):
    """One metric value a cell recorded (overall where `segment` is None)."""

    name: str
    value: float | None
    previous: float | None = None
    segment: str | None = None
    model: str | None = None
    source: str | None = None
    n: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class CellError(Record):
    type: str | None
    message: str | None


@dataclass(frozen=True)
class TimelineEntry(Record):
    """One cell as every reader sees it: `cellsync show --json` prints `to_dict()`."""

    id: int | None
    session_id: str
    execution_count: int | None
    cell_id: str | None
    notebook: str | None
    code: str
    started_at: str
    duration_s: float
    status: str  # ok | error
    section: str | None = None
    error: CellError | None = None
    frames: tuple[FrameSummary, ...] = ()
    segments: tuple[ImpactSummary, ...] = ()  # segment impacts
    metrics: tuple[MetricSummary, ...] = ()
    summary: str | None = None  # the current explanation's summary
    summary_model: str | None = None
    unverified_numbers: tuple[str, ...] = ()  # numbers in the summary not traceable to the facts

    def frame(self, name: str) -> FrameSummary | None:
        return next((f for f in self.frames if f.name == name), None)

    @property
    def flags(self) -> tuple[ImpactSummary, ...]:
        return tuple(s for s in self.segments if s.flagged)


def _pick(cls, row: dict) -> dict:
    return {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row}


def impact_summary(imp: dict) -> ImpactSummary:
    """From an `impacts` row (or `SegmentImpact.to_dict()` with its frame)."""
    return ImpactSummary.from_dict(_pick(ImpactSummary, imp))


def metric_summary(m: dict) -> MetricSummary:
    return MetricSummary.from_dict({"value": None, **_pick(MetricSummary, m)})



def cell_entry(c: CellRun, versions: list[Version], impacts: list[ImpactSummary],
               metrics: list[MetricSummary]) -> TimelineEntry:
    return TimelineEntry(
        id=c.id, session_id=c.session_id, execution_count=c.execution_count, cell_id=c.cell_id,
        notebook=c.notebook, code=c.code, started_at=c.started_at, duration_s=c.duration_s,
        section=c.section, status=c.status,
        error=CellError(c.error_type, c.error_message) if c.status == "error" else None,
        frames=tuple(frame_summary(v) for v in versions),
        segments=tuple(impacts), metrics=tuple(metrics),
    )


def frame_summary(v: Version) -> FrameSummary:
    d, op = v.diff, v.operation
    return FrameSummary(
        name=v.frame, version=v.id, change=v.change, parent=v.parent_frame, parent_version=v.parent_id,
        rows_before=d.rows_before if d else None,
        rows_after=v.n_rows,
        rows_removed=d.rows_removed if d else 0,
        rows_added=d.rows_added if d else 0,
        row_identity=d.row_identity if d else None,
        reordered=bool(d.reordered) if d else False,
        columns_added=tuple(d.columns_added) if d else (),
        columns_removed=tuple(d.columns_removed) if d else (),
        columns_renamed=dict(d.columns_renamed) if d else {},
        dtype_changes={k: {"before": c.before, "after": c.after} for k, c in (d.dtype_changes.items() if d else [])},
        values_changed=dict(d.values_changed) if d else {},
        n_cols=v.n_cols,
        data=v.data.kind if v.data else None,
        note=v.note,
        index_changed=bool(d.index_changed) if d else False,
        index=(op.detail.get("index") if op else None) if d and d.index_changed else None,
        series=bool(op.series) if op else False,
        operation=op,
    )


def id_list(column: str, ids: Iterable[int], args: list) -> str:
    """`column in (?, ?, ...)` for a where clause; the ids go to args (never into the SQL)."""
    ids = [int(i) for i in ids]
    args.extend(ids)
    return f"{column} in ({', '.join('?' * len(ids))})" if ids else "0"


def store_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())

"""The notebook's story on one page, for an expert's first look: where the rows went, who was
hit hardest, how the model does for whom, and what is still asked.

Computed from the store alone (no kernel, no UI): `overview(store)` gives an `Overview`
record; `cellsync overview STORE` prints it, and a dashboard view renders it. Every sentence
comes from `phrasing`, every number from recorded facts.

- **Flow**: the chain of versions that led to the main table (followed through other names by
  each version's parent), one step per change of its rows, from load to the last table, with
  the flags each step raised; a split at the end becomes branches.
- **Findings**: flagged impacts ranked by excess removal (the segment's removal rate minus the
  overall one), never those "by construction"; metric moves.
- **Model by segment**: per model, its first metric per segment, worst first, beside the
  overall value (segments of the target itself are never scored: see tracker).
- **Open questions**: threads whose last word is the expert's, newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import phrasing
from .records import Record
from .store.records import FrameSummary, MetricSummary, TimelineEntry

ROW_KINDS = frozenset({"create", "filter", "split", "combine", "add_rows", "reshape", "changed"})


@dataclass(frozen=True)
class Branch(Record):
    """One part of a split at the end of a flow."""

    frame: str
    rows: int | None
    version: str


@dataclass(frozen=True)
class FlowStep(Record):
    cell: int | None
    execution_count: int | None
    frame: str
    version: str
    kind: str
    rows_before: int | None
    rows_after: int | None
    rows_removed: int
    rows_added: int
    text: str  # the step's sentence (phrasing.frame_sentence)
    flags: tuple[str, ...] = ()  # flagged segments this step hit (never "by construction")
    # rows followed one by one (False: only the net change of the count is known)
    rows_matched: bool = True
    branches: tuple[Branch, ...] = ()  # a split's parts


@dataclass(frozen=True)
class Finding(Record):
    cell: int | None
    execution_count: int | None
    kind: str  # flag | metric
    text: str
    excess: float | None = None  # flags: removal rate minus the overall rate


@dataclass(frozen=True)
class SegmentScore(Record):
    model: str | None
    metric: str
    segment: str
    value: float
    overall: float | None
    rows: int | None


@dataclass(frozen=True)
class Question(Record):
    thread: str
    cell: int | None
    execution_count: int | None
    author: str | None
    text: str
    at: str | None


@dataclass(frozen=True)
class Overview(Record):
    frame: str | None
    frames: tuple[str, ...]  # every frame with a flow to pick from, main first
    steps: tuple[FlowStep, ...]
    findings: tuple[Finding, ...]
    by_segment: tuple[SegmentScore, ...]
    questions: tuple[Question, ...]


def overview(store, frame: str | None = None, timeline: list[TimelineEntry] | None = None) -> Overview:
    timeline = timeline if timeline is not None else store.timeline()
    by_version: dict[str, tuple[TimelineEntry, FrameSummary]] = {}
    for e in timeline:
        for f in e.frames:
            by_version[f.version] = (e, f)
    frames = _frames_by_chain(by_version)
    chosen = frame if frame is not None else (frames[0] if frames else None)
    steps = tuple(flow(by_version, chosen)) if chosen else ()
    return Overview(
        frame=chosen, frames=tuple(frames), steps=steps, findings=tuple(findings(timeline)),
        by_segment=tuple(segment_scores(timeline)), questions=tuple(open_questions(store, timeline)),
    )


def _chain(by_version: dict, version: str | None) -> list[tuple[TimelineEntry, FrameSummary]]:
    """The versions from the first ancestor to `version`, following each version's parent."""
    out, seen = [], set()
    while version is not None and version in by_version and version not in seen:
        seen.add(version)
        e, f = by_version[version]
        out.append((e, f))
        version = f.parent_version
    return out[::-1]


def _frames_by_chain(by_version: dict) -> list[str]:
    """Frames whose last version has the longest history, longest first. A split's part leads
    to the table it split, which then ends in the split's branches."""
    last: dict[str, str] = {}
    for vid, (_, f) in by_version.items():
        if f.change != "deleted":
            last[f.name] = vid
    def length(name):
        chain = _chain(by_version, last[name])
        kind = by_version[last[name]][1].kind
        # the table a model was built from ends in a split; a summary table is no main table
        ends = 2 if kind == "split" else 0 if kind in ("reshape", "model_transform", "extract") else 1
        changes = sum(1 for _, f in chain if _changes_rows(f) and f.kind != "reshape")
        return (ends, changes, len(chain), by_version[last[name]][1].rows_after or 0)
    ranked = sorted(last, key=length, reverse=True)
    out: list[str] = []
    for name in ranked:
        f = by_version[last[name]][1]
        main = f.parent if f.kind == "split" and f.parent in last else name
        if main not in out:
            out.append(main)
    return out


def _changes_rows(f: FrameSummary) -> bool:
    op = f.kind
    if f.rows_before is None or op in ("combine", "split"):
        return True  # where rows come from and where tables join or part are always steps
    return op in ROW_KINDS and (f.rows_removed or f.rows_added or f.rows_before != f.rows_after)


def flow(by_version: dict, frame: str) -> list[FlowStep]:
    last = None
    for vid, (_, f) in by_version.items():
        if f.name == frame and f.change != "deleted":
            last = vid
    if last is None:
        return []
    steps = []
    for e, f in _chain(by_version, last):
        if not _changes_rows(f):
            continue
        flags = tuple(s.name for s in e.segments
                      if s.flagged and not s.by_construction and s.frame == f.name)
        steps.append(_step(e, f, flags))
    # a split of the last table ends the flow in branches
    parts = [(e, f) for e, f in by_version.values()
             if f.parent_version == last and f.kind == "split"]
    if parts:
        e = parts[0][0]
        group = [f for _, f in parts]
        steps.append(FlowStep(
            cell=e.id, execution_count=e.execution_count, frame=frame, version=last, kind="split",
            rows_before=group[0].rows_before, rows_after=None, rows_removed=0, rows_added=0,
            text=phrasing.split_sentence(group),
            branches=tuple(Branch(f.name, f.rows_after, f.version) for f in group),
        ))
    return steps


def _step(e: TimelineEntry, f: FrameSummary, flags: tuple[str, ...]) -> FlowStep:
    return FlowStep(
        cell=e.id, execution_count=e.execution_count, frame=f.name, version=f.version,
        kind=f.kind or ("create" if f.rows_before is None else "changed"),
        rows_before=f.rows_before, rows_after=f.rows_after,
        rows_removed=f.rows_removed or 0, rows_added=f.rows_added or 0,
        text=phrasing.frame_sentence(f), flags=flags,
        rows_matched=f.rows_before is None or f.row_identity not in ("none", "reshape"),
    )


def findings(timeline: list[TimelineEntry]) -> list[Finding]:
    flags = []
    for e in timeline:
        for s in e.segments:
            if s.flagged and not s.by_construction:
                excess = s.excess
                flags.append(Finding(e.id, e.execution_count, "flag",
                                     phrasing.flag_line(s, e.frames), round(excess, 6)))
    flags.sort(key=lambda x: -x.excess)
    moves = [Finding(e.id, e.execution_count, "metric", phrasing.metric_sentence(m))
             for e in timeline for m in e.metrics
             if m.segment is None and m.previous is not None]
    return flags + moves


def segment_scores(timeline: list[TimelineEntry]) -> list[SegmentScore]:
    """Per model, the latest per-segment values of its first metric, worst first."""
    latest: dict[tuple, MetricSummary] = {}
    overall: dict[tuple, float] = {}
    first_metric: dict[str | None, str] = {}
    for e in timeline:
        for m in e.metrics:
            if m.value is None or m.name == "rows":
                continue
            if m.segment is None:
                overall[(m.model, m.name)] = m.value
            else:
                first_metric.setdefault(m.model, m.name)
                latest[(m.model, m.name, m.segment)] = m
    out = [SegmentScore(model, name, seg, m.value, overall.get((model, name)), m.n)
           for (model, name, seg), m in latest.items() if first_metric.get(model) == name]
    # worst first: the lowest accuracy, but the highest error
    return sorted(out, key=lambda s: (s.model or "", -s.value if lower_is_better(s.metric) else s.value))


def lower_is_better(metric: str) -> bool:
    return bool(re.search(r"(^|_)(mae|mse|rmse|mape|medae|loss|logloss|error|brier)($|_)", metric.lower()))


def open_questions(store, timeline: list[TimelineEntry]) -> list[Question]:
    from . import chat

    counts = {e.id: e.execution_count for e in timeline}
    out = []
    for row in chat.overview(store, status="open"):
        if row.get("last_person_role") == "expert":
            t = row["thread"]
            out.append(Question(t.id, t.cell, counts.get(t.cell), row.get("last_author"), row.get("last_text") or "",
                                row.get("last_at")))
    return out  # chat.overview lists newest activity first


def text(ov: Overview) -> str:
    """The overview as plain lines (what `cellsync overview` prints)."""
    lines = []
    if ov.frame:
        lines.append(f"Where the rows of {ov.frame} came from:")
        for s in ov.steps:
            at = f"[{s.execution_count}]" if s.execution_count is not None else "[ ]"
            size = f"{phrasing.n(s.rows_after)} rows" if s.rows_after is not None else \
                " / ".join(f"{b.frame} {phrasing.n(b.rows)}" for b in s.branches)
            flag = "".join(f"  ⚑ {name}" for name in s.flags)
            lines.append(f"  {at:>6} {size:>14}  {s.text}{flag}")
    else:
        lines.append("No tables recorded yet.")
    flags = [f for f in ov.findings if f.kind == "flag"]
    moves = [f for f in ov.findings if f.kind == "metric"]
    if flags:
        lines.append("Hit hardest (flagged removals, largest excess first):")
        lines += [f"  [{f.execution_count}] ⚑ {f.text}" for f in flags]
    if moves:
        lines.append("Metrics that moved:")
        lines += [f"  [{f.execution_count}] {f.text}" for f in moves]
    if ov.by_segment:
        lines.append("Where the model does worst (by segment, worst first):")
        lines += [f"  {phrasing.segment_score_line(s)}" for s in ov.by_segment]
    if ov.questions:
        lines.append("Open questions:")
        for q in ov.questions:
            where = f"[{q.execution_count}] " if q.execution_count is not None else ""
            lines.append(f"  {where}{q.author or 'someone'}: {q.text}")
    return "\n".join(lines)

"""Stage 3 of the worker's pipeline: segments — the registry of every frame's segments,
suggestions made once per frame (and retired when their values are rewritten), and the
impact of each change on each segment, flagged when disproportionate."""

from __future__ import annotations

import ast
import dataclasses
import re

import pandas as pd

from ..changes import CellJob, FrameChange
from ..config import Settings
from ..segments import by_construction, impacts as segment_impacts, is_value_segment, suggest
from ..store import Store, Version


class SegmentStage:
    """Segments by frame name ("" for any frame), loaded from the store on the first cell."""

    def __init__(self, cfg: Settings, on_problem):
        self.cfg = cfg
        self.on_problem = on_problem
        self.by_frame: dict[str, list] | None = None  # frame name ("" any) -> segments
        self.columns_seen: dict[str, set[str]] = {}  # frame name -> columns of its latest version
        self.targets: set[str] = set()  # columns used as a model's target: no segments on them

    def start(self, job: CellJob, store: Store) -> list:
        """Before the cell's versions: load the registry once, take the cell's targets and
        the segments the user defined in it (returned: they are written with the cell)."""
        if self.by_frame is None:
            self.by_frame = {}
            for seg in store.segments():
                self.register(seg)
        self.targets |= job.targets
        for seg in job.segments:
            self.register(seg)
        return list(job.segments)

    def run(self, ch: FrameChange, version: Version, match, job: CellJob) -> tuple[list, list]:
        """(new suggested segments, impacts) of one pandas change; a failure is a problem
        counted, and neither."""
        try:
            if version.profile is not None:
                self.columns_seen[ch.name] = {c.name for c in version.profile.columns}
            made = self.suggest_for(ch.name, ch.frame, version, ch.parent_name, job)
            return made, self.impacts(ch, version, match)
        except Exception as exc:
            self.on_problem(f"segments.{type(exc).__name__}", exc)
            return [], []

    def run_engine(self, ch, version: Version, job: CellJob) -> list:
        """Suggestions for a polars or Spark frame, made once per frame from its profile (the
        engine counted their rows itself); never retired from a sample's values."""
        sample = getattr(ch, "sample", None)
        if sample is None or version.profile is None:
            return []
        try:
            self.columns_seen[ch.name] = {c.name for c in version.profile.columns}
            return self.suggest_for(ch.name, sample, version, ch.parent_name, job, refresh=False)
        except Exception as exc:
            self.on_problem(f"segments.{type(exc).__name__}", exc)
            return []

    def engine_by_construction(self, ch, impacts) -> list:
        """A polars or Spark frame has no operation record (its code is not pandas): a segment
        whose columns are all named in the statement that made the frame (`filter(
        pl.col("income").is_not_null())`) is taken as tested by it, so never a finding. Naming
        a column is enough: this says less, never more."""
        stmt = getattr(getattr(ch, "binding", None), "statement", None)
        if stmt is None:
            return list(impacts)
        texts = [n.value for n in ast.walk(stmt) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        # a Spark SQL condition is a string (`filter("age >= 18")`): its words count too
        named = set(texts) | {w for t in texts for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t)}
        named |= {n.attr for n in ast.walk(stmt) if isinstance(n, ast.Attribute)}
        by_text = {s.text: s for s in self.segments_for(ch.name, ch.parent_name)}
        out = []
        for imp in impacts:
            seg = by_text.get(imp.segment)
            if seg is not None and seg.columns and set(seg.columns) <= named:
                imp = dataclasses.replace(imp, flagged=False, by_construction=True)
            out.append(imp)
        return out

    def user_texts(self) -> set[str]:
        return {s.text for segs in (self.by_frame or {}).values() for s in segs if s.source != "suggested"}

    def register(self, seg) -> None:
        bucket = self.by_frame.setdefault(seg.frame or "", [])
        if all(s.text != seg.text for s in bucket):
            bucket.append(seg)

    def segments_for(self, *names: str | None) -> list:
        """Segments of these frames, and those for any frame, without repeats."""
        seen, out = set(), []
        for key in ("", *[n for n in names if n]):
            for seg in self.by_frame.get(key, []):
                if seg.text not in seen:
                    seen.add(seg.text)
                    out.append(seg)
        return out

    def suggest_for(self, name: str, frame: pd.DataFrame, version: Version, parent: str | None, job: CellJob,
                    refresh: bool = True) -> list:
        """Suggestions are made once per frame name, from its first profiled version, so that
        quartile thresholds stay fixed while the frame changes. A frame derived from another
        inherits the parent's suggestions (same thresholds, so the two can be compared) and
        gets new ones only for columns the parent did not have. Value segments of a column
        whose values a cell rewrote, and that match nothing any more, are retired and made
        again from the new values. Never on a model's target or on identifiers."""
        profile = version.profile
        if profile is None:
            return []
        mine = [s for s in self.by_frame.get(name, []) if s.source == "suggested"]
        if mine:
            return self._refresh(name, frame, version, mine, job) if refresh else []
        inherited = []
        parent_columns: set[str] = set()
        if parent and parent != name:
            for seg in self.by_frame.get(parent, []):
                if seg.source == "suggested" and seg.fits(frame) and not set(seg.columns) & self.targets:
                    inherited.append(dataclasses.replace(seg, frame=name))
            parent_profile_cols = self.columns_seen.get(parent, set())
            parent_columns = parent_profile_cols
        own = suggest(frame, profile, limit=self.cfg.max_suggested_segments,
                      max_values=self.cfg.segment_max_values, frame_name=name,
                      skip_columns=parent_columns | self.targets)
        made = (inherited + own)[: self.cfg.max_suggested_segments]
        for seg in made:
            self.register(seg)
        return made

    def _refresh(self, name, frame, version, mine, job) -> list:
        d = version.diff
        if d is None or d.rows_before is None:
            return []
        rewritten = set(d.values_changed) | set(d.dtype_changes)
        if not rewritten:
            return []
        stale = []
        for seg in mine:
            if not set(seg.columns) & rewritten or not is_value_segment(seg):
                continue
            try:
                if not seg.mask(frame).any():
                    stale.append(seg)
            except Exception:
                stale.append(seg)
        if not stale:
            return []
        bucket = self.by_frame.get(name, [])
        for seg in stale:
            bucket.remove(seg)
            job.retired.append((name, seg.text))
        columns = {c for seg in stale for c in seg.columns}
        others = {c.name for c in version.profile.columns} - columns
        fresh = [seg for seg in suggest(frame, version.profile, limit=self.cfg.max_suggested_segments,
                                        max_values=self.cfg.segment_max_values, frame_name=name,
                                        skip_columns=others | self.targets)
                 if is_value_segment(seg)]
        for seg in fresh:
            self.register(seg)
        return fresh

    def impacts(self, ch: FrameChange, version: Version, match) -> list:
        if ch.parent_frame is None or match is None or version.diff is None:
            return []
        segs = self.segments_for(ch.name, ch.parent_name)
        if not segs:
            return []
        new = ch.diff_frame if ch.diff_frame is not None else ch.frame
        found = segment_impacts(
            segs, ch.parent_frame, new, version.diff, match,
            flag_ratio=self.cfg.flag_ratio, flag_min_points=self.cfg.flag_min_points,
            flag_min_rows=self.cfg.flag_min_rows,
        )
        by_text = {s.text: s for s in segs}
        return [
            dataclasses.replace(imp, flagged=False, by_construction=True)
            if version.operation is not None and imp.segment in by_text and by_construction(version.operation, by_text[imp.segment])
            else imp
            for imp in found
        ]

"""Writing: a session, a cell (one transaction), segments, problems, explanations, and the
sweep of data files a killed writer left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..redact import redact
from ..versions import DataPlan
from .connection import _orphan_min_age
from .records import CellRun, Version, now_iso
from .schema import MAX_SEGMENT_TEXT

if TYPE_CHECKING:
    from ..metrics import MetricValue, ModelInfo
    from ..segments import Segment, SegmentImpact


class Writing:
    """The store's writes (mixed into `Store`); each is one transaction."""

    def start_session(self, session_id: str, notebook: str | None, info: dict) -> None:
        self.require_writable()
        with self.writing():
            self.db["sessions"].insert(
                {"id": session_id, "started_at": now_iso(), "notebook": notebook, **info},
                replace=True,
            )
        # the next writer cleans up after a killed one; a failed sweep never stops a session
        try:
            self.remove_leftovers()
        except Exception:
            pass

    def referenced_files(self) -> set[str]:
        """Keys of every data file a committed version needs."""
        from ..versions import plan_file_keys

        keys: set[str] = set()
        for (text,) in self.db.execute("select data from versions where data is not null"):
            try:
                keys |= plan_file_keys(DataPlan.from_json(text))
            except Exception:
                # a plan this version cannot parse (a newer CellSync's): keep every file
                return {p.stem for p in self.files.root.glob("*/*")}
        return keys

    def leftovers(self, min_age: float | None = None) -> list[Path]:
        """Data files no committed version references, and temporary files (what a writer
        killed mid-cell leaves), older than `min_age` (default settings.orphan_min_age)."""
        return self.files.leftovers(self.referenced_files(), _orphan_min_age(min_age))

    def remove_leftovers(self, min_age: float | None = None) -> tuple[int, int]:
        """Remove `leftovers()`; returns (files, bytes) removed."""
        self.require_writable()
        return self.files.remove_leftovers(self.referenced_files(), _orphan_min_age(min_age))

    def write_cell(
        self,
        cell: CellRun,
        versions: Iterable[Version],
        impacts: Iterable[tuple[str, str, "SegmentImpact"]] = (),
        metrics: Iterable["MetricValue"] = (),
        models: Iterable["ModelInfo"] = (),
        segments: Iterable["Segment"] = (),
        retired: Iterable[tuple[str, str]] = (),
    ) -> int:
        """One transaction: the cell run, every version it produced, the segment impacts
        (version id, frame, impact), captured metrics and models, new segments, and the
        (frame, text) of suggested segments this cell made stale."""
        self.require_writable()
        # a segment no one could type (a 10 MB value made into `kind == "..."`) is not kept,
        # nor its impacts: one such value made a 91 MB store and 20 MB of `show --json`
        segments = [seg for seg in segments if len(seg.text) <= MAX_SEGMENT_TEXT]
        impacts = [imp for imp in impacts if len(imp[2].segment or "") <= MAX_SEGMENT_TEXT]
        with self.writing():
            for frame, text in retired:
                self.db.execute("UPDATE segments SET retired = 1 WHERE frame = ? AND text = ? AND source = 'suggested'",
                                [frame or "", text])
            for seg in segments:
                self._insert_segment(seg, cell.session_id)
            row = cell.to_dict()
            row.pop("id")
            cell_pk = self.db["cells"].insert(row).last_pk
            rows = []
            for v in versions:
                rows.append(
                    {
                        "id": v.id,
                        "frame": v.frame,
                        "session_id": v.session_id,
                        "cell": cell_pk,
                        "parent_id": v.parent_id,
                        "parent_frame": v.parent_frame,
                        "change": v.change,
                        "n_rows": v.n_rows,
                        "n_cols": v.n_cols,
                        "profile": v.profile.to_json() if v.profile else None,
                        "diff": v.diff.to_json() if v.diff else None,
                        "data": v.data.to_json() if v.data else None,
                        "note": v.note,
                        "operation": v.operation.to_json() if v.operation else None,
                    }
                )
            if rows:
                self.db["versions"].insert_all(rows)
            impact_rows = []
            for version_id, frame, imp in impacts:
                row = imp.to_dict()
                row.update(
                    version_id=version_id, cell=cell_pk, frame=frame,
                    values_changed=json.dumps(row["values_changed"] or {}),
                    flagged=int(imp.flagged),
                    by_construction=int(imp.by_construction),
                )
                impact_rows.append(row)
            if impact_rows:
                self.db["impacts"].insert_all(impact_rows)
            metric_rows = [{**m.to_dict(), "cell": cell_pk} for m in metrics]
            if metric_rows:
                self.db["metrics"].insert_all(metric_rows)
            model_rows = [
                {**m.to_dict(), "params": json.dumps(m.params), "fitted": int(m.fitted), "cell": cell_pk}
                for m in models
            ]
            if model_rows:
                self.db["models"].insert_all(model_rows)
        return int(cell_pk)

    def _insert_segment(self, seg: "Segment", session_id: str | None) -> None:
        self.db.execute(
            "INSERT INTO segments (frame, name, text, spec, source, session_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(frame, text) DO UPDATE SET retired = 0, "
            "name = CASE WHEN excluded.source = 'suggested' THEN segments.name ELSE excluded.name END, "
            "source = CASE WHEN excluded.source = 'suggested' THEN segments.source ELSE excluded.source END",
            [seg.frame or "", seg.name, seg.text, json.dumps(seg.spec), seg.source, session_id, now_iso()],
        )

    def add_segment(self, seg: "Segment", session_id: str | None = None) -> None:
        """Store a segment (from the notebook or the dashboard); the same text twice is one."""
        self.require_writable()
        with self.writing():
            self._insert_segment(seg, session_id)

    def record_problem(self, kind: str, message: str) -> None:
        self.require_writable()
        at = now_iso()
        with self.writing():
            self.db.execute(
                "INSERT INTO problems (kind, message, count, first_seen, last_seen) "
                "VALUES (?, ?, 1, ?, ?) ON CONFLICT(kind) DO UPDATE SET "
                "count = count + 1, last_seen = excluded.last_seen, message = excluded.message",
                [kind, message[:500], at, at],
            )


    def write_explanation(self, cell: int, ex, cache_key: str | None = None) -> None:
        """Store a cell's explanation; the newest one per cell is the one shown."""
        self.require_writable()
        with self.writing():
            self.db["explanations"].insert(
                {
                    # an LLM may quote the code back: redact again, whatever wrote the text
                    "cell": cell, "model": ex.model, "summary": redact(ex.summary), "details": redact(ex.details),
                    "caveats": json.dumps(list(ex.caveats)), "unverified": json.dumps(list(ex.unverified_numbers)),
                    "note": ex.note, "cache_key": cache_key, "created_at": now_iso(),
                }
            )

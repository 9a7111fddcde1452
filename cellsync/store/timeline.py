"""The timeline: cells with what they changed, segments, impacts, metrics, models and
explanations, and the cheap marks a live view polls."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Iterable

from .records import (
    CellRun, ImpactSummary, MetricSummary, TimelineEntry, Version, cell_entry, id_list, impact_summary,
    metric_summary, store_size,
)

if TYPE_CHECKING:
    from ..segments import Segment


class Timeline:
    """Timeline queries (mixed into `Store`)."""

    def sessions(self) -> list[dict]:
        return list(self.db["sessions"].rows_where(order_by="started_at"))

    def cells(self, session_id: str | None = None, ids: Iterable[int] | None = None) -> list[CellRun]:
        clauses, args = [], []
        if session_id:
            clauses.append("session_id = ?")
            args.append(session_id)
        if ids is not None:
            clauses.append(id_list("id", ids, args))
        return [
            CellRun.from_dict(r)
            for r in self.db["cells"].rows_where(" and ".join(clauses) or None, args, order_by="id")
        ]


    def segments(self, frame: str | None = None, retired: bool = False) -> list["Segment"]:
        """Segments for a frame (its own and those for any frame), or all when frame is None;
        suggested segments retired because their values were rewritten only with `retired`."""
        from ..segments import Segment

        if not self.has("segments"):
            return []
        clauses, args = [], []
        if frame is not None:
            clauses.append("frame in (?, '')")
            args.append(frame)
        if not retired and "retired" in self.db["segments"].columns_dict:
            clauses.append("coalesce(retired, 0) = 0")
        rows = self.db["segments"].rows_where(" and ".join(clauses) or None, args, order_by="id")
        return [
            Segment(name=r["name"], text=r["text"], spec=json.loads(r["spec"]), source=r["source"], frame=r["frame"] or None)
            for r in rows
        ]

    def impacts(self, cell: int | None = None, frame: str | None = None, segment: str | None = None,
                cells: Iterable[int] | None = None) -> list[dict]:
        if not self.has("impacts"):
            return []
        clauses, args = [], []
        for col, val in (("cell", cell), ("frame", frame), ("segment", segment)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        if cells is not None:
            clauses.append(id_list("cell", cells, args))
        rows = self.db["impacts"].rows_where(" and ".join(clauses) or None, args, order_by="id")
        out = []
        for r in rows:
            r["values_changed"] = json.loads(r["values_changed"] or "{}")
            r["flagged"] = bool(r["flagged"])
            r["by_construction"] = bool(r.get("by_construction"))
            out.append(r)
        return out

    def metrics(self, cell: int | None = None, name: str | None = None, cells: Iterable[int] | None = None) -> list[dict]:
        if not self.has("metrics"):
            return []
        clauses, args = [], []
        for col, val in (("cell", cell), ("name", name)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        if cells is not None:
            clauses.append(id_list("cell", cells, args))
        return list(self.db["metrics"].rows_where(" and ".join(clauses) or None, args, order_by="id"))

    def models(self, cell: int | None = None) -> list[dict]:
        if not self.has("models"):
            return []
        rows = self.db["models"].rows_where("cell = ?" if cell is not None else None, [cell] if cell is not None else [], order_by="id")
        return [{**r, "params": json.loads(r["params"] or "{}"), "fitted": bool(r["fitted"])} for r in rows]


    def explanations(self, cell: int | None = None, cells: Iterable[int] | None = None) -> dict[int, dict]:
        """The current (newest) explanation of every cell that has one (or of one cell)."""
        if not self.has("explanations"):
            return {}
        out: dict[int, dict] = {}
        clauses, args = [], []
        if cell is not None:
            clauses.append("cell = ?")
            args.append(cell)
        if cells is not None:
            clauses.append(id_list("cell", cells, args))
        for r in self.db["explanations"].rows_where(" and ".join(clauses) or None, args, order_by="id"):
            r["caveats"] = json.loads(r["caveats"] or "[]")
            r["unverified"] = json.loads(r["unverified"] or "[]")
            out[r["cell"]] = r
        return out

    def cached_explanation(self, cache_key: str) -> dict | None:
        if not self.has("explanations"):
            return None
        rows = list(self.db["explanations"].rows_where("cache_key = ?", [cache_key], order_by="id desc", limit=1))
        if not rows:
            return None
        r = rows[0]
        r["caveats"] = json.loads(r["caveats"] or "[]")
        r["unverified"] = json.loads(r["unverified"] or "[]")
        return r

    def problems(self) -> list[dict]:
        return list(self.db["problems"].rows_where(order_by="kind"))


    def timeline(self, cells: Iterable[int] | None = None) -> list[TimelineEntry]:
        """Cells in run order, each with the frames it changed: what `cellsync show` prints.
        `cells` (store ids) limits it to those cells: how a live view refreshes only what
        `changed_cells` reports."""
        if cells is not None:
            cells = sorted(set(cells))
            if not cells:
                return []
        by_cell: dict[int, list[Version]] = {}
        for v in self.versions(profiles=False, cells=cells):
            by_cell.setdefault(v.cell, []).append(v)
        impacts_by_cell: dict[int, list[ImpactSummary]] = {}
        for imp in self.impacts(cells=cells):
            impacts_by_cell.setdefault(imp["cell"], []).append(impact_summary(imp))
        metrics_by_cell: dict[int, list[MetricSummary]] = {}
        for m in self.metrics(cells=cells):
            metrics_by_cell.setdefault(m["cell"], []).append(metric_summary(m))
        explanations = self.explanations(cells=cells)
        out = []
        for c in self.cells(ids=cells):
            entry = cell_entry(c, by_cell.get(c.id, []), impacts_by_cell.get(c.id, []), metrics_by_cell.get(c.id, []))
            ex = explanations.get(c.id)
            if ex:
                entry = dataclasses.replace(entry, summary=ex["summary"], summary_model=ex["model"],
                                            unverified_numbers=tuple(ex["unverified"]))
            out.append(entry)
        return out

    def data_version(self) -> int:
        """SQLite's PRAGMA data_version: moves whenever another connection commits. A
        microsecond query: what a live view asks first, before anything costlier."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # what a live view polls: the highest row id of each table a timeline entry reads
    _MARKED = (("cells", "id", "id"), ("versions", "rowid", "cell"), ("impacts", "id", "cell"),
               ("metrics", "id", "cell"), ("explanations", "id", "cell"))

    def marks(self) -> dict[str, int]:
        """The highest row id of every table a timeline entry is built from. Rows are only
        ever added, so two marks tell which cells changed in between (`changed_cells`)."""
        out = {}
        for table, key, _ in self._MARKED:
            if self.has(table):
                out[table] = self.db.execute(f"select coalesce(max({key}), 0) from {table}").fetchone()[0]
        return out

    def changed_cells(self, since: dict[str, int]) -> set[int]:
        """Store ids of the cells whose timeline entries gained rows after the marks `since`
        (new cells, and older cells whose summary, metrics or impacts arrived later)."""
        out: set[int] = set()
        for table, key, cell in self._MARKED:
            if self.has(table):
                out.update(r[0] for r in self.db.execute(
                    f"select distinct {cell} from {table} where {key} > ? and {cell} is not null", [since.get(table, 0)]))
        return out

    def summary(self) -> dict[str, Any]:
        def count(table):
            return self.db[table].count if table in self.db.table_names() else 0

        return {
            "path": str(self.path),
            "sessions": count("sessions"),
            "cells": count("cells"),
            "versions": count("versions"),
            "frames": len(self.frames()),
            "problems": self.problems(),
            "size_bytes": store_size(self.path),
        }

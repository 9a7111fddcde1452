"""Stage 2 of the worker's pipeline: what each change was (`operations.classify_cell`),
decided with the whole cell in view (a split needs every part)."""

from __future__ import annotations

import dataclasses

from ..changes import CellJob
from ..operations import Change as OpChange, classify_cell


class OperationStage:
    def __init__(self, on_problem):
        self.on_problem = on_problem

    def run(self, job: CellJob, done_changes) -> dict:
        """What each change was (operations.py), decided with the whole cell in view."""
        try:
            changes = [
                OpChange(
                    name=ch.name, change=ch.change, version_id=v.id, is_series=ch.is_series,
                    parent=v.parent_frame, parent_version=v.parent_id, parent_is_series=ch.parent_is_series,
                    frame=ch.frame, parent_frame=ch.parent_frame if v.parent_frame else None,
                    diff=v.diff, match=match, binding=ch.binding,
                    mutations=job.lineage.mutations.get(ch.name, []), now=ch.now,
                    deleted_by_code=ch.name in job.lineage.deleted, others=ch.others,
                    estimators=job.estimators,
                )
                for ch, v, match in done_changes
            ]
            ops = classify_cell(changes, job.lineage, self.on_problem)
        except Exception as exc:
            self.on_problem(f"operations.{type(exc).__name__}", exc)
            return {}
        return {vid: dataclasses.replace(op, series=ch.is_series) for vid, op in ops.items()
                for ch in [next(c for c, v, _ in done_changes if v.id == vid)]}

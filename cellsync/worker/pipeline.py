"""One cell through the worker's stages, in order:

    versions -> operations -> segments -> metrics -> store.write_cell -> explanation

Each stage is a small class in its own module holding only its own memory (recent plans and
profiles; the segment registry; the last value of each metric); this module only passes a
cell's records from one to the next and writes them in one transaction.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..changes import CellJob
from ..config import Settings
from ..sections import section_of
from ..store import Store
from .explanation import ExplanationStage
from .metrics import MetricStage
from .operations import OperationStage
from .segments import SegmentStage
from .versions import VersionStage


class Pipeline:
    def __init__(self, store_path: Path, session_id: str, cfg: Settings, on_problem, store):
        self.segments = SegmentStage(cfg, on_problem)
        self.versions = VersionStage(session_id, cfg, on_problem, store, self.segments.segments_for)
        self.operations = OperationStage(on_problem)
        self.metrics = MetricStage(cfg, on_problem, self.segments)
        self.explanation = ExplanationStage(store_path, cfg, on_problem, self.segments)
        self.on_problem = on_problem
        self.versions_written = 0

    def process(self, job: CellJob, store: Store) -> None:
        new_segments = self.segments.start(job, store)
        self.explanation.known_frames = job.known_frames
        done_changes = self.versions.run(job)
        operations = self.operations.run(job, done_changes)
        versions, impacts = [], []
        for ch, version, match in done_changes:
            op = operations.get(version.id)
            if op is not None:
                version = dataclasses.replace(version, operation=op)
            versions.append(version)
            if ch.frame is None:  # engines: impacts come with the version; suggestions from its profile
                found = self.segments.engine_by_construction(ch, getattr(ch, "impacts", ()))
                impacts.extend((version.id, ch.name, imp) for imp in found)
                new_segments.extend(self.segments.run_engine(ch, version, job))
                continue
            made, found = self.segments.run(ch, version, match, job)
            new_segments.extend(made)
            impacts.extend((version.id, ch.name, imp) for imp in found)
        metrics = self.metrics.run(job)
        section = section_of(job.cell.notebook, job.cell.cell_id)
        if section is not None:
            job.cell = dataclasses.replace(job.cell, section=section)
        cell_pk = store.write_cell(job.cell, versions, impacts=impacts, metrics=metrics, models=job.models,
                                   segments=new_segments, retired=job.retired)
        self.versions_written += len(versions)
        try:
            self.explanation.run(store, cell_pk, job.cell, versions, impacts, metrics)
        except Exception as exc:
            self.on_problem(f"explain.{type(exc).__name__}", exc)

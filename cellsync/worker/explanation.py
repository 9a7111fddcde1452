"""Stage 5 of the worker's pipeline: the explanation — the offline summary at once
(milliseconds), an LLM's later in `ExplainService`'s own thread when one is configured."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import Settings
from ..explain import OFFLINE, ExplainService, build_facts, cache_key, explain
from ..explain.facts import sample_values
from ..store import cell_entry, impact_summary, metric_summary


class ExplanationStage:
    def __init__(self, store_path: Path, cfg: Settings, on_problem, segments):
        self.store_path = store_path
        self.cfg = cfg
        self.on_problem = on_problem
        self.segments = segments  # the SegmentStage: user segments are named in the facts
        self.known_frames: tuple[str, ...] = ()
        self.service: ExplainService | None = None  # started when an LLM is configured

    def run(self, store, cell_pk, cell, versions, impacts, metrics) -> None:
        """The offline summary now (milliseconds), an LLM's later in its own thread."""
        entry = cell_entry(
            dataclasses.replace(cell, id=cell_pk), versions,
            [impact_summary({**imp.to_dict(), "frame": frame}) for _, frame, imp in impacts],
            [metric_summary(m.to_dict()) for m in metrics],
        )
        user = self.segments.user_texts()
        samples = sample_values(versions) if self.cfg.explain_sample_values else None
        facts = build_facts(entry, user, samples=samples, known_frames=self.known_frames)
        store.write_explanation(cell_pk, explain(facts, OFFLINE, self.cfg), cache_key(facts, OFFLINE))
        if self.cfg.explain_model != OFFLINE:
            if self.service is None:
                self.service = ExplainService(self.store_path, self.cfg, self.on_problem)
            self.service.submit(cell_pk, facts)

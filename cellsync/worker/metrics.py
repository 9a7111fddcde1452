"""Stage 4 of the worker's pipeline: metrics — which captured values changed (with their
previous value), logged metrics, and logged predictions scored overall and per segment."""

from __future__ import annotations

import math

from ..changes import CellJob
from ..config import Settings
from ..metrics import MetricValue, finite, same_value, score
from ..profile import profile_frame
from ..segments import suggest


class MetricStage:
    def __init__(self, cfg: Settings, on_problem, segments):
        self.cfg = cfg
        self.on_problem = on_problem
        self.segments = segments  # the SegmentStage: per-segment scores use its segments
        self.last: dict[tuple, float | None] = {}

    def run(self, job: CellJob) -> list:
        out = []

        def record(name, value, source, segment=None, model=None, n=None, always=False):
            key = (name, segment, model)
            previous = self.last.get(key)
            if not always and key in self.last and same_value(previous, value):
                return
            self.last[key] = value
            out.append(MetricValue(
                name=name, value=finite(value), previous=finite(previous), segment=segment,
                model=model, source=source, n=n,
                note=None if finite(value) is not None else ("not a number (NaN)" if value is not None and math.isnan(value) else "undefined here"),
            ))

        for name, value, source in job.captured:
            try:
                record(name, value, source)
            except Exception as exc:
                self.on_problem(f"metrics.{type(exc).__name__}", exc)
        for m in job.logged:
            record(m.name, m.value, "log_metrics", always=True)
        for pred, data_name in job.predictions:
            try:
                self._score(pred, data_name, record)
            except Exception as exc:
                self.on_problem(f"predictions.{type(exc).__name__}", exc)
        return out

    def _score(self, pred, data_name, record) -> None:
        """Overall and per-segment scores of logged predictions, handed to `record`."""
        for metric, value in score(pred).items():
            record(metric, value, "log_predictions", model=pred.name, n=len(pred.y_true), always=True)
        if pred.data is None:
            return
        # never a segment of the target itself: "accuracy for readmitted = 1" is recall
        targets = self.segments.targets | ({pred.target} if pred.target else set())
        segs = self.segments.segments_for(data_name)
        segs = [s for s in segs if s.fits(pred.data) and not set(s.columns) & targets]
        if not segs:
            segs = suggest(pred.data, profile_frame(pred.data, self.cfg), limit=self.cfg.max_suggested_segments,
                           max_values=self.cfg.segment_max_values, skip_columns=targets)
        for seg in segs:
            rows = seg.mask(pred.data)
            n = int(rows.sum())
            if n == 0:
                record("rows", 0.0, "log_predictions", segment=seg.text, model=pred.name, n=0, always=True)
                continue
            for metric, value in score(pred, rows).items():
                record(metric, value, "log_predictions", segment=seg.text, model=pred.name, n=n, always=True)

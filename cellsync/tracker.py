"""After every cell: find the dataframes that changed, cheaply, and hand them to a worker.

The blocking part (`Tracker.after_cell`) runs on the kernel's main thread under the user's
cell, so it only compares fingerprints: per frame, the identity of its column arrays, its
labels and its index. pandas 3 copy-on-write makes that exact: we hold a shallow copy of each
frame's last version, so an in-place write must copy the touched column and the fingerprint
changes. Where identity tells nothing (pandas 2 without copy-on-write; object columns whose
list/dict elements are mutated) we fall back to hashing content, for those frames or columns
only. Profiling, diffing and persisting happen in `Worker`, off the user's path.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import logging
import math
import os
import platform
import queue
import threading
import time
import traceback
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .config import Settings, settings as default_settings
from .diff import diff_frames, new_frame_diff, row_hashes
from .errors import CellsyncError
from .lineage import CellLineage, analyse, parent_of
from .operations import Change as OpChange, choose_parent, classify_cell, follows_rows, same_rows
from .metrics import MetricValue, captured_values, displayed_values, estimator_signature, finite, is_estimator, model_info, same_value, score
from .profile import label_text, profile_frame
from .segments import by_construction, impacts as segment_impacts, is_value_segment, suggest
from .redact import redact
from .explain import OFFLINE, ExplainService, build_facts, cache_key, explain
from .explain.facts import sample_values
from .store import CellRun, Store, Version, cell_entry, impact_summary, metric_summary
from .cache import BoundedDict
from .work import WorkCounter
from . import quiet
from .engines import engine_changes, engine_version
from .versions import DataPlan, persist

# CellSync's own problems go to `<store>/cellsync.log`, never to the notebook: a handler-less
# logger prints through logging's last resort to stderr, which in a kernel lands under
# whichever user cell runs next, stack and all.
log = logging.getLogger("cellsync.problems")
log.propagate = False
LOG_NAME = "cellsync.log"

# Cells CellSync runs itself during `cellsync replay` start with this line and are not recorded.
INTERNAL_MARKER = "# cellsync: internal"

_MUTABLE_ELEMENTS = (list, dict, set, bytearray, np.ndarray)


def copy_on_write_active() -> bool:
    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return pd.options.mode.copy_on_write is True


# --- fingerprints --------------------------------------------------------------------------


def _array_identity(values) -> tuple:
    if isinstance(values, np.ndarray):
        return ("np", values.__array_interface__["data"][0], values.shape, values.strides, values.dtype.str)
    return ("ea", id(values))


def fingerprint(obj: pd.DataFrame | pd.Series) -> tuple:
    """O(columns) identity of a frame's data. Equal fingerprints mean unchanged content as
    long as a shallow copy of the frame is held (copy-on-write)."""
    try:
        blocks = obj._mgr.blocks  # pandas internals: guarded, with a content fallback below
        parts = tuple(
            (_array_identity(b.values), tuple(b.mgr_locs.as_array.tolist()) if len(blocks) > 1 else None)
            for b in blocks
        )
    except Exception:
        parts = ("content", _content_hash(obj))
    return (obj.shape, parts)


def _content_hash(obj) -> bytes:
    """Content of values and labels: the fallback where array identity tells nothing."""
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    h = hashlib.blake2b(digest_size=16)
    h.update(row_hashes(frame).tobytes())
    h.update(pd.util.hash_pandas_object(frame.index).to_numpy().tobytes())
    return h.digest()


@dataclass
class TrackedObject:
    """What we know about one live frame object (possibly bound to several names)."""

    ref: Any  # weakref to the user's object
    snapshot: Any  # shallow copy of the last recorded version (keeps copy-on-write honest)
    fp: tuple
    index: Any
    columns: Any
    content: bytes | None = None  # content hash, only where identity tells nothing
    deep_columns: tuple[int, ...] = ()  # object columns holding mutable elements
    deep_text: dict[int, np.ndarray] = field(default_factory=dict)  # their repr at the snapshot
    # `df.index.name = "id"` renames the very index object the fingerprint holds: keep the names
    index_names: tuple = ()
    column_names: tuple = ()
    names: set[str] = field(default_factory=set)


@dataclass
class FrameChange:
    """One name's new version, handed to the worker."""

    name: str
    change: str  # new | rebound | mutated | alias | deleted
    version_id: str
    object_key: int  # frames with the same key are one object: profile and persist once
    frame: pd.DataFrame | None
    diff_frame: pd.DataFrame | None = None  # frame with element-mutable columns as text
    parent_version: str | None = None
    parent_name: str | None = None
    parent_frame: pd.DataFrame | None = None
    same_index: bool = False  # edited in place with the very same index object: labels hold
    is_series: bool = False
    parent_is_series: bool = False
    series_named: bool = False  # a Series with a name of its own (not labelled by its variable)
    parent_series_named: bool = False
    binding: Any = None  # lineage.Binding: the statement that bound this name, if any
    now: dict | None = None  # deleted: what the name holds now, if anything (an array...)
    others: dict = field(default_factory=dict)  # other tracked frames the statement read
    other_versions: dict = field(default_factory=dict)  # their version ids
    other_series: set = field(default_factory=set)  # which of them are Series


@dataclass
class CellJob:
    cell: CellRun
    changes: list[FrameChange]
    captured: list[tuple[str, float, str]] = field(default_factory=list)  # metric-like values
    models: list = field(default_factory=list)  # ModelInfo of estimators new or refitted
    logged: list = field(default_factory=list)  # MetricValue from log_metrics
    predictions: list = field(default_factory=list)  # (Predictions, data frame name or None)
    segments: list = field(default_factory=list)  # Segment from cellsync.segment()
    lineage: CellLineage = field(default_factory=CellLineage)  # the cell's AST reading
    targets: set = field(default_factory=set)  # column names the cell used as a model's target
    known_frames: tuple = ()  # names bound to tracked frames after the cell
    retired: list = field(default_factory=list)  # (frame, text) of suggestions made stale
    estimators: dict = field(default_factory=dict)  # name -> class name of estimators bound


def _as_frame(obj, name: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        return obj.to_frame(name=obj.name if obj.name is not None else name)
    return obj


def _deep_columns(frame: pd.DataFrame) -> tuple[int, ...]:
    """Object columns whose elements can change without the column array changing.
    Runs in the blocking part: looks only at object columns, and at their first 1,000 values."""
    dtypes = frame.dtypes.to_numpy()
    out = []
    for j in np.flatnonzero(dtypes == object):
        head = frame.iloc[: min(len(frame), 1000), j]
        if any(isinstance(v, _MUTABLE_ELEMENTS) for v in head.array):
            out.append(int(j))
    return tuple(out)


def _column_text(col: pd.Series) -> np.ndarray:
    return np.asarray([repr(v) for v in col.array], dtype=object)


# --- the worker ----------------------------------------------------------------------------


class Worker:
    """Profiles, diffs, persists and writes one cell at a time, in order, in a thread."""

    def __init__(self, store_path: Path, session_id: str, cfg: Settings, on_problem):
        self.store_path = Path(store_path)
        self.session_id = session_id
        self.cfg = cfg
        self.on_problem = on_problem
        self._queue: queue.Queue = queue.Queue()
        self._work = WorkCounter()
        self._store: Store | None = None
        # recent versions' data plans and profiles: a parent is nearly always recent; an older
        # one's plan is read back from the store, and its profile is simply recomputed
        self._plans: BoundedDict = BoundedDict(256)
        self._profiles: BoundedDict = BoundedDict(64)
        self._redirect: dict[str, str] = {}  # version found unchanged -> the version it equals
        self._segments: dict[str, list] | None = None  # frame name ("" any) -> segments
        self._last_metric: dict[tuple, float | None] = {}
        self._columns_seen: dict[str, set[str]] = {}  # frame name -> columns of its latest version
        self._targets: set[str] = set()  # columns used as a model's target: no segments on them
        self._known_frames: tuple[str, ...] = ()
        self.explainer = None  # ExplainService, started when an LLM is configured
        self._pending_session: tuple | None = None
        self.versions_written = 0
        self.bytes_written = 0
        self.last_job_seconds = 0.0
        quiet.install()
        self._thread = threading.Thread(target=self._run, name="cellsync-worker", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._work.pending

    def start_session(self, session_id: str, notebook: str | None, info: dict) -> None:
        self._submit(("session", session_id, notebook, info))

    def submit(self, job: CellJob) -> None:
        self._submit(("cell", job))

    def _submit(self, item) -> None:
        self._work.add()
        self._queue.put(item)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything submitted so far is in the store, LLM summaries included.
        False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._work.wait(timeout):
            return False
        if self.explainer is not None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            return self.explainer.flush(remaining)
        return True

    def stop(self, timeout: float | None = None) -> bool:
        drained = self.flush(timeout)
        if self.explainer is not None:
            self.explainer.stop()
        self._queue.put(None)
        self._thread.join(timeout=1.0 if not drained else timeout)
        if self._store is not None and not self._thread.is_alive():
            self._store.close()
        return drained

    def _run(self) -> None:
        quiet.mark_current_thread()  # the libraries' warning filters must not reach the user's
        while True:
            item = self._queue.get()
            if item is None:
                return
            # let IPython finish the cell (output, history) before this thread takes the GIL
            time.sleep(0.005)
            started = time.perf_counter()
            try:
                if item[0] == "session":
                    self._open().start_session(item[1], item[2], item[3])
                else:
                    self._process(item[1])
            except Exception as exc:
                self.on_problem(f"worker.{type(exc).__name__}", exc)
            finally:
                self.last_job_seconds = time.perf_counter() - started
                self._work.done()

    def _open(self) -> Store:
        if self._store is None:
            self._store = Store(self.store_path)
        return self._store

    def _process(self, job: CellJob) -> None:
        store = self._open()
        self._load_segments(store)
        self._targets |= job.targets
        self._known_frames = job.known_frames
        new_segments = list(job.segments)
        for seg in job.segments:
            self._register(seg)
        done_changes: list[tuple[FrameChange, Version, Any]] = []
        by_object: dict[int, tuple] = {}  # profile/plan computed once per object version
        for ch in job.changes:
            try:
                done = self._version(ch, by_object, job)
            except Exception as exc:
                self.on_problem(f"version.{type(exc).__name__}", exc)
                done = (Version(
                    id=ch.version_id,
                    frame=ch.name,
                    session_id=job.cell.session_id,
                    change=ch.change,
                    n_rows=None if ch.frame is None else int(ch.frame.shape[0]),
                    n_cols=None if ch.frame is None else int(ch.frame.shape[1]),
                    parent_id=self._resolve(ch.parent_version),
                    parent_frame=ch.parent_name,
                    note=f"not profiled: {type(exc).__name__}: {exc}"[:300],
                ), None)
            if done is not None:
                done_changes.append((ch, *done))
        operations = self._operations(job, done_changes)
        versions: list[Version] = []
        impacts: list[tuple[str, str, Any]] = []
        for ch, version, match in done_changes:
            op = operations.get(version.id)
            if op is not None:
                version = dataclasses.replace(version, operation=op)
            versions.append(version)
            if ch.frame is None:
                impacts.extend((version.id, ch.name, imp) for imp in getattr(ch, "impacts", ()))  # engines
                continue
            try:
                if version.profile is not None:
                    self._columns_seen[ch.name] = {c.name for c in version.profile.columns}
                new_segments.extend(self._suggest(ch.name, ch.frame, version, ch.parent_name, job))
                impacts.extend((version.id, ch.name, imp) for imp in self._impacts(ch, version, match))
            except Exception as exc:
                self.on_problem(f"segments.{type(exc).__name__}", exc)
        metrics = self._metrics(job)
        cell_pk = store.write_cell(job.cell, versions, impacts=impacts, metrics=metrics, models=job.models,
                                   segments=new_segments, retired=job.retired)
        self.versions_written += len(versions)
        try:
            self._explain(store, cell_pk, job.cell, versions, impacts, metrics)
        except Exception as exc:
            self.on_problem(f"explain.{type(exc).__name__}", exc)

    def _operations(self, job: CellJob, done_changes) -> dict:
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
            ops = classify_cell(changes, job.lineage)
        except Exception as exc:
            self.on_problem(f"operations.{type(exc).__name__}", exc)
            return {}
        return {vid: dataclasses.replace(op, series=ch.is_series) for vid, op in ops.items()
                for ch in [next(c for c, v, _ in done_changes if v.id == vid)]}

    def _explain(self, store, cell_pk, cell, versions, impacts, metrics) -> None:
        """The offline summary now (milliseconds), an LLM's later in its own thread."""
        entry = cell_entry(
            dataclasses.replace(cell, id=cell_pk), versions,
            [{**impact_summary(imp.to_dict()), "frame": frame} for _, frame, imp in impacts],
            [metric_summary(m.to_dict()) for m in metrics],
        )
        user = {s.text for segs in self._segments.values() for s in segs if s.source != "suggested"}
        samples = sample_values(versions) if self.cfg.explain_sample_values else None
        facts = build_facts(entry, user, samples=samples, known_frames=self._known_frames)
        store.write_explanation(cell_pk, explain(facts, OFFLINE, self.cfg), cache_key(facts, OFFLINE))
        if self.cfg.explain_model != OFFLINE:
            if self.explainer is None:
                self.explainer = ExplainService(self.store_path, self.cfg, self.on_problem)
            self.explainer.submit(cell_pk, facts)

    # --- segments ---------------------------------------------------------------------------

    def _load_segments(self, store: Store) -> None:
        if self._segments is None:
            self._segments = {}
            for seg in store.segments():
                self._register(seg)

    def _register(self, seg) -> None:
        bucket = self._segments.setdefault(seg.frame or "", [])
        if all(s.text != seg.text for s in bucket):
            bucket.append(seg)

    def segments_for(self, *names: str | None) -> list:
        """Segments of these frames, and those for any frame, without repeats."""
        seen, out = set(), []
        for key in ("", *[n for n in names if n]):
            for seg in self._segments.get(key, []):
                if seg.text not in seen:
                    seen.add(seg.text)
                    out.append(seg)
        return out

    def _suggest(self, name: str, frame: pd.DataFrame, version: Version, parent: str | None, job: CellJob) -> list:
        """Suggestions are made once per frame name, from its first profiled version, so that
        quartile thresholds stay fixed while the frame changes. A frame derived from another
        inherits the parent's suggestions (same thresholds, so the two can be compared) and
        gets new ones only for columns the parent did not have. Value segments of a column
        whose values a cell rewrote, and that match nothing any more, are retired and made
        again from the new values. Never on a model's target or on identifiers."""
        profile = version.profile
        if profile is None:
            return []
        mine = [s for s in self._segments.get(name, []) if s.source == "suggested"]
        if mine:
            return self._refresh_suggestions(name, frame, version, mine, job)
        inherited = []
        parent_columns: set[str] = set()
        if parent and parent != name:
            for seg in self._segments.get(parent, []):
                if seg.source == "suggested" and seg.fits(frame) and not set(seg.columns) & self._targets:
                    inherited.append(dataclasses.replace(seg, frame=name))
            parent_profile_cols = self._columns_seen.get(parent, set())
            parent_columns = parent_profile_cols
        own = suggest(frame, profile, limit=self.cfg.max_suggested_segments,
                      max_values=self.cfg.segment_max_values, frame_name=name,
                      skip_columns=parent_columns | self._targets)
        made = (inherited + own)[: self.cfg.max_suggested_segments]
        for seg in made:
            self._register(seg)
        return made

    def _refresh_suggestions(self, name, frame, version, mine, job) -> list:
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
        bucket = self._segments.get(name, [])
        for seg in stale:
            bucket.remove(seg)
            job.retired.append((name, seg.text))
        columns = {c for seg in stale for c in seg.columns}
        others = {c.name for c in version.profile.columns} - columns
        fresh = [seg for seg in suggest(frame, version.profile, limit=self.cfg.max_suggested_segments,
                                        max_values=self.cfg.segment_max_values, frame_name=name,
                                        skip_columns=others | self._targets)
                 if is_value_segment(seg)]
        for seg in fresh:
            self._register(seg)
        return fresh

    def _impacts(self, ch: FrameChange, version: Version, match) -> list:
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

    # --- metrics ----------------------------------------------------------------------------

    def _metrics(self, job: CellJob) -> list:
        out = []

        def record(name, value, source, segment=None, model=None, n=None, always=False):
            key = (name, segment, model)
            previous = self._last_metric.get(key)
            if not always and key in self._last_metric and same_value(previous, value):
                return
            self._last_metric[key] = value
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
        targets = self._targets | ({pred.target} if pred.target else set())
        segs = self.segments_for(data_name)
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

    def _reusable(self, parent_id, diff, match) -> dict:
        """Column profiles that can be carried over from the parent: same rows (none removed,
        added or reordered away) and the same values, per the diff."""
        parent = self._profiles.get(parent_id) if parent_id else None
        if parent is None or match is None or diff.rows_removed or diff.rows_added:
            return {}
        if diff.rows_before != diff.rows_after or match.method == "reshape":
            return {}
        by_position = {c.position: c for c in parent.columns}
        return {new: by_position[old] for new, old in match.same_columns.items() if old in by_position}

    def _parent_plan(self, parent_id: str | None) -> DataPlan | None:
        if parent_id is None:
            return None
        plan = self._plans.get(parent_id)
        if plan is None:
            try:
                plan = self._open().plan(parent_id)
            except Exception:  # not persisted: this version is then written whole
                return None
        return plan

    def _resolve(self, version_id: str | None) -> str | None:
        while version_id in self._redirect:
            version_id = self._redirect[version_id]
        return version_id

    def _choose_parent(self, ch: FrameChange, job: CellJob) -> None:
        """Check the code's parent against the data (operations.choose_parent)."""
        if ch.change not in ("new", "rebound") or ch.frame is None or ch.binding is None:
            return
        candidates = dict(ch.others)
        if ch.parent_frame is not None:
            candidates = {ch.parent_name: ch.parent_frame, **candidates}
        if not candidates:
            return
        chosen = choose_parent(ch.parent_name or next(iter(candidates)), candidates, ch.frame, ch.binding, job.estimators)
        if chosen == ch.parent_name:
            return
        if chosen is None:
            ch.parent_name = ch.parent_version = ch.parent_frame = None
            ch.diff_frame = None
            ch.parent_is_series = False
            return
        ch.others = {n: f for n, f in candidates.items() if n != chosen}
        ch.parent_name, ch.parent_frame = chosen, candidates[chosen]
        ch.parent_version = ch.other_versions.get(chosen)
        ch.parent_is_series = chosen in ch.other_series
        ch.diff_frame = None

    def _version(self, ch: FrameChange, by_object: dict, job: CellJob) -> tuple[Version, Any] | None:
        if getattr(ch, "engine", None):  # polars / Spark frames: profiled by their engine (cellsync/engines)
            return engine_version(self, ch)
        cfg = self.cfg
        self._choose_parent(ch, job)
        parent_id = self._resolve(ch.parent_version)
        if ch.change == "deleted":
            return Version(
                id=ch.version_id, frame=ch.name, session_id=self.session_id, change="deleted",
                n_rows=None, n_cols=None, parent_id=parent_id, parent_frame=ch.parent_name,
            ), None
        frame = ch.frame
        if ch.parent_frame is not None:
            parent_frame = ch.parent_frame
            if ch.is_series and ch.parent_is_series and not (ch.series_named and ch.parent_series_named) \
                    and parent_frame.shape[1] == frame.shape[1] == 1:
                # an unnamed series is labelled by its variable: `ts_utc = ts.tz_localize(..)`
                # is not "column ts dropped, ts_utc added"
                parent_frame = parent_frame.set_axis(frame.columns, axis=1)
            diff, match = diff_frames(
                parent_frame,
                ch.diff_frame if ch.diff_frame is not None else frame,
                # the code's reading, unless the result has exactly the parent's row labels (a
                # rolling window, a groupby-apply that keeps every row): then rows are followed
                follow_rows=follows_rows(ch.binding, job.estimators) or same_rows(parent_frame, frame, ch.binding),
                trust_labels=ch.same_index,
            )
            if ch.change == "mutated" and not diff.changed:
                # rewritten but equal (a re-consolidation, `df[c] = df[c]`): no new version
                self._redirect[ch.version_id] = parent_id
                return None
        else:
            diff, match = new_frame_diff(frame), None
        cached = by_object.get(ch.object_key)
        if cached is None:
            profile = profile_frame(frame, cfg, reuse=self._reusable(parent_id, diff, match))
            parent_plan = self._parent_plan(parent_id)
            try:
                plan = persist(
                    self._open().files,
                    frame,
                    cfg,
                    parent=parent_plan,
                    parent_id=parent_id,
                    parent_positions=match.parent_positions(len(frame)) if match else None,
                    same_columns=match.same_columns if match else None,
                    same_index=match.same_index if match else False,
                    series=ch.is_series,
                )
            except Exception as exc:
                # data that cannot be stored must not cost the version its diff and profile
                self.on_problem(f"persist.{type(exc).__name__}", exc)
                plan = DataPlan(kind="none", rows=len(frame), note=f"not persisted: {type(exc).__name__}: {exc}"[:300])
            self.bytes_written += plan.bytes_written
            by_object[ch.object_key] = (profile, plan)
        else:
            profile, plan = cached
        self._plans[ch.version_id] = plan
        self._profiles[ch.version_id] = profile
        return Version(
            id=ch.version_id,
            frame=ch.name,
            session_id=self.session_id,
            change=ch.change,
            n_rows=int(frame.shape[0]),
            n_cols=int(frame.shape[1]),
            parent_id=parent_id,
            parent_frame=ch.parent_name,
            profile=profile,
            diff=diff,
            data=plan,
            note=profile.note,
        ), match


# --- the tracker ---------------------------------------------------------------------------


class Tracker:
    """Watches one namespace (an IPython shell's, or any dict) and records every cell."""

    def __init__(
        self,
        namespace: dict,
        store_path: str | Path | None = None,
        notebook: str | None = None,
        cfg: Settings | None = None,
        transform=None,
    ):
        self.ns = namespace
        self.cfg = cfg or default_settings
        self.notebook = notebook
        self.transform = transform  # IPython's transform_cell: magics -> Python, for lineage
        self.store_path = Path(store_path or default_store_path(notebook))
        self.session_id = uuid.uuid4().hex
        self.cow = copy_on_write_active()
        self.paused = False
        self.seq = 0
        self.cells_seen = 0
        self.problems: Counter = Counter()
        self.problem_messages: dict[str, str] = {}
        self._problem_lock = threading.Lock()
        self._unannounced: list[str] = []  # kinds not yet mentioned in the notebook
        self._log_handler = None
        self.hook_seconds_last = 0.0
        self.hook_seconds_max = 0.0
        self._objects: dict[int, TrackedObject] = {}
        self._names: dict[str, int] = {}  # name -> object key
        self._versions: dict[str, str] = {}  # name -> current version id
        self._prev_states: dict[str, TrackedObject | None] = {}
        self._prev_versions: dict[str, str] = {}
        self._pre: tuple | None = None
        self._next_cell_id: str | None = None
        self._lineage = CellLineage()
        self._estimators: dict[str, tuple] = {}
        self._logged: list = []
        self._predictions: list = []
        self._new_segments: list = []
        self.worker = self._start_worker()

    def _start_worker(self) -> Worker:
        w = Worker(self.store_path, self.session_id, self.cfg, self._problem)
        w.start_session(
            self.session_id,
            self.notebook,
            {
                "pid": os.getpid(),
                "python": platform.python_version(),
                "pandas": pd.__version__,
                "cellsync": __version__,
            },
        )
        return w

    # --- problems: counted, logged once per kind, never raised into the user's cell ---------

    def _problem(self, kind: str, exc: BaseException | str) -> None:
        message = str(exc) if not isinstance(exc, BaseException) else f"{type(exc).__name__}: {exc}"
        with self._problem_lock:
            first = kind not in self.problems
            self.problems[kind] += 1
            self.problem_messages[kind] = message
            if first:
                self._unannounced.append(kind)
        if first:
            detail = "".join(traceback.format_exception(exc)) if isinstance(exc, BaseException) else message
            self._log_to_store()
            log.warning("%s (%s); further problems of this kind are only counted.\n%s", kind, message, detail)
        try:
            if threading.current_thread() is self.worker._thread and self.worker._store is not None:
                self.worker._store.record_problem(kind, message)
        except Exception:
            pass

    def _log_to_store(self) -> None:
        """Attach the store's log file once (the folder may not exist until the first problem)."""
        if self._log_handler is not None:
            return
        import logging.handlers

        try:
            self.store_path.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(self.store_path / LOG_NAME, maxBytes=1_000_000, backupCount=1,
                                                           encoding="utf-8", delay=True)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        except Exception:
            handler = logging.NullHandler()  # an unwritable store: status still counts problems
        self._log_handler = handler
        log.addHandler(handler)

    def announce_problems(self) -> str | None:
        """One short line for kinds of problem first seen since the last call (no stack: the
        details are in the store's log and `%cellsync status`)."""
        with self._problem_lock:
            kinds, self._unannounced = self._unannounced, []
        if not kinds:
            return None
        return (f"CellSync could not record everything ({', '.join(kinds[:3])}{' …' if len(kinds) > 3 else ''}); "
                f"your code is not affected. Details: %cellsync status")

    # --- IPython events ---------------------------------------------------------------------

    def set_next_cell_id(self, cell_id: str | None) -> None:
        """For runners that cannot send JupyterLab's cell id (nbclient): use this one next."""
        self._next_cell_id = cell_id

    def before_cell(self, info=None) -> None:
        try:
            raw = getattr(info, "raw_cell", None) or ""
            if raw.lstrip().startswith(INTERNAL_MARKER):
                return
            cell_id = getattr(info, "cell_id", None) or self._next_cell_id
            self._next_cell_id = None
            self._pre = (time.time(), time.perf_counter(), raw, cell_id)
        except Exception as exc:  # pragma: no cover - defensive
            self._problem("hook.pre_run_cell", exc)

    def after_cell(self, result=None) -> None:
        started = time.perf_counter()
        try:
            self._after_cell(result)
        except Exception as exc:
            self._problem("hook.post_run_cell", exc)
        try:
            line = self.announce_problems() if self.cfg.announce_problems else None
            if line:
                print(line)
        except Exception:
            pass
        finally:
            self.hook_seconds_last = time.perf_counter() - started
            self.hook_seconds_max = max(self.hook_seconds_max, self.hook_seconds_last)

    def _after_cell(self, result) -> None:
        if self.paused:
            self._pre = None
            return
        pre, self._pre = self._pre, None
        info = getattr(result, "info", None)
        raw = (getattr(info, "raw_cell", None) if info is not None else None)
        if pre is None:
            # the cell that loaded the extension: it started before we were listening
            if raw is None:
                pre = (time.time(), time.perf_counter(), "", None)
            else:
                return
        wall, t0, pre_raw, cell_id = pre
        raw = raw if raw is not None else pre_raw
        if raw.lstrip().startswith(INTERNAL_MARKER):
            return
        cell_id = getattr(info, "cell_id", None) or cell_id
        status, etype, emsg = "ok", None, None
        error = None
        if result is not None:
            error = getattr(result, "error_before_exec", None) or getattr(result, "error_in_exec", None)
        if error is not None:
            status, etype, emsg = "error", type(error).__name__, str(error)[:2000]
        self.seq += 1
        self.cells_seen += 1
        cell = CellRun(
            session_id=self.session_id,
            seq=self.seq,
            execution_count=getattr(result, "execution_count", None),
            cell_id=cell_id,
            notebook=self.notebook,
            code=redact(raw),
            started_at=_iso(wall),
            duration_s=round(time.perf_counter() - t0, 6),
            status=status,
            error_type=etype,
            error_message=redact(emsg),
        )
        code = raw
        if self.transform is not None:
            try:
                code = self.transform(raw)
            except Exception:
                code = raw
        changes = self.scan(code)
        job = CellJob(cell, changes)
        if self.cfg.capture_metrics:
            try:
                job.captured, job.models = self.scan_metrics()
                job.captured += displayed_values(self._lineage.last_expression, getattr(result, "result", None))
                job.captured += self._assigned_metrics({name for name, _, _ in job.captured})
            except Exception as exc:
                self._problem("hook.metrics", exc)
        job.logged, self._logged = self._logged, []
        job.predictions, self._predictions = self._predictions, []
        job.segments, self._new_segments = self._new_segments, []
        job.lineage = self._lineage
        job.targets = self._target_columns()
        job.known_frames = tuple(sorted(self._names))
        job.estimators = {n: sig[0] for n, (_, sig) in self._estimators.items()}
        self.worker.submit(job)

    def _assigned_metrics(self, already: set[str]) -> list:
        """`scores = cross_val_score(...)`: a metric function's result bound to a name that does
        not look like a metric, captured named after the call."""
        out = []
        for name, binding in self._lineage.bindings.items():
            if name in already or binding.position is not None or not isinstance(binding.value, ast.Call):
                continue
            out += [(metric, value, "assigned") for metric, value, _ in displayed_values(binding.value, self.ns.get(name))]
        return out

    def _target_columns(self) -> set[str]:
        """Column names this cell used as a model's target: `fit(X, y)` with y a named Series."""
        out = set()
        for kind, ref in self._lineage.targets:
            if kind == "column":
                out.add(ref)
            else:
                value = self.ns.get(ref)
                if isinstance(value, pd.Series) and value.name is not None:
                    out.add(label_text(value.name))
        return out

    def scan_metrics(self) -> tuple[list, list]:
        """Metric-like values and new or refitted estimators in the namespace (cheap checks;
        the worker decides what changed)."""
        captured, models = [], []
        seen = set()
        for name, value in list(self.ns.items()):
            if name.startswith("_") or isinstance(value, (pd.DataFrame, pd.Series, type)):
                continue
            found = captured_values(name, value)
            if found:
                captured.extend(found)
            elif is_estimator(value):
                seen.add(name)
                sig = estimator_signature(value)
                if self._estimators.get(name) != (id(value), sig):
                    self._estimators[name] = (id(value), sig)
                    models.append(model_info(name, value))
        for gone in [n for n in self._estimators if n not in seen]:
            del self._estimators[gone]
        return captured, models

    # --- explicit API (called from the user's cell) -----------------------------------------

    def add_segment(self, seg) -> None:
        self._new_segments.append(seg)

    def log_metrics(self, values: dict) -> None:
        for name, value in values.items():
            num = float(value) if isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) else None
            if num is None:
                raise CellsyncError(f"metric {name!r} must be a number, not {type(value).__name__}")
            self._logged.append(MetricValue(name=str(name), value=num, source="log_metrics"))

    def log_predictions(self, predictions, data_obj) -> None:
        data_name = None
        if data_obj is not None:
            key = id(data_obj)
            data_name = next((n for n, k in sorted(self._names.items()) if k == key), None)
        self._predictions.append((predictions, data_name))

    def current_frames(self) -> dict[str, pd.DataFrame]:
        """The tracked frames as of the last cell (their snapshots), by name."""
        out = {}
        for name, key in self._names.items():
            state = self._objects.get(key)
            if state is not None:
                out[name] = _as_frame(state.snapshot, name)
        return out

    def record_existing(self, code: str = "", execution_count: int | None = None) -> int:
        """Record the frames that already exist when tracking starts, as versions of the cell
        that loaded CellSync, so the first real cell is not credited with creating them.
        Returns how many frames were found (nothing is recorded when there are none)."""
        changes = self.scan("")
        if not changes:
            return 0
        self.seq += 1
        self.cells_seen += 1
        cell = CellRun(
            session_id=self.session_id,
            seq=self.seq,
            execution_count=execution_count,
            cell_id=None,
            notebook=self.notebook,
            code=redact(code) or "%load_ext cellsync",
            started_at=_iso(time.time()),
            duration_s=0.0,
            status="ok",
        )
        self.worker.submit(CellJob(cell, changes))
        return len(changes)

    # --- change detection -------------------------------------------------------------------

    def _is_tracked_value(self, value) -> bool:
        if isinstance(value, pd.DataFrame):
            return True
        return self.cfg.track_series and isinstance(value, pd.Series)

    def scan(self, code: str = "") -> list[FrameChange]:
        """Compare the namespace with what we last recorded; return the changes (blocking)."""
        bound: dict[int, list[str]] = {}
        values: dict[int, Any] = {}
        for name, value in list(self.ns.items()):
            if name.startswith("_") or not self._is_tracked_value(value):
                continue
            bound.setdefault(id(value), []).append(name)
            values[id(value)] = value
        # what each name meant before this cell: the parent of `df = df.dropna()`
        self._prev_states = {n: self._objects.get(k) for n, k in self._names.items()}
        self._prev_versions = dict(self._versions)
        self._lineage = analyse(code) if code else CellLineage()
        changes: list[FrameChange] = engine_changes(self)  # polars / Spark frames: cellsync/engines
        fresh = []
        # objects we already follow first, so a frame derived from a frame that was also
        # changed in this cell gets that frame's new version as parent
        for key, names in bound.items():
            obj, state = values[key], self._objects.get(key)
            if state is not None and state.ref() is not obj:
                state = None  # the id was reused by another object
            if state is None:
                fresh.append(key)
            else:
                changes.extend(self._known_object(key, obj, state, sorted(names)))
        for key in fresh:
            changes.extend(self._new_object(key, values[key], sorted(bound[key]), self._lineage.sources))

        still_bound = {n for names in bound.values() for n in names}
        for name in [n for n in self._names if n not in still_bound]:
            changes.append(
                FrameChange(
                    name=name,
                    change="deleted",
                    version_id=uuid.uuid4().hex,
                    object_key=0,
                    frame=None,
                    parent_version=self._prev_versions.get(name),
                    parent_name=name,
                    now=_what_it_holds(self.ns[name]) if name in self.ns else None,
                )
            )
            del self._names[name]
            self._versions.pop(name, None)
        for key in [k for k in self._objects if k not in bound]:
            del self._objects[key]
        self._prev_states, self._prev_versions = {}, {}
        return changes

    def _snapshot(self, obj) -> TrackedObject:
        snap = obj.copy(deep=not self.cow)  # shallow under copy-on-write: costs no data
        frame = _as_frame(snap, "value")
        deep = _deep_columns(frame)
        return TrackedObject(
            ref=weakref.ref(obj),
            snapshot=snap,
            fp=fingerprint(obj),
            index=obj.index,
            columns=getattr(obj, "columns", None),
            content=None if self.cow else _content_hash(obj),
            deep_columns=deep,
            deep_text={j: _column_text(frame.iloc[:, j]) for j in deep},
            index_names=tuple(obj.index.names),
            column_names=tuple(obj.columns.names) if isinstance(obj, pd.DataFrame) else (),
        )

    def _changed(self, obj, state: TrackedObject) -> bool:
        if obj.shape != state.snapshot.shape:
            return True
        if isinstance(obj, pd.DataFrame):
            cols = obj.columns
            if cols is not state.columns and not (
                cols.equals(state.columns) and list(cols.names) == list(state.columns.names)
            ):
                return True
        elif obj.name != state.snapshot.name:
            return True
        if obj.index is not state.index and not (
            type(obj.index) is type(state.index)
            and obj.index.equals(state.index)
            and list(obj.index.names) == list(state.index.names)
        ):
            return True
        if tuple(obj.index.names) != state.index_names:
            return True
        if isinstance(obj, pd.DataFrame) and tuple(obj.columns.names) != state.column_names:
            return True
        if fingerprint(obj) != state.fp:
            return True
        if state.content is not None and _content_hash(obj) != state.content:
            return True
        if state.deep_columns:
            frame = _as_frame(obj, "value")
            for j in state.deep_columns:
                if not np.array_equal(_column_text(frame.iloc[:, j]), state.deep_text[j]):
                    return True
        return False

    def _known_object(self, key, obj, state: TrackedObject, names) -> list[FrameChange]:
        out = []
        changed = self._changed(obj, state)
        new_state = self._snapshot(obj) if changed else state
        new_state.names = set(state.names)
        self._objects[key] = new_state
        earlier = sorted(n for n in state.names if self._names.get(n) == key)
        for name in names:
            if name in earlier:
                if changed:
                    ch = self._change(name, "mutated", new_state, name, self._prev_versions.get(name), state)
                    ch.same_index = obj.index is state.index
                    out.append(ch)
            else:
                # a second name for a frame we already follow
                kind = "rebound" if name in self._names else "alias"
                parent = earlier[0] if earlier else None
                out.append(self._change(name, kind, new_state, parent, self._prev_versions.get(parent), state))
        new_state.names = set(names)
        return out

    def _new_object(self, key, obj, names, sources) -> list[FrameChange]:
        state = self._snapshot(obj)
        state.names = set(names)
        self._objects[key] = state
        out = []
        for name in names:
            kind = "rebound" if name in self._names else "new"
            parent = parent_of(name, sources, lambda n: n in self._prev_versions or n in self._versions)
            parent_state, parent_version = None, None
            if parent == name:
                parent_state, parent_version = self._prev_states.get(name), self._prev_versions.get(name)
            elif parent is not None:
                parent_state = self._objects.get(self._names.get(parent, -1))
                parent_version = self._versions.get(parent)
            out.append(self._change(name, kind, state, parent, parent_version, parent_state))
        return out

    def _change(self, name, kind, state, parent_name, parent_version, parent_state) -> FrameChange:
        frame = _as_frame(state.snapshot, name)
        binding = self._lineage.bindings.get(name) if kind in ("new", "rebound") else None
        parent_frame = diff_frame = None
        if parent_state is not None and parent_version is not None:
            parent_frame = _as_frame(parent_state.snapshot, parent_name)
            if parent_state.deep_columns:
                # the old snapshot shares mutable elements with the live frame: compare the
                # text both had, so element mutations show up as changed values
                parent_frame = parent_frame.copy(deep=False)
                diff_frame = frame.copy(deep=False)
                for j, text in parent_state.deep_text.items():
                    parent_frame.isetitem(j, text)
                    if j < diff_frame.shape[1] and diff_frame.iloc[:, j].dtype == object:
                        diff_frame.isetitem(j, _column_text(diff_frame.iloc[:, j]))
        else:
            parent_name = parent_version = None
        ch = FrameChange(
            name=name,
            change=kind,
            version_id=uuid.uuid4().hex,
            object_key=id(state.snapshot),
            frame=frame,
            diff_frame=diff_frame,
            parent_version=parent_version,
            parent_name=parent_name,
            parent_frame=parent_frame,
            is_series=isinstance(state.snapshot, pd.Series),
            parent_is_series=parent_state is not None and isinstance(parent_state.snapshot, pd.Series),
            series_named=isinstance(state.snapshot, pd.Series) and state.snapshot.name is not None,
            parent_series_named=parent_state is not None and isinstance(parent_state.snapshot, pd.Series)
            and parent_state.snapshot.name is not None,
            binding=binding,
        )
        if binding is not None:
            # the other frames this statement read: a join's right side, or the parent to
            # choose by shared rows where the code is ambiguous (`a, b = f(x, y)`)
            for other in self._lineage.sources.get(name, []):
                if other == parent_name or other == name:
                    continue
                other_state = self._objects.get(self._names.get(other, -1))
                if other_state is not None and other in self._versions:
                    ch.others[other] = _as_frame(other_state.snapshot, other)
                    ch.other_versions[other] = self._versions[other]
                    if isinstance(other_state.snapshot, pd.Series):
                        ch.other_series.add(other)
        self._names[name] = id(state.ref()) if state.ref() is not None else -1
        self._versions[name] = ch.version_id
        return ch

    # --- control ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        return self.worker.flush(timeout)

    def close(self, timeout: float | None = None) -> bool:
        return self.worker.stop(self.cfg.flush_on_exit_timeout if timeout is None else timeout)

    def status(self) -> dict:
        return {
            "store": str(self.store_path),
            "session": self.session_id,
            "paused": self.paused,
            "cells_tracked": self.cells_seen,
            "frames": sorted(self._names),
            "versions_written": self.worker.versions_written,
            "bytes_written": self.worker.bytes_written,
            "queue": self.worker.pending,
            "hook_ms_last": round(self.hook_seconds_last * 1000, 3),
            "hook_ms_max": round(self.hook_seconds_max * 1000, 3),
            "copy_on_write": self.cow,
            "problems": dict(self.problems),
            "problem_messages": dict(self.problem_messages),
        }


def _what_it_holds(value) -> dict:
    """A name that held a frame and now holds something else: its type and shape, in words
    an operation can state ("a NumPy array of 112 x 4"), never its content."""
    out = {"type": type(value).__name__, "module": type(value).__module__.split(".")[0]}
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and all(isinstance(x, (int, np.integer)) for x in shape):
        out["shape"] = [int(x) for x in shape]
    elif isinstance(value, (list, tuple, dict, set)):
        out["length"] = len(value)
    return out


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds")


def default_store_path(notebook: str | None = None) -> Path:
    """CELLSYNC_STORE / settings.store, else `.cellsync/` beside the notebook, else here."""
    if default_settings.store:
        return Path(default_settings.store).expanduser()
    if notebook:
        return Path(notebook).expanduser().resolve().parent / ".cellsync"
    return Path.cwd() / ".cellsync"

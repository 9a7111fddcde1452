"""Stage 1 of the worker's pipeline: each change becomes a `Version` — the parent checked
against the data, the diff, the profile, the persisted data (full or a delta on its parent).

Also what the engines (`cellsync/engines`) record their frames through: `resolve`,
`parent_plan`, `plans`, `profiles`, `redirect`, `store()`, `segments_for`.
"""

from __future__ import annotations

import time
from typing import Any

from ..cache import BoundedDict
from ..changes import CellJob, FrameChange
from ..config import Settings
from ..diff import FrameDiff, converted_diff, diff_frames, new_frame_diff
from ..engines import engine_version
from ..operations import choose_parent, follows_rows, same_rows
from ..profile import profile_frame
from ..store import Version, store_size
from ..versions import DataPlan, persist


class VersionStage:
    """Diff, profile and persist one change at a time; remembers recent plans and profiles."""

    def __init__(self, session_id: str, cfg: Settings, on_problem, store, segments_for):
        self.session_id = session_id
        self.cfg = cfg
        self.on_problem = on_problem
        self.store = store  # () -> the worker's Store, opened on first use
        self.segments_for = segments_for  # the segment stage's lookup, for the engines
        # recent versions' data plans and profiles: a parent is nearly always recent; an older
        # one's plan is read back from the store, and its profile is simply recomputed
        self.plans: BoundedDict = BoundedDict(256)
        self.profiles: BoundedDict = BoundedDict(64)
        self.redirect: dict[str, str] = {}  # version found unchanged -> the version it equals
        self.bytes_written = 0
        self._measured: tuple[float, int, int] | None = None  # (when, store bytes, bytes_written then)

    def budget_rows(self) -> int | None:
        """None while the store is within `max_store_mb`; past it, the rows a new version may
        keep (`budget_sample_rows`). The size is measured on disk at most once a minute (other
        writers may share the store: walking the folder every cell would cost more than the
        cell) and in between grows by what this stage wrote."""
        limit = self.cfg.max_store_mb
        if not limit or not self.cfg.persist_data:
            return None
        now = time.monotonic()
        if self._measured is None or now - self._measured[0] > 60:
            self._measured = (now, store_size(self.store().path), self.bytes_written)
        _, size, written_then = self._measured
        if size + self.bytes_written - written_then <= limit * 1e6:
            return None
        return self.cfg.budget_sample_rows

    def run(self, job: CellJob) -> list[tuple[FrameChange, Version, Any]]:
        """Every change of the cell as (change, version, row match); a change that fails is
        still a version, noted "not profiled"; one found equal to its parent is none."""
        done_changes = []
        by_object: dict[int, tuple] = {}  # profile/plan computed once per object version
        for ch in job.changes:
            try:
                done = self.version(ch, by_object, job)
            except Exception as exc:
                self.on_problem(f"version.{type(exc).__name__}", exc)
                done = (Version(
                    id=ch.version_id,
                    frame=ch.name,
                    session_id=job.cell.session_id,
                    change=ch.change,
                    n_rows=None if ch.frame is None else int(ch.frame.shape[0]),
                    n_cols=None if ch.frame is None else int(ch.frame.shape[1]),
                    parent_id=self.resolve(ch.parent_version),
                    parent_frame=ch.parent_name,
                    note=f"not profiled: {type(exc).__name__}: {exc}"[:300],
                ), None)
            if done is not None:
                done_changes.append((ch, *done))
        return done_changes

    def reusable(self, parent_id, diff, match) -> dict:
        """Column profiles that can be carried over from the parent: same rows (none removed,
        added or reordered away) and the same values, per the diff."""
        parent = self.profiles.get(parent_id) if parent_id else None
        if parent is None or match is None or diff.rows_removed or diff.rows_added:
            return {}
        if diff.rows_before != diff.rows_after or match.method == "reshape":
            return {}
        by_position = {c.position: c for c in parent.columns}
        return {new: by_position[old] for new, old in match.same_columns.items() if old in by_position}

    def parent_plan(self, parent_id: str | None) -> DataPlan | None:
        if parent_id is None:
            return None
        plan = self.plans.get(parent_id)
        if plan is None:
            try:
                plan = self.store().plan(parent_id)
            except Exception:  # not persisted: this version is then written whole
                return None
        return plan

    def converted(self, parent_id: str, rows: int, columns) -> FrameDiff:
        """The diff of a frame made from another engine's frame (net counts, columns by
        name), against the parent's profile."""
        parent = self.profiles.get(parent_id)
        every = parent is not None and len(parent.columns) == parent.n_cols  # not cut by max_profile_columns
        return converted_diff(parent.n_rows if parent is not None else None,
                              [c.name for c in parent.columns] if every else None, rows, columns)

    def resolve(self, version_id: str | None) -> str | None:
        while version_id in self.redirect:
            version_id = self.redirect[version_id]
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

    def version(self, ch: FrameChange, by_object: dict, job: CellJob) -> tuple[Version, Any] | None:
        if getattr(ch, "engine", None):  # polars / Spark frames: profiled by their engine (cellsync/engines)
            return engine_version(self, ch)
        cfg = self.cfg
        self._choose_parent(ch, job)
        parent_id = self.resolve(ch.parent_version)
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
                self.redirect[ch.version_id] = parent_id
                return None
        elif ch.converted_from and parent_id:
            diff, match = self.converted(parent_id, frame.shape[0], frame.columns), None
        else:
            diff, match = new_frame_diff(frame), None
        cached = by_object.get(ch.object_key)
        if cached is None:
            profile = profile_frame(frame, cfg, reuse=self.reusable(parent_id, diff, match))
            parent_plan = self.parent_plan(parent_id)
            budget = None
            try:
                budget = self.budget_rows()
                plan = persist(
                    self.store().files,
                    frame,
                    cfg,
                    parent=parent_plan,
                    parent_id=parent_id,
                    parent_positions=match.parent_positions(len(frame)) if match else None,
                    same_columns=match.same_columns if match else None,
                    same_index=match.same_index if match else False,
                    series=ch.is_series,
                    sample_rows=budget,
                )
            except Exception as exc:
                # data that cannot be stored must not cost the version its diff and profile
                self.on_problem(f"persist.{type(exc).__name__}", exc)
                plan = DataPlan(kind="none", rows=len(frame), note=f"not persisted: {type(exc).__name__}: {exc}"[:300])
            self.bytes_written += plan.bytes_written
            by_object[ch.object_key] = (profile, plan, budget)
        else:
            profile, plan, budget = cached
        self.plans[ch.version_id] = plan
        self.profiles[ch.version_id] = profile
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
            note=with_budget_note(profile.note, plan, cfg, budget),
        ), match


def with_budget_note(note: str | None, plan: DataPlan, cfg: Settings, budget: int | None) -> str | None:
    """The version's note, plus one plain sentence when the store budget (`budget`: the rows
    `budget_rows` allowed) cut its data."""
    if budget is None or not (plan.sampled and plan.sample_of) or plan.rows > budget:
        return note
    sentence = (f"The store is past its {cfg.max_store_mb:,g} MB budget (max_store_mb), so this version keeps "
                f"its profile, its diff and a seeded sample of {plan.rows:,} of {plan.sample_of:,} rows, "
                "not its full data.")
    return f"{note} {sentence}" if note else sentence

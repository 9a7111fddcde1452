"""Change detection, in the blocking part after every cell: which names now hold a frame
that is new, rebound, changed in place, another name for a followed frame, or gone.

Only fingerprints are compared here (see `changes.py`); the frames themselves go to the
worker as shallow snapshots. The engines (`cellsync/engines`) add their own frames' changes
through `engine_changes(detector)`, which reads `ns` and reports through `problem`.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import numpy as np
import pandas as pd

from .changes import (
    FrameChange, TrackedObject, as_frame, column_text, content_hash, deep_columns, fingerprint, what_it_holds,
)
from .config import Settings
from .engines import engine_changes, engine_names, link_across
from .lineage import CellLineage, analyse, parent_of


class ChangeDetector:
    """What we know of the namespace's frames: per live object its snapshot and fingerprint,
    per name the object and its current version id."""

    def __init__(self, namespace: dict, cfg: Settings, cow: bool, problem):
        self.ns = namespace
        self.cfg = cfg
        self.cow = cow
        self.problem = problem  # (kind, exception): counted, never raised
        self._objects: dict[int, TrackedObject] = {}
        self._names: dict[str, int] = {}  # name -> object key
        self._versions: dict[str, str] = {}  # name -> current version id
        self._prev_states: dict[str, TrackedObject | None] = {}
        self._prev_versions: dict[str, str] = {}
        self.lineage = CellLineage()  # the last scanned cell's reading

    @property
    def names(self) -> list[str]:
        """Names bound to tracked frames, sorted."""
        return sorted(self._names)

    def object_name(self, obj) -> str | None:
        """The first name (sorted) bound to this very object, if it is tracked."""
        key = id(obj)
        return next((n for n, k in sorted(self._names.items()) if k == key), None)

    def current_frames(self) -> dict[str, pd.DataFrame]:
        """The tracked frames as of the last cell (their snapshots), by name."""
        out = {}
        for name, key in self._names.items():
            state = self._objects.get(key)
            if state is not None:
                out[name] = as_frame(state.snapshot, name)
        return out

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
        self.lineage = analyse(code) if code else CellLineage()
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
            changes.extend(self._new_object(key, values[key], sorted(bound[key]), self.lineage.sources))

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
                    now=what_it_holds(self.ns[name]) if name in self.ns else None,
                )
            )
            del self._names[name]
            self._versions.pop(name, None)
        for key in [k for k in self._objects if k not in bound]:
            del self._objects[key]
        self._prev_states, self._prev_versions = {}, {}
        engines_now = engine_names(self)
        if engines_now or any(getattr(ch, "engine", None) for ch in changes):
            # a frame made from another engine's frame (`pl.from_pandas(df)`): that frame is its parent
            changes = link_across(changes, self.lineage.sources, self.lineage.calls, self._versions, engines_now)
        return changes

    def _snapshot(self, obj) -> TrackedObject:
        snap = obj.copy(deep=not self.cow)  # shallow under copy-on-write: costs no data
        frame = as_frame(snap, "value")
        deep = deep_columns(frame)
        return TrackedObject(
            ref=weakref.ref(obj),
            snapshot=snap,
            fp=fingerprint(obj),
            index=obj.index,
            columns=getattr(obj, "columns", None),
            content=None if self.cow else content_hash(obj),
            deep_columns=deep,
            deep_text={j: column_text(frame.iloc[:, j]) for j in deep},
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
        if state.content is not None and content_hash(obj) != state.content:
            return True
        if state.deep_columns:
            frame = as_frame(obj, "value")
            for j in state.deep_columns:
                if not np.array_equal(column_text(frame.iloc[:, j]), state.deep_text[j]):
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
            binding = self.lineage.bindings.get(name)
            same_statement = binding is not None and parent in binding.targets and parent in self._prev_versions
            if parent == name or same_statement:
                # `df, holdout = train_test_split(df)`: the statement read df before rebinding it
                parent_state, parent_version = self._prev_states.get(parent), self._prev_versions.get(parent)
            elif parent is not None:
                parent_state = self._objects.get(self._names.get(parent, -1))
                parent_version = self._versions.get(parent)
            out.append(self._change(name, kind, state, parent, parent_version, parent_state))
        return out

    def _change(self, name, kind, state, parent_name, parent_version, parent_state) -> FrameChange:
        frame = as_frame(state.snapshot, name)
        binding = self.lineage.bindings.get(name) if kind in ("new", "rebound") else None
        parent_frame = diff_frame = None
        if parent_state is not None and parent_version is not None:
            parent_frame = as_frame(parent_state.snapshot, parent_name)
            if parent_state.deep_columns:
                # the old snapshot shares mutable elements with the live frame: compare the
                # text both had, so element mutations show up as changed values
                parent_frame = parent_frame.copy(deep=False)
                diff_frame = frame.copy(deep=False)
                for j, text in parent_state.deep_text.items():
                    parent_frame.isetitem(j, text)
                    if j < diff_frame.shape[1] and diff_frame.iloc[:, j].dtype == object:
                        diff_frame.isetitem(j, column_text(diff_frame.iloc[:, j]))
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
            for other in self.lineage.sources.get(name, []):
                if other == parent_name or other == name:
                    continue
                other_state = self._objects.get(self._names.get(other, -1))
                if other_state is not None and other in self._versions:
                    ch.others[other] = as_frame(other_state.snapshot, other)
                    ch.other_versions[other] = self._versions[other]
                    if isinstance(other_state.snapshot, pd.Series):
                        ch.other_series.add(other)
        self._names[name] = id(state.ref()) if state.ref() is not None else -1
        self._versions[name] = ch.version_id
        return ch

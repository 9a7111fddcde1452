"""Frames that are not pandas (polars, PySpark), tracked by asking the engine that holds them.

Two entry points, each called from one line of the tracker:

- `engine_changes(tracker)` from `Tracker.scan` (blocking, on the kernel's thread): which
  polars / Spark frames in the namespace are new, rebound, changed in place or deleted. It only
  compares identities and cheap fingerprints; no engine work runs here.
- `engine_version(worker, change)` from `Worker._version` (the worker thread): profile, diff,
  persist and segment impacts, computed by the engine, returned as the same `Version` record a
  pandas frame gets, so the store, dashboard, CLI and SnapGrid need nothing new.

An engine is only looked at once the user has imported its package (`sys.modules`): a polars
frame cannot be in the namespace before polars is imported, and importing PySpark for a
check would cost seconds. CellSync imports and works without any of these packages.
"""

from __future__ import annotations

import sys
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

__all__ = ["engine_changes", "engine_names", "engine_version", "link_across", "EngineChange", "EngineError", "EngineUnavailable"]


def __getattr__(name):
    # base.py subclasses changes.FrameChange, and the tracker imports this package: load it late
    if name in ("EngineChange", "EngineError", "EngineUnavailable", "RESHAPING"):
        from . import base

        return getattr(base, name)
    raise AttributeError(name)


def _adapters() -> list:
    """The engine modules whose package the user has imported."""
    out = []
    if "polars" in sys.modules:
        from . import polars as polars_engine

        out.append(polars_engine)
    if "pyspark" in sys.modules or "pyspark.sql" in sys.modules:
        from . import spark as spark_engine

        out.append(spark_engine)
    return out



def _adapter(name: str):
    if name == "polars":
        from . import polars as mod
    elif name == "spark":
        from . import spark as mod
    else:  # names come from this package only
        raise ValueError(f"unknown engine {name!r}")
    return mod


@dataclass
class _Tracked:
    obj: Any  # the user's frame (immutable engines) or a shallow clone of it (polars in place)
    ref: Any  # weakref (or a callable returning the object) to tell a reused id apart
    fp: tuple
    engine: str
    names: set = field(default_factory=set)


@dataclass
class _State:
    objects: dict = field(default_factory=dict)  # id(obj) -> _Tracked
    names: dict = field(default_factory=dict)  # name -> id(obj)
    versions: dict = field(default_factory=dict)  # name -> version id


# per tracker, without adding anything to the Tracker class (kept small for merges)
_STATES: "weakref.WeakKeyDictionary[Any, _State]" = weakref.WeakKeyDictionary()


def engine_changes(tracker) -> list:
    """The non-pandas frames that changed since the last cell, as `EngineChange`s. Never
    raises: a problem is counted in `%cellsync status` and the cell is recorded without them."""
    try:
        state = _STATES.get(tracker)
        adapters = _adapters()
        if not adapters and state is None:
            return []
        if state is None:
            state = _STATES[tracker] = _State()
        return _scan(tracker, state, adapters)
    except Exception as exc:
        tracker.problem(f"engines.scan.{type(exc).__name__}", exc)
        return []


def _scan(tracker, state: _State, adapters) -> list:
    from .base import EngineChange

    bound: dict[int, list[str]] = {}
    values: dict[int, tuple[Any, Any]] = {}
    for name, value in list(tracker.ns.items()):
        if name.startswith("_"):
            continue
        for mod in adapters:
            if mod.is_frame(value):
                bound.setdefault(id(value), []).append(name)
                values[id(value)] = (value, mod)
                break
    lineage = getattr(tracker, "lineage", None)  # the detector's reading of this cell
    sources = lineage.sources if lineage is not None else {}
    calls = lineage.calls if lineage is not None else {}
    bindings = lineage.bindings if lineage is not None else {}
    prev_names, prev_versions = dict(state.names), dict(state.versions)
    prev_objects = dict(state.objects)
    changes: list = []
    fresh = []
    for key, names in bound.items():
        obj, mod = values[key]
        tracked = state.objects.get(key)
        if tracked is not None and tracked.ref() is not obj:
            tracked = None  # the id was reused by another object
        if tracked is None:
            fresh.append(key)
            continue
        new_fp = mod.fingerprint(obj)
        changed = new_fp != tracked.fp
        now = _Tracked(mod.hold(obj), tracked.ref, new_fp, tracked.engine, set(names)) if changed else tracked
        state.objects[key] = now
        earlier = sorted(n for n in tracked.names if prev_names.get(n) == key)
        for name in sorted(names):
            if name in earlier:
                if changed:
                    changes.append(_change(state, name, "mutated", now, name, prev_versions.get(name), tracked, calls, bindings))
            else:
                kind = "rebound" if name in prev_names else "alias"
                parent = earlier[0] if earlier else None
                changes.append(_change(state, name, kind, now, parent, prev_versions.get(parent), tracked, calls, bindings))
        now.names = set(names)
    for key in fresh:
        obj, mod = values[key]
        now = _Tracked(mod.hold(obj), _ref(obj), mod.fingerprint(obj), mod.ENGINE, set(bound[key]))
        state.objects[key] = now
        for name in sorted(bound[key]):
            kind = "rebound" if name in prev_names else "new"
            parent = _parent(name, sources, {**prev_names, **state.names})
            parent_state = None
            if parent == name:
                parent_state = prev_objects.get(prev_names.get(name, -1))
            elif parent is not None:
                parent_state = state.objects.get(state.names.get(parent, -1)) or prev_objects.get(prev_names.get(parent, -1))
            changes.append(_change(state, name, kind, now, parent, prev_versions.get(parent), parent_state, calls, bindings))
    still = {n for names in bound.values() for n in names}
    for name in [n for n in state.names if n not in still]:
        was = prev_objects.get(prev_names.get(name, -1))
        changes.append(EngineChange(
            name=name, change="deleted", version_id=uuid.uuid4().hex, object_key=0, frame=None,
            parent_version=prev_versions.get(name), parent_name=name, engine="deleted",
            was=was.engine if was is not None else "",
        ))
        del state.names[name]
        state.versions.pop(name, None)
    for key in [k for k in state.objects if k not in bound]:
        del state.objects[key]
    return changes


def engine_names(tracker) -> dict[str, tuple[str, str]]:
    """Each engine frame's name -> (engine, current version id), after this cell's scan."""
    state = _STATES.get(tracker)
    if state is None:
        return {}
    by_key = {id(t.ref()): t.engine for t in state.objects.values() if t.ref() is not None}
    return {name: (by_key.get(key, "?"), state.versions[name]) for name, key in state.names.items() if name in state.versions}


# calls that hand one engine's frame to another: only a statement that makes one is linked
# across engines (`pd.DataFrame({"n": [big.height]})` reads a polars frame but is not made from
# its rows, and a row count "before" would be false there)
CONVERSIONS = frozenset({
    "from_pandas", "createDataFrame", "to_pandas", "toPandas", "from_arrow", "to_arrow", "toArrow",
    "from_dataframe", "to_polars", "pandas_api",
})


def link_across(changes: list, sources: dict, calls: dict, pandas_versions: dict, engine_frames: dict) -> list:
    """Give a frame made from a frame of another engine (`pl.from_pandas(df)`,
    `spark.createDataFrame(df)`, `sdf.toPandas()`, `pl_df.to_pandas()`) that frame as its
    parent; `converted_from` names the parent's engine, and rows are not matched across
    engines (net counts only). A name that changed engine in the cell (`df = pl.from_pandas(df)`)
    keeps its history: the old kind's "deleted" change is dropped and the new one rebinds it.
    Only statements that call a conversion (`CONVERSIONS`) are linked. `pandas_versions` and
    `engine_frames` are the names after this cell's scan."""
    deleted = {ch.name: ch for ch in changes if ch.change == "deleted"}
    dropped = set()
    for ch in changes:
        if ch.change not in ("new", "rebound") or ch.parent_version is not None:
            continue
        if not CONVERSIONS.intersection(calls.get(ch.name, ())):
            continue
        mine = getattr(ch, "engine", None) or "pandas"
        for read in sources.get(ch.name, ()):
            if read == ch.name:
                old = deleted.get(read)
                was = (getattr(old, "was", "") or None) if getattr(old, "engine", None) else "pandas"
                if old is not None and was and was != mine and old.parent_version is not None:
                    ch.parent_name, ch.parent_version, ch.converted_from = read, old.parent_version, was
                    ch.change = "rebound"
                    dropped.add(id(old))
                    break
                continue
            if mine != "pandas" and read in pandas_versions:
                ch.parent_name, ch.parent_version, ch.converted_from = read, pandas_versions[read], "pandas"
                break
            if read in engine_frames and engine_frames[read][0] != mine:
                ch.parent_name = read
                ch.converted_from, ch.parent_version = engine_frames[read]
                break
    return [ch for ch in changes if id(ch) not in dropped]


def _ref(obj):
    try:
        return weakref.ref(obj)
    except TypeError:  # an engine object without weakref support: hold it (it is held anyway)
        return lambda: obj


def _parent(name: str, sources: dict, known: dict) -> str | None:
    """Itself if the right-hand side read its own old value (`df = df.filter(...)`), else the
    first frame of an engine we follow that it read."""
    read = sources.get(name, [])
    if name in read and name in known:
        return name
    return next((r for r in read if r in known and r != name), None)


def _change(state: _State, name, kind, now: _Tracked, parent_name, parent_version, parent_tracked, calls, bindings):
    from .base import RESHAPING, EngineChange

    same_engine = parent_tracked is not None and parent_tracked.engine == now.engine and parent_version is not None
    ch = EngineChange(
        name=name,
        change=kind,
        version_id=uuid.uuid4().hex,
        object_key=id(now.obj),
        frame=None,
        parent_version=parent_version if same_engine else None,
        parent_name=parent_name if same_engine else None,
        reshape=kind in ("new", "rebound") and any(c in RESHAPING for c in calls.get(name, ())),
        engine=now.engine,
        native=now.obj,
        parent_native=parent_tracked.obj if same_engine else None,
        binding=bindings.get(name),
    )
    state.names[name] = id(now.ref()) if now.ref() is not None else -1
    state.versions[name] = ch.version_id
    return ch


def engine_version(worker, ch):
    """The version (and, on `ch.impacts`, the segment impacts) of one engine frame change.
    Never raises: an engine failure (a plan that fails when run, a stopped session) is one
    problem line in `%cellsync status` and a version noted "not profiled: <reason>"."""
    from ..store import Version

    parent_id = worker.resolve(ch.parent_version)
    if ch.change == "deleted":
        return Version(id=ch.version_id, frame=ch.name, session_id=worker.session_id, change="deleted",
                       n_rows=None, n_cols=None, parent_id=parent_id, parent_frame=ch.parent_name), None
    try:
        version = _adapter(ch.engine).record(worker, ch, parent_id)
    except Exception as exc:
        reason = _one_line(exc)
        worker.on_problem(f"engine.{ch.engine}.{type(exc).__name__}", reason)
        return Version(id=ch.version_id, frame=ch.name, session_id=worker.session_id, change=ch.change,
                       n_rows=None, n_cols=None, parent_id=parent_id, parent_frame=ch.parent_name,
                       note=f"not profiled: {reason}"[:300]), None
    # None: changed in place but equal to its parent (redirected, no version), as the pandas
    # stage returns it; a (None, None) pair would fail the whole cell's record in the pipeline
    return None if version is None else (version, None)


def _one_line(exc: BaseException) -> str:
    """Engine errors carry pages of JVM or query-plan text: the first line says what went wrong."""
    text = str(exc).strip().splitlines()
    first = next((t.strip() for t in text if t.strip()), "")
    return f"{type(exc).__name__}: {first}"[:240]

"""SnapGrid: one segment across every stored version of a frame, from the store alone.

For each version of the frame (cells in run order): how many rows are in the segment, their
share of the frame, and the distribution of chosen columns inside it. Only the columns the
segment and the chosen distributions need are read, down the whole delta chain.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import CellsyncError, VersionDataPruned, VersionDataUnavailable, VersionDataUnreadable
from .profile import ColumnProfile, _profile_column_safely, label_text
from .records import Record
from .segments import Segment, SegmentError
from .segments.segment import _unknown
from .config import settings as default_settings
from .versions import decode_label


@dataclass(frozen=True)
class SnapCell(Record):
    version: str
    cell: int | None
    execution_count: int | None
    code: str
    change: str
    frame_rows: int | None
    segment_rows: int | None
    share: float | None
    status: str  # exact | estimated from sample | column gone | does not fit | not persisted | data pruned | data unreadable | deleted
    distributions: dict[str, ColumnProfile] | None = None
    flagged: bool = False  # the cell's stored impact flagged this segment
    note: str | None = None


@dataclass(frozen=True)
class SnapGrid(Record):
    frame: str
    segment: str
    name: str
    columns: tuple[str, ...]
    cells: tuple[SnapCell, ...]
    # what counted the rows (pandas, or duckdb over the column files); two grids with the same
    # answers are equal whoever counted them
    engine: str = field(default="pandas", compare=False)


def snapgrid(store, frame: str, segment: str | Segment, columns: tuple[str, ...] | list[str] = (),
             engine: str | None = None) -> SnapGrid:
    """The grid for `segment` (text or Segment) over every version of `frame` in `store`.

    `engine`: "pandas" or "duckdb" (`snapscan.ScanMasks`); None chooses by the frame's size
    (settings.snapgrid_duckdb_rows) and whether duckdb and polars are installed. Both give
    the same grid."""
    seg = segment if isinstance(segment, Segment) else Segment.from_text(segment)
    versions = store.versions(frame=frame, profiles=False)  # plans are enough; profiles are big
    if not versions:
        known = store.frames()
        import difflib

        close = difflib.get_close_matches(frame, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (f"; frames: {', '.join(known)}" if known else "")
        raise CellsyncError(f"no frame {frame!r} in {store.path}{hint}")
    store.forget_stale_plans(versions)  # a prune since this connection last read them
    cache: dict = {}
    engine, masks = _masks(store, seg, versions, cache, engine)
    try:
        return dataclasses.replace(_grid(store, frame, seg, versions, columns, masks, cache), engine=engine)
    finally:
        getattr(masks, "close", lambda: None)()


def _masks(store, seg: Segment, versions, cache: dict, engine: str | None):
    from . import snapscan

    if engine is None:
        rows = max((v.data.rows for v in versions if v.data is not None), default=0)
        engine = "duckdb" if rows >= default_settings.snapgrid_duckdb_rows and snapscan.available() else "pandas"
    if engine == "duckdb":
        return engine, snapscan.ScanMasks(store, seg, versions, cache)
    if engine != "pandas":
        raise CellsyncError(f"unknown SnapGrid engine {engine!r}: 'pandas' or 'duckdb'")
    return engine, SegmentMasks(store, seg, cache)


def _grid(store, frame: str, seg: Segment, versions, columns, masks, cache: dict) -> SnapGrid:
    cells = {c.id: c for c in store.cells()}
    flagged = {(i["version_id"]) for i in store.impacts(frame=frame, segment=seg.text) if i["flagged"]}
    out = []
    ever_fit = False
    last_error: SegmentError | None = None
    all_labels: dict[str, int] = {}
    for v in versions:
        c = cells.get(v.cell)
        base = dict(
            version=v.id, cell=v.cell, execution_count=c.execution_count if c else None,
            code=(c.code if c else "").strip().splitlines()[0][:120] if c and c.code.strip() else "",
            change=v.change, frame_rows=v.n_rows, flagged=v.id in flagged,
        )
        if v.change == "deleted":
            out.append(SnapCell(**base, segment_rows=None, share=None, status="deleted"))
            continue
        if v.data is not None and v.data.kind == "pruned":
            out.append(SnapCell(**base, segment_rows=None, share=None, status="data pruned", note=v.data.note))
            continue
        if v.data is None or v.data.kind == "none":
            out.append(SnapCell(**base, segment_rows=None, share=None, status="not persisted",
                                note=(v.data.note if v.data else None) or v.note))
            continue
        labels = {label_text(decode_label(ref.label)): j for j, ref in reversed(list(enumerate(v.data.columns)))}
        all_labels.update(labels)
        gone = [col for col in seg.columns if col not in labels]
        if gone:
            last_error = _unknown(gone[0], all_labels, seg.text)
            out.append(SnapCell(**base, segment_rows=None, share=None, status="column gone",
                                note=f"no column {', '.join(map(repr, gone))} in this version"))
            continue
        try:
            positions = tuple(labels[col] for col in seg.columns)
            inside, n = masks.count(v.id, positions)
            shown = [col for col in columns if col in labels]
            data = store.load_columns(v.id, [labels[col] for col in shown], cache) if shown else None
            inside_rows = masks.inside(v.id, positions) if shown else None
        except VersionDataUnreadable as exc:  # this version only: the grid goes on
            out.append(SnapCell(**base, segment_rows=None, share=None, status="data unreadable",
                                note=f"{exc}" if v.id in str(exc) else f"version {v.id}: {exc}"))
            continue
        except VersionDataPruned as exc:  # a base pruned after this grid's versions were read
            out.append(SnapCell(**base, segment_rows=None, share=None, status="data pruned", note=str(exc)))
            continue
        except VersionDataUnavailable as exc:
            out.append(SnapCell(**base, segment_rows=None, share=None, status="not persisted", note=str(exc)))
            continue
        except SegmentError as exc:  # the column is there but its type no longer fits
            last_error = exc
            out.append(SnapCell(**base, segment_rows=None, share=None, status="does not fit", note=str(exc)))
            continue
        ever_fit = True
        sampled = v.data.sampled
        status = "estimated from sample" if sampled else "exact"
        share = inside / n if n else None
        rows = round(inside * v.data.sample_of / n) if sampled and n else inside
        dists = {}
        for j, col in enumerate(shown):
            dists[col] = _profile_column_safely(data.iloc[inside_rows, j], labels[col], default_settings)
        out.append(SnapCell(**base, segment_rows=rows, share=share, status=status,
                            distributions=dists or None))
    if not ever_fit and last_error is not None:
        raise last_error  # a segment that fits no version at all is a typo: say so, once
    return SnapGrid(frame=frame, segment=seg.text, name=seg.name, columns=tuple(columns), cells=tuple(out))


def carried_from(store, plan, positions: tuple[int, ...]) -> tuple[str, tuple[int, ...]] | None:
    """(base version, positions of the segment's columns there) when this version kept those
    columns' values from its base — a delta's references, or a whole version's `same_as` (a
    chain cut by `full_version_every`) over a base whose data is there — so its segment mask
    is the base's at `parent_rows`; None: evaluate the version's own columns."""
    if not positions:
        return None
    if plan.kind == "delta" and all(plan.columns[p].parent is not None for p in positions):
        return plan.base, tuple(plan.columns[p].parent for p in positions)
    if plan.kind == "full" and plan.base and plan.parent_rows and all(plan.columns[p].same_as is not None for p in positions):
        try:
            base = store.plan(plan.base)
        except CellsyncError:
            return None
        if base.kind in ("full", "delta") and not base.sampled:  # not pruned since
            return plan.base, tuple(plan.columns[p].same_as for p in positions)
    return None


class SegmentMasks:
    """Which rows of a version are in the segment, carried down the delta chain.

    A version that keeps its parent's values of the segment's columns (a filter, a sort, a
    column added or rewritten elsewhere; stored as a delta, or whole with `same_as`) has the
    parent's mask taken at its kept rows: no columns rebuilt, no segment evaluated. Only
    versions that wrote one of those columns anew (or the first) read them and evaluate the segment. Masks are keyed by
    the column positions they were computed from, so a renamed column still finds its parent's.
    """

    def __init__(self, store, seg: Segment, cache: dict | None = None, keep: int = 16):
        from .cache import BoundedDict

        self._store, self._seg, self._cache = store, seg, cache
        # chains are short (cut every few versions): the last few masks are the bases needed
        self._masks: BoundedDict = BoundedDict(keep)
        self._rows: BoundedDict = BoundedDict(keep)

    def count(self, version_id: str, positions: tuple[int, ...]) -> tuple[int, int]:
        """(rows in the segment, rows) of a version."""
        mask = self.get(version_id, positions)
        return int(mask.sum()), len(mask)

    def inside(self, version_id: str, positions: tuple[int, ...]) -> np.ndarray:
        """Positions of the version's rows that are in the segment."""
        return np.flatnonzero(self.get(version_id, positions))

    def get(self, version_id: str, positions: tuple[int, ...]) -> np.ndarray:
        key = (version_id, positions)
        mask = self._masks.get(key)
        if mask is not None:
            return mask
        plan = self._store.plan(version_id)
        source = carried_from(self._store, plan, positions)
        if source is not None:
            mask = self._carry(version_id, plan, self.get(*source))
        else:
            mask = self._evaluate(version_id, plan, positions)
        self._masks[key] = mask
        return mask

    def _carry(self, version_id: str, plan, parent: np.ndarray) -> np.ndarray:
        """The parent's mask at this version's kept rows."""
        take = self._kept_rows(version_id, plan)
        return parent[take] if take is not None else parent

    def _evaluate(self, version_id: str, plan, positions: tuple[int, ...]) -> np.ndarray:
        data = self._store.load_columns(version_id, list(positions), self._cache)
        data.columns = pd.Index(list(self._seg.columns), dtype=object)  # the names the segment uses
        return np.asarray(self._seg.mask(data), dtype=bool)

    def _kept_rows(self, version_id: str, plan):
        if not plan.parent_rows:
            return None
        take = self._rows.get(version_id)
        if take is None:
            take = self._rows[version_id] = self._store.files.read_positions(plan.parent_rows, plan.parent_count)
        return take

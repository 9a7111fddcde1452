"""Versions of frames and their data: rows of the versions table, data plans, and frames
(or some of their columns or rows) rebuilt from the column files."""

from __future__ import annotations

import contextlib
from typing import Iterable

import numpy as np
import pandas as pd

from ..diff import FrameDiff
from ..errors import StoreError, VersionDataPruned, VersionDataUnavailable, VersionDataUnreadable
from ..operations import Operation
from ..profile import FrameProfile
from ..versions import DataPlan, rebuild
from .records import Version, id_list


class Frames:
    """Version and frame-data queries (mixed into `Store`)."""

    def versions(self, frame: str | None = None, cell: int | None = None, profiles: bool = True,
                 cells: Iterable[int] | None = None) -> list[Version]:
        """Versions in run order; `profiles=False` skips parsing the (large) profiles."""
        clauses, args = [], []
        if frame is not None:
            clauses.append("frame = ?")
            args.append(frame)
        if cell is not None:
            clauses.append("cell = ?")
            args.append(cell)
        if cells is not None:
            clauses.append(id_list("cell", cells, args))
        where = " and ".join(clauses) or None
        columns = None if profiles else ", ".join(c for c in self._version_columns() if c != "profile")
        rows = self.db["versions"].rows_where(where, args, order_by="rowid", select=columns or "*")
        if not profiles:
            # not even read: profiles are most of a version row's bytes
            rows = ({**r, "profile": None} for r in rows)
        return [self._version(r) for r in rows]

    def _version_columns(self) -> list[str]:
        if self._columns_of_versions is None:
            self._columns_of_versions = [c.name for c in self.db["versions"].columns]
        return self._columns_of_versions

    def version(self, version_id: str) -> Version:
        rows = list(self.db["versions"].rows_where("id = ?", [version_id]))
        if not rows:
            raise StoreError(f"no version {version_id!r} in {self.path}")
        return self._version(rows[0])

    def version_ids(self, frame: str) -> list[tuple[str, int | None]]:
        """(version id, cell) of every version of a frame, in run order, parsing nothing:
        what a version navigator needs before it shows one version."""
        return [(r[0], r[1]) for r in self.db.execute("select id, cell from versions where frame = ? order by rowid", [frame])]

    def frame_version_counts(self) -> dict[str, int]:
        """Versions per frame, frames in the order they first appeared."""
        return {r[0]: r[1] for r in self.db.execute(
            "select frame, count(*), min(rowid) as first from versions group by frame order by first")}

    def frame_columns(self, frame: str) -> list[str]:
        """Every column name any version of a frame had (read inside SQLite, from the
        profiles' JSON, without parsing them in Python)."""
        rows = self.db.execute(
            "select distinct json_extract(c.value, '$.name') from versions v, json_each(v.profile, '$.columns') c "
            "where v.frame = ? and v.profile is not null", [frame])
        return sorted(str(r[0]) for r in rows if r[0] is not None)

    def frames(self) -> list[str]:
        return [r["frame"] for r in self.db.query("select distinct frame from versions order by frame")]


    def _version(self, r: dict) -> Version:
        def load(cls, text):
            return cls.from_json(text) if text else None

        return Version(
            id=r["id"],
            frame=r["frame"],
            session_id=r["session_id"],
            change=r["change"],
            n_rows=r["n_rows"],
            n_cols=r["n_cols"],
            parent_id=r["parent_id"],
            parent_frame=r["parent_frame"],
            cell=r["cell"],
            profile=load(FrameProfile, r["profile"]),
            diff=load(FrameDiff, r["diff"]),
            data=load(DataPlan, r["data"]),
            note=r["note"],
            operation=load(Operation, r.get("operation")),
        )

    def plan(self, version_id: str) -> DataPlan:
        plan = self._plans.get(version_id)
        if plan is None:
            rows = list(self.db.query("select data from versions where id = ?", [version_id]))
            if not rows or not rows[0]["data"]:
                raise VersionDataUnavailable(f"version {version_id} has no persisted data")
            plan = self._plans[version_id] = DataPlan.from_json(rows[0]["data"])
        return plan

    def forget_stale_plans(self, versions: Iterable[Version]) -> None:
        """Plans are cached per connection, and only `cellsync prune` ever changes one: if any
        of these freshly read versions has another plan than the cached one, forget them all."""
        for v in versions:
            cached = self._plans.get(v.id)
            if cached is not None and cached != v.data:
                self._plans.clear()
                return

    @contextlib.contextmanager
    def _reading(self, version_id: str):
        """A damaged data file is reported with the version it was read for."""
        try:
            yield
        except VersionDataUnreadable as exc:
            raise VersionDataUnreadable(f"version {version_id}: {exc}") from None

    def _rebuild(self, version_id: str, **kw) -> pd.DataFrame:
        """`rebuild` with this store's plans. A missing file with plans cached may mean a prune
        in another process rewrote them: read the plans again, once."""
        for attempt in (0, 1):
            try:
                with self._reading(version_id):
                    return rebuild(self.files, self.plan(version_id), self.plan, **kw)
            except (VersionDataPruned, VersionDataUnreadable):
                raise
            except VersionDataUnavailable:
                if attempt or not len(self._plans):
                    raise
                self._plans.clear()
                kw.pop("cache", None)  # bases built from the old plans

    def load_frame(self, version_id: str) -> pd.DataFrame:
        """Rebuild a version's data from the store alone (no kernel needed). Every column comes
        back exactly as it was, or, if it could not be kept (objects only pickle could store, a
        column named like a secret), as NA with its reason in
        `frame.attrs["cellsync_not_persisted"]` ({label: "not persisted: <reason>"})."""
        return self._rebuild(version_id)

    def load(self, version_id: str) -> pd.DataFrame | pd.Series:
        """Like `load_frame`, but a version of a Series comes back as that Series."""
        frame = self.load_frame(version_id)
        if self.plan(version_id).series and frame.shape[1] == 1:
            out = frame.iloc[:, 0]
            out.attrs.update(frame.attrs)
            return out
        return frame

    def load_columns(self, version_id: str, positions: list[int], cache: dict | None = None) -> pd.DataFrame:
        """Only some columns of a version (by position): reads no other column file. With a
        `cache` dict shared across calls, each version is built once and serves as the base of
        the next (the keys are the ones `rebuild` uses for bases)."""
        key = (version_id, tuple(positions))
        if cache is not None and key in cache:
            return cache[key]
        # strict: a segment or distribution must never be computed on a column that is not there
        frame = self._rebuild(version_id, positions=positions, cache=cache, strict=True)
        if cache is not None:
            cache[key] = frame
        return frame

    def snapgrid(self, frame: str, segment, columns=()):
        """One segment across every stored version of a frame (see cellsync.snapgrid).

        Kept for the dashboard, which calls it; new code calls `snapgrid.snapgrid(store, ...)`.
        The dependency runs one way: snapgrid reads the store only through its public
        methods (`plan`, `load_columns`, `files`), never the other way round."""
        from ..snapgrid import snapgrid

        return snapgrid(self, frame, segment, columns)

    def rows_of(self, version_id: str, rows) -> pd.DataFrame:
        """Only some rows of a version (positions, in order): each level of its delta chain
        gathers just those rows, not all of them."""
        return self._rebuild(version_id, rows=np.asarray(rows, dtype=np.int64))

    def removed_rows(self, version_id: str, limit: int | None = None) -> pd.DataFrame:
        """The parent's rows that this version no longer has (the first `limit` of them)."""
        v = self.version(version_id)
        plan = self.plan(version_id)
        if not v.parent_id or not plan.parent_rows:
            return self.rows_of(version_id, [])
        parent = self.plan(v.parent_id)
        if parent.sampled or plan.sampled:
            raise VersionDataUnavailable(
                "the parent or this version was stored as a sample: removed rows are not known exactly"
            )
        with self._reading(version_id):
            kept = self.files.read_positions(plan.parent_rows, plan.parent_count)
        keep = np.zeros(parent.rows, dtype=bool)
        keep[kept[kept >= 0]] = True
        return self.rows_of(v.parent_id, np.flatnonzero(~keep)[:limit])

    def added_rows(self, version_id: str, limit: int | None = None) -> pd.DataFrame:
        """This version's rows that did not come from its parent (the first `limit` of them)."""
        v = self.version(version_id)
        plan = self.plan(version_id)
        if not v.parent_id:
            return self.rows_of(version_id, np.arange(plan.rows)[:limit])  # every row is new
        if not plan.parent_rows or plan.sampled:
            return self.rows_of(version_id, [])
        with self._reading(version_id):
            positions = self.files.read_positions(plan.parent_rows, plan.parent_count)
        return self.rows_of(version_id, np.flatnonzero(positions < 0)[:limit])

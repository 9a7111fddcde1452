"""The store's size and its upkeep: how much each frame's data takes, `prune` (drop old
versions' data, keep everything else), and the lock a recording kernel holds so that prune
can tell it is there.

What prune keeps, always: cells, versions (their profiles, diffs, operations), impacts and
flags, metrics, segments, threads and messages — every table but the data files. A pruned
version keeps its row in `versions`; its data plan becomes `kind="pruned"` and its note says
so, so every reader shows "data pruned" instead of failing on missing files or guessing.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import date
from pathlib import Path
from typing import IO

from ..errors import StoreError, StoreInUse, VersionDataUnavailable
from ..records import Record
from ..versions import (
    NOT_PERSISTED_POSITIONS, ColumnRef, DataPlan, NotPersistable, plan_file_keys, rebuild,
)
from .records import store_size
from ..versions.write import _write_index
from .schema import DB_NAME

KERNEL_LOCK = "kernel.lock"


@dataclasses.dataclass(frozen=True)
class StoreSize(Record):
    """Bytes on disk. A data file shared by several versions (files are keyed by content) is
    counted once, for the first frame (in run order) that wrote it, so the parts add up."""

    total: int
    database: int  # cellsync.db and its -wal/-shm files
    frames: dict[str, int]  # frame -> bytes of the data files it wrote first
    unreferenced: int  # data files no version needs (a killed writer's; `status --repair`)
    other: int  # logs, locks


@dataclasses.dataclass(frozen=True)
class PruneResult(Record):
    versions_pruned: int  # versions whose data was dropped
    versions_rewritten: int  # kept versions rewritten whole: their delta chain ran through pruned ones
    files_removed: int
    bytes_freed: int
    bytes_written: int  # by the rewrites


# --- the recording kernel's lock -------------------------------------------------------------


def hold_kernel_lock(path: str | Path) -> IO | None:
    """Take a shared lock on `<store>/kernel.lock` for as long as the returned file stays open
    (the worker holds it while it records). The OS drops it when the process dies, so a killed
    kernel leaves no stale lock. None where there are no advisory locks (Windows) or the folder
    cannot be written: prune then cannot tell, and relies on SQLite's locking alone."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fh = open(Path(path) / KERNEL_LOCK, "a+b")
    except OSError:
        return None
    try:
        fcntl.flock(fh, fcntl.LOCK_SH)  # prune holds the exclusive lock only for a test: no real wait
    except OSError:
        fh.close()
        return None
    return fh


def release_kernel_lock(fh: IO | None) -> None:
    if fh is not None:
        try:
            fh.close()  # closing the file releases the lock
        except OSError:
            pass


def kernel_recording(path: str | Path) -> bool:
    """True if a live process holds the kernel lock of the store at `path` (cheap: one
    non-blocking lock attempt). False where that cannot be told."""
    lock = Path(path) / KERNEL_LOCK
    try:
        import fcntl
    except ImportError:
        return False
    if not lock.is_file():
        return False
    try:
        with open(lock, "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    except OSError:
        return False
    return False


# --- size and prune --------------------------------------------------------------------------


class Budget:
    """Size by frame and pruning (mixed into `Store`)."""

    def _plans_in_order(self) -> list[tuple[str, str, int | None, DataPlan | None, str | None]]:
        """(id, frame, cell, plan, note) of every version, in run order."""
        out = []
        for vid, frame, cell, text, note in self.db.execute(
                "select id, frame, cell, data, note from versions order by rowid"):
            try:
                plan = DataPlan.from_json(text) if text else None
            except Exception:
                raise StoreError(f"version {vid} has a data plan this CellSync cannot read; upgrade cellsync") from None
            out.append((vid, frame, cell, plan, note))
        return out

    def size_by_frame(self) -> StoreSize:
        owner: dict[str, str] = {}
        frames: dict[str, int] = {}
        for _, frame, _, plan, _ in self._plans_in_order():
            frames.setdefault(frame, 0)
            for key in plan_file_keys(plan) if plan is not None else ():
                owner.setdefault(key, frame)
        unreferenced = 0
        if self.files.root.is_dir():
            for path in self.files.root.glob("*/*"):
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                frame = owner.get(path.stem) if path.suffix in (".parquet", ".npy") else None
                if frame is None:
                    unreferenced += size
                else:
                    frames[frame] += size
        database = sum(p.stat().st_size for p in self.path.glob(DB_NAME + "*") if p.is_file())
        total = store_size(self.path)
        return StoreSize(total=total, database=database, frames=frames, unreferenced=unreferenced,
                         other=max(0, total - database - sum(frames.values()) - unreferenced))

    def prune(self, keep_last: int | None = None, before: int | None = None, cfg=None) -> PruneResult:
        """Drop the data of old versions: all but the newest `keep_last` versions with data of
        each frame, or those of cells (store ids) before `before`. A frame's newest version
        with data is never dropped: it is the frame as it stands, and the base of whatever the
        notebook does next. A kept version stored as a delta on a dropped one is first
        rewritten whole, so nothing kept loses a file. Cells, profiles, diffs, impacts, flags,
        metrics, segments and messages are not touched.

        Refuses (StoreInUse) while a kernel records into the store, where that can be told
        (`kernel_recording`); the writes themselves wait under busy_timeout like any writer's."""
        from ..config import settings

        cfg = cfg or settings
        self.require_writable()
        if (keep_last is None) == (before is None):
            raise StoreError("prune needs exactly one of keep_last or before")
        if keep_last is not None and keep_last < 1:
            raise StoreError("keep_last must be at least 1")
        if kernel_recording(self.path):
            raise StoreInUse(f"a running kernel is recording into {self.path}; stop it (or `%unload_ext cellsync`) "
                             "and prune again")
        started = time.time()
        versions = self._plans_in_order()
        plans = {vid: plan for vid, _, _, plan, _ in versions if plan is not None}
        with_data: dict[str, list[str]] = {}
        for vid, frame, _, plan, _ in versions:
            if plan is not None and plan.kind in ("full", "delta"):
                with_data.setdefault(frame, []).append(vid)
        cell_of = {vid: cell for vid, _, cell, _, _ in versions}
        drop: set[str] = set()
        for ids in with_data.values():
            older = ids[:-1]
            if keep_last is not None:
                older = older[:max(0, len(ids) - keep_last)]
            else:
                older = [v for v in older if cell_of[v] is not None and cell_of[v] < before]
            drop.update(older)

        old_keys: set[str] = set()
        rewritten: dict[str, DataPlan] = {}
        written = 0
        for vid, _, _, plan, _ in versions:
            if vid in drop or plan is None or plan.kind != "delta":
                continue
            chain = self._chain(plans, vid)
            if not chain & drop:
                continue
            try:
                new, n = self._rewrite_whole(plans, vid)
            except (NotPersistable, VersionDataUnavailable):
                drop -= chain  # cannot be rewritten: its chain stays, whole
                continue
            old_keys |= plan_file_keys(plan)
            plans[vid] = rewritten[vid] = new
            written += n

        when = date.today().isoformat()
        notes = {vid: note for vid, _, _, _, note in versions}
        with self.writing():
            for vid in drop:
                old_keys |= plan_file_keys(plans[vid])
                pruned = DataPlan(kind="pruned", rows=plans[vid].rows, sampled=plans[vid].sampled,
                                  sample_of=plans[vid].sample_of, series=plans[vid].series,
                                  note=f"data pruned on {when} (cellsync prune); profile and diff kept")
                sentence = f"Its data was pruned on {when} (cellsync prune); its profile and diff are kept."
                note = f"{notes[vid]} {sentence}" if notes[vid] else sentence
                self.db.execute("update versions set data = ?, note = ? where id = ?", [pruned.to_json(), note, vid])
            for vid, plan in rewritten.items():
                self.db.execute("update versions set data = ? where id = ?", [plan.to_json(), vid])
        self._plans.clear()
        files, freed = self.files.remove_keys(old_keys - self.referenced_files(), not_after=started)
        return PruneResult(versions_pruned=len(drop), versions_rewritten=len(rewritten), files_removed=files,
                           bytes_freed=freed, bytes_written=written)

    @staticmethod
    def _chain(plans: dict[str, DataPlan], vid: str) -> set[str]:
        """The versions a delta's rebuild reads: its bases down to a whole one."""
        out, plan = set(), plans.get(vid)
        while plan is not None and plan.kind == "delta" and plan.base not in out:
            out.add(plan.base)
            plan = plans.get(plan.base)
        return out

    def _rewrite_whole(self, plans: dict[str, DataPlan], vid: str) -> tuple[DataPlan, int]:
        """A delta's plan made whole: the columns it took from its base written as files of its
        own (content-keyed, so one equal to an existing file costs nothing), its own columns
        and row positions (for removed/added rows) kept as they are."""
        plan = plans[vid]
        inherited = [j for j, ref in enumerate(plan.columns) if ref.parent is not None]
        frame = rebuild(self.files, plan, plans.__getitem__, inherited)
        absent = frame.attrs.get(NOT_PERSISTED_POSITIONS, {})
        refs, written = list(plan.columns), 0
        for i, j in enumerate(inherited):
            if i in absent:
                refs[j] = ColumnRef(label=plan.columns[j].label, encoding="none", dtype=str(frame.dtypes.iloc[i]),
                                    note=absent[i])
                continue
            ref, n = self.files.write_series(frame.iloc[:, i])
            refs[j] = dataclasses.replace(ref, label=plan.columns[j].label)
            written += n
        index = plan.index
        if index is not None and index.kind == "base":
            index, n = _write_index(self.files, frame)
            index = dataclasses.replace(index, columns_names=plan.index.columns_names)
            written += n
        return dataclasses.replace(plan, kind="full", depth=0, columns=tuple(refs), index=index,
                                   bytes_written=plan.bytes_written + written), written

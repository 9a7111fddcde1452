"""The store: one folder holding `cellsync.db` (SQLite via sqlite-utils) and `data/` (column
files). It is the only contract between the notebook side and everything that reads it.

Writers (the tracker's worker) use WAL, a busy timeout and one transaction per cell. Readers
(`open_store(path)`, the CLI, the dashboard) can open it read-only, which never creates or
writes a file. The schema is described in docs/store.md.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote

import numpy as np
import pandas as pd
import sqlite_utils

from .diff import FrameDiff
from .errors import (
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreNotFound,
    StoreNotWritable,
    StoreReadOnly,
    StoreTooNew,
    VersionDataUnavailable,
    VersionDataUnreadable,
)
from .operations import Operation
from .profile import FrameProfile
from .records import Record
from .redact import redact
from .cache import BoundedDict
from .versions import ColumnFiles, DataPlan, rebuild

if TYPE_CHECKING:
    from .metrics import MetricValue, ModelInfo
    from .segments import Segment, SegmentImpact

DB_NAME = "cellsync.db"
MAX_SEGMENT_TEXT = 2000  # the longest segment text the parser accepts (segments.parse)
DATA_DIR = "data"

migrations = sqlite_utils.Migrations("cellsync")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["sessions"].create(
        {
            "id": str,
            "started_at": str,
            "notebook": str,
            "pid": int,
            "python": str,
            "pandas": str,
            "cellsync": str,
        },
        pk="id",
    )
    db["cells"].create(
        {
            "id": int,
            "session_id": str,
            "seq": int,
            "execution_count": int,
            "cell_id": str,
            "notebook": str,
            "code": str,
            "started_at": str,
            "duration_s": float,
            "status": str,
            "error_type": str,
            "error_message": str,
        },
        pk="id",
        foreign_keys=[("session_id", "sessions", "id")],
    )
    db["cells"].create_index(["session_id", "seq"], unique=True)
    db["versions"].create(
        {
            "id": str,
            "frame": str,
            "session_id": str,
            "cell": int,
            "parent_id": str,
            "parent_frame": str,
            "change": str,
            "n_rows": int,
            "n_cols": int,
            "profile": str,
            "diff": str,
            "data": str,
            "note": str,
        },
        pk="id",
        foreign_keys=[("cell", "cells", "id")],
    )
    db["versions"].create_index(["frame"])
    db["versions"].create_index(["cell"])
    db["problems"].create(
        {"kind": str, "message": str, "count": int, "first_seen": str, "last_seen": str},
        pk="kind",
    )


@migrations()
def m002_segments_and_metrics(db: sqlite_utils.Database) -> None:
    db["segments"].create(
        {
            "id": int,
            "frame": str,  # "" for a segment that applies to any frame with its columns
            "name": str,
            "text": str,
            "spec": str,
            "source": str,
            "session_id": str,
            "created_at": str,
        },
        pk="id",
    )
    db["segments"].create_index(["frame", "text"], unique=True)
    db["impacts"].create(
        {
            "id": int,
            "version_id": str,
            "cell": int,
            "frame": str,
            "segment": str,
            "name": str,
            "rows_before": int,
            "rows_after": int,
            "rows_removed": int,
            "rows_added": int,
            "rows_left": int,
            "rows_entered": int,
            "removal_rate": float,
            "overall_removal_rate": float,
            "values_changed": str,
            "flagged": int,
            "note": str,
        },
        pk="id",
        foreign_keys=[("cell", "cells", "id")],
    )
    db["impacts"].create_index(["cell"])
    db["impacts"].create_index(["frame", "segment"])
    db["metrics"].create(
        {
            "id": int,
            "cell": int,
            "name": str,
            "value": float,
            "previous": float,
            "segment": str,
            "model": str,
            "source": str,
            "n": int,
            "note": str,
        },
        pk="id",
        foreign_keys=[("cell", "cells", "id")],
    )
    db["metrics"].create_index(["cell"])
    db["models"].create(
        {"id": int, "cell": int, "name": str, "cls": str, "params": str, "n_features": int, "fitted": int},
        pk="id",
        foreign_keys=[("cell", "cells", "id")],
    )


@migrations()
def m003_explanations(db: sqlite_utils.Database) -> None:
    db["explanations"].create(
        {
            "id": int,
            "cell": int,
            "model": str,
            "summary": str,
            "details": str,
            "caveats": str,
            "unverified": str,
            "note": str,
            "cache_key": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("cell", "cells", "id")],
    )
    db["explanations"].create_index(["cell"])
    db["explanations"].create_index(["cache_key"])


@migrations()
def m004_chat(db: sqlite_utils.Database) -> None:
    db["threads"].create(
        {
            "id": str,
            "cell": int,  # store id of the cell the thread is about (None: the notebook)
            "execution_count": int,
            "frame": str,
            "column": str,
            "segment": str,
            "status": str,  # open | resolved
            "created_at": str,
            "created_by": str,
            "resolved_at": str,
            "resolved_by": str,
        },
        pk="id",
    )
    db["threads"].create_index(["cell"])
    db["threads"].create_index(["status"])
    db["messages"].create(
        {"id": str, "thread_id": str, "author": str, "role": str, "text": str, "created_at": str},
        pk="id",
        foreign_keys=[("thread_id", "threads", "id")],
    )
    db["messages"].create_index(["thread_id"])


@migrations()
def m005_operations(db: sqlite_utils.Database) -> None:
    # what each change was (operations.Operation as JSON), and impacts that follow from the
    # operation's own condition (a segment on the column a filter tested)
    # a suggested segment on values a cell rewrote (it matches nothing any more) is retired
    for table, column, kind in (("versions", "operation", str), ("impacts", "by_construction", int),
                                ("segments", "retired", int)):
        if column not in db[table].columns_dict:  # a store restored from parts may have it
            db[table].add_column(column, kind)


def _busy_timeout() -> float:
    from .config import settings

    return float(settings.busy_timeout)


def _orphan_min_age(min_age: float | None) -> float:
    from .config import settings

    return float(settings.orphan_min_age if min_age is None else min_age)


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_read_only(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF == sqlite3.SQLITE_READONLY:
        return True
    return "readonly" in str(exc).lower() or "read-only" in str(exc).lower()


def _can_write_in(folder: Path) -> bool:
    """Try it: os.access says yes to root on a read-only mount, and no to nothing else useful."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".cellsync-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CellRun(Record):
    session_id: str
    seq: int
    execution_count: int | None
    cell_id: str | None
    notebook: str | None
    code: str
    started_at: str
    duration_s: float
    status: str  # ok | error
    error_type: str | None = None
    error_message: str | None = None
    id: int | None = None  # assigned by the store


@dataclass(frozen=True)
class Version(Record):
    id: str
    frame: str
    session_id: str
    change: str  # new | rebound | mutated | alias | deleted
    n_rows: int | None
    n_cols: int | None
    parent_id: str | None = None
    parent_frame: str | None = None
    cell: int | None = None
    profile: FrameProfile | None = None
    diff: FrameDiff | None = None
    data: DataPlan | None = None
    note: str | None = None
    operation: Operation | None = None


class Store:
    """A CellSync store folder. `Store(path)` creates it if needed; `read_only=True` opens an
    existing one without writing anything (and raises StoreNotFound if there is none)."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path).expanduser()
        self.read_only = read_only
        self.db_path = self.path / DB_NAME
        self.files = ColumnFiles(self.path / DATA_DIR)
        if read_only:
            self._open_read_only()
        else:
            self._open_writable()
        self._plans: BoundedDict = BoundedDict(1024)
        self._columns_of_versions: list[str] | None = None

    # --- opening ---------------------------------------------------------------------------

    def _open_read_only(self) -> None:
        if not self.path.exists():
            raise StoreNotFound(f"no CellSync store at {self.path}")
        if not self.db_path.is_file():
            raise StoreNotFound(f"{self.path} is not a CellSync store (no {DB_NAME})")
        uri = f"file:{quote(str(self.db_path.resolve()))}?mode=ro"

        def connect():
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            self.db = sqlite_utils.Database(conn)
            # an older store (fewer migrations) is read as it is: what it lacks reads as empty
            self._check_schema(allow_pending=True)
            self._tables = set(self.db.table_names())

        # a reader waits at most the page-friendly 5 s a statement waits, not a writer's timeout
        self._retry_busy(connect, min(5.0, _busy_timeout()), "a readable")

    def _open_writable(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreNotWritable(f"cannot create a store at {self.path}: {exc.strerror or exc}") from None
        if not _can_write_in(self.path):
            raise StoreNotWritable(
                f"{self.path} is a read-only folder: open it read-only "
                "(`cellsync serve --read-only`, `cellsync.open_store(path)`)")
        timeout = _busy_timeout()

        def connect():
            conn = sqlite3.connect(str(self.db_path), check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; fast per cell
            self._check_schema(allow_pending=True)
            if self._pending_migrations():
                with self._writing():
                    migrations.apply(self.db)
            self._tables = set(self.db.table_names())

        self._retry_busy(connect, timeout, "a usable")

    def _retry_busy(self, connect, timeout: float, usable: str) -> None:
        """Run `connect`, again and again while SQLite says the database is busy or locked.
        Switching the journal mode and a few other steps of opening fail at once with
        'database is locked' (SQLite skips the busy handler where waiting could deadlock),
        so opening beside a writer must wait here, under the same timeout a write waits."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                connect()
                return
            except sqlite3.DatabaseError as exc:
                self._close_quietly()
                if _is_busy(exc):
                    if time.monotonic() < deadline:
                        time.sleep(delay)
                        delay = min(delay * 2, 0.1)
                        continue
                    raise StoreBusy(
                        f"{self.db_path} is busy: another process held its lock for over {timeout:g} s; "
                        "try again (or raise settings.busy_timeout)") from None
                if _is_read_only(exc):
                    raise StoreNotWritable(
                        f"{self.db_path} cannot be written ({exc}): open it read-only "
                        "(`cellsync serve --read-only`, `cellsync.open_store(path)`)") from None
                raise StoreCorrupt(f"{self.db_path} is not {usable} CellSync store: {exc}") from None
            except OSError as exc:
                self._close_quietly()
                raise StoreError(f"cannot open the store at {self.path}: {exc}") from None

    def _close_quietly(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            try:
                db.conn.close()
            except Exception:
                pass

    def _pending_migrations(self) -> bool:
        known = [m.name for m in migrations._migrations]
        if migrations.migrations_table not in self.db.table_names():
            return True
        return bool(set(known) - {m.name for m in migrations.applied(self.db)})

    def has(self, table: str) -> bool:
        return table in self._tables

    def _check_schema(self, allow_pending: bool = False) -> None:
        known = {m.name for m in migrations._migrations}
        table_names = set(self.db.table_names())
        if not table_names and allow_pending and not self.read_only:
            return  # a brand-new file
        if migrations.migrations_table not in table_names:
            raise StoreCorrupt(f"{self.db_path} is an SQLite file but not a CellSync store")
        applied = {m.name for m in migrations.applied(self.db)}
        unknown = applied - known
        if unknown:
            raise StoreTooNew(
                f"{self.path} was written by a newer CellSync (schema step "
                f"{sorted(unknown)[-1]}); upgrade cellsync to read it"
            )
        if not allow_pending and known - applied:
            raise StoreError(
                f"{self.path} uses an older schema; open it once with a writable CellSync "
                "to upgrade it"
            )

    def close(self) -> None:
        try:
            if not self.read_only:
                # Back to a rollback journal when the writer leaves: the -wal/-shm files go
                # away, so a later read-only open has nothing to create. Fails harmlessly
                # (and stays WAL) while another connection is open.
                self.db.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.DatabaseError:
            pass
        try:
            self.db.conn.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly(f"{self.path} is open read-only")

    @contextlib.contextmanager
    def _writing(self):
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE). A plain
        BEGIN reads first and then fails with 'database is locked', without waiting, when
        another process wrote in between; IMMEDIATE waits (busy_timeout) instead."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise StoreBusy(f"{self.db_path} is busy: another process held its lock too long; "
                                "try again (or raise settings.busy_timeout)") from None
            raise
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()

    # --- writing ---------------------------------------------------------------------------

    def start_session(self, session_id: str, notebook: str | None, info: dict) -> None:
        self._writable()
        with self._writing():
            self.db["sessions"].insert(
                {"id": session_id, "started_at": now_iso(), "notebook": notebook, **info},
                replace=True,
            )
        # the next writer cleans up after a killed one; a failed sweep never stops a session
        try:
            self.remove_leftovers()
        except Exception:
            pass

    def referenced_files(self) -> set[str]:
        """Keys of every data file a committed version needs."""
        from .versions import plan_file_keys

        keys: set[str] = set()
        for (text,) in self.db.execute("select data from versions where data is not null"):
            try:
                keys |= plan_file_keys(DataPlan.from_json(text))
            except Exception:
                # a plan this version cannot parse (a newer CellSync's): keep every file
                return {p.stem for p in self.files.root.glob("*/*")}
        return keys

    def leftovers(self, min_age: float | None = None) -> list[Path]:
        """Data files no committed version references, and temporary files (what a writer
        killed mid-cell leaves), older than `min_age` (default settings.orphan_min_age)."""
        return self.files.leftovers(self.referenced_files(), _orphan_min_age(min_age))

    def remove_leftovers(self, min_age: float | None = None) -> tuple[int, int]:
        """Remove `leftovers()`; returns (files, bytes) removed."""
        self._writable()
        return self.files.remove_leftovers(self.referenced_files(), _orphan_min_age(min_age))

    def write_cell(
        self,
        cell: CellRun,
        versions: Iterable[Version],
        impacts: Iterable[tuple[str, str, "SegmentImpact"]] = (),
        metrics: Iterable["MetricValue"] = (),
        models: Iterable["ModelInfo"] = (),
        segments: Iterable["Segment"] = (),
        retired: Iterable[tuple[str, str]] = (),
    ) -> int:
        """One transaction: the cell run, every version it produced, the segment impacts
        (version id, frame, impact), captured metrics and models, new segments, and the
        (frame, text) of suggested segments this cell made stale."""
        self._writable()
        # a segment no one could type (a 10 MB value made into `kind == "..."`) is not kept,
        # nor its impacts: one such value made a 91 MB store and 20 MB of `show --json`
        segments = [seg for seg in segments if len(seg.text) <= MAX_SEGMENT_TEXT]
        impacts = [imp for imp in impacts if len(imp[2].segment or "") <= MAX_SEGMENT_TEXT]
        with self._writing():
            for frame, text in retired:
                self.db.execute("UPDATE segments SET retired = 1 WHERE frame = ? AND text = ? AND source = 'suggested'",
                                [frame or "", text])
            for seg in segments:
                self._insert_segment(seg, cell.session_id)
            row = cell.to_dict()
            row.pop("id")
            cell_pk = self.db["cells"].insert(row).last_pk
            rows = []
            for v in versions:
                rows.append(
                    {
                        "id": v.id,
                        "frame": v.frame,
                        "session_id": v.session_id,
                        "cell": cell_pk,
                        "parent_id": v.parent_id,
                        "parent_frame": v.parent_frame,
                        "change": v.change,
                        "n_rows": v.n_rows,
                        "n_cols": v.n_cols,
                        "profile": v.profile.to_json() if v.profile else None,
                        "diff": v.diff.to_json() if v.diff else None,
                        "data": v.data.to_json() if v.data else None,
                        "note": v.note,
                        "operation": v.operation.to_json() if v.operation else None,
                    }
                )
            if rows:
                self.db["versions"].insert_all(rows)
            impact_rows = []
            for version_id, frame, imp in impacts:
                row = imp.to_dict()
                row.update(
                    version_id=version_id, cell=cell_pk, frame=frame,
                    values_changed=json.dumps(row["values_changed"] or {}),
                    flagged=int(imp.flagged),
                    by_construction=int(imp.by_construction),
                )
                impact_rows.append(row)
            if impact_rows:
                self.db["impacts"].insert_all(impact_rows)
            metric_rows = [{**m.to_dict(), "cell": cell_pk} for m in metrics]
            if metric_rows:
                self.db["metrics"].insert_all(metric_rows)
            model_rows = [
                {**m.to_dict(), "params": json.dumps(m.params), "fitted": int(m.fitted), "cell": cell_pk}
                for m in models
            ]
            if model_rows:
                self.db["models"].insert_all(model_rows)
        return int(cell_pk)

    def _insert_segment(self, seg: "Segment", session_id: str | None) -> None:
        self.db.execute(
            "INSERT INTO segments (frame, name, text, spec, source, session_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(frame, text) DO UPDATE SET retired = 0, "
            "name = CASE WHEN excluded.source = 'suggested' THEN segments.name ELSE excluded.name END, "
            "source = CASE WHEN excluded.source = 'suggested' THEN segments.source ELSE excluded.source END",
            [seg.frame or "", seg.name, seg.text, json.dumps(seg.spec), seg.source, session_id, now_iso()],
        )

    def add_segment(self, seg: "Segment", session_id: str | None = None) -> None:
        """Store a segment (from the notebook or the dashboard); the same text twice is one."""
        self._writable()
        with self._writing():
            self._insert_segment(seg, session_id)

    def record_problem(self, kind: str, message: str) -> None:
        self._writable()
        at = now_iso()
        with self._writing():
            self.db.execute(
                "INSERT INTO problems (kind, message, count, first_seen, last_seen) "
                "VALUES (?, ?, 1, ?, ?) ON CONFLICT(kind) DO UPDATE SET "
                "count = count + 1, last_seen = excluded.last_seen, message = excluded.message",
                [kind, message[:500], at, at],
            )

    # --- queries ---------------------------------------------------------------------------

    def sessions(self) -> list[dict]:
        return list(self.db["sessions"].rows_where(order_by="started_at"))

    def cells(self, session_id: str | None = None, ids: Iterable[int] | None = None) -> list[CellRun]:
        clauses, args = [], []
        if session_id:
            clauses.append("session_id = ?")
            args.append(session_id)
        if ids is not None:
            clauses.append(_id_list("id", ids, args))
        return [
            CellRun.from_dict(r)
            for r in self.db["cells"].rows_where(" and ".join(clauses) or None, args, order_by="id")
        ]

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
            clauses.append(_id_list("cell", cells, args))
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

    def segments(self, frame: str | None = None, retired: bool = False) -> list["Segment"]:
        """Segments for a frame (its own and those for any frame), or all when frame is None;
        suggested segments retired because their values were rewritten only with `retired`."""
        from .segments import Segment

        if not self.has("segments"):
            return []
        clauses, args = [], []
        if frame is not None:
            clauses.append("frame in (?, '')")
            args.append(frame)
        if not retired and "retired" in self.db["segments"].columns_dict:
            clauses.append("coalesce(retired, 0) = 0")
        rows = self.db["segments"].rows_where(" and ".join(clauses) or None, args, order_by="id")
        return [
            Segment(name=r["name"], text=r["text"], spec=json.loads(r["spec"]), source=r["source"], frame=r["frame"] or None)
            for r in rows
        ]

    def impacts(self, cell: int | None = None, frame: str | None = None, segment: str | None = None,
                cells: Iterable[int] | None = None) -> list[dict]:
        if not self.has("impacts"):
            return []
        clauses, args = [], []
        for col, val in (("cell", cell), ("frame", frame), ("segment", segment)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        if cells is not None:
            clauses.append(_id_list("cell", cells, args))
        rows = self.db["impacts"].rows_where(" and ".join(clauses) or None, args, order_by="id")
        out = []
        for r in rows:
            r["values_changed"] = json.loads(r["values_changed"] or "{}")
            r["flagged"] = bool(r["flagged"])
            r["by_construction"] = bool(r.get("by_construction"))
            out.append(r)
        return out

    def metrics(self, cell: int | None = None, name: str | None = None, cells: Iterable[int] | None = None) -> list[dict]:
        if not self.has("metrics"):
            return []
        clauses, args = [], []
        for col, val in (("cell", cell), ("name", name)):
            if val is not None:
                clauses.append(f"{col} = ?")
                args.append(val)
        if cells is not None:
            clauses.append(_id_list("cell", cells, args))
        return list(self.db["metrics"].rows_where(" and ".join(clauses) or None, args, order_by="id"))

    def models(self, cell: int | None = None) -> list[dict]:
        if not self.has("models"):
            return []
        rows = self.db["models"].rows_where("cell = ?" if cell is not None else None, [cell] if cell is not None else [], order_by="id")
        return [{**r, "params": json.loads(r["params"] or "{}"), "fitted": bool(r["fitted"])} for r in rows]

    def write_explanation(self, cell: int, ex, cache_key: str | None = None) -> None:
        """Store a cell's explanation; the newest one per cell is the one shown."""
        self._writable()
        with self._writing():
            self.db["explanations"].insert(
                {
                    # an LLM may quote the code back: redact again, whatever wrote the text
                    "cell": cell, "model": ex.model, "summary": redact(ex.summary), "details": redact(ex.details),
                    "caveats": json.dumps(list(ex.caveats)), "unverified": json.dumps(list(ex.unverified_numbers)),
                    "note": ex.note, "cache_key": cache_key, "created_at": now_iso(),
                }
            )

    def explanations(self, cell: int | None = None, cells: Iterable[int] | None = None) -> dict[int, dict]:
        """The current (newest) explanation of every cell that has one (or of one cell)."""
        if not self.has("explanations"):
            return {}
        out: dict[int, dict] = {}
        clauses, args = [], []
        if cell is not None:
            clauses.append("cell = ?")
            args.append(cell)
        if cells is not None:
            clauses.append(_id_list("cell", cells, args))
        for r in self.db["explanations"].rows_where(" and ".join(clauses) or None, args, order_by="id"):
            r["caveats"] = json.loads(r["caveats"] or "[]")
            r["unverified"] = json.loads(r["unverified"] or "[]")
            out[r["cell"]] = r
        return out

    def cached_explanation(self, cache_key: str) -> dict | None:
        if not self.has("explanations"):
            return None
        rows = list(self.db["explanations"].rows_where("cache_key = ?", [cache_key], order_by="id desc", limit=1))
        if not rows:
            return None
        r = rows[0]
        r["caveats"] = json.loads(r["caveats"] or "[]")
        r["unverified"] = json.loads(r["unverified"] or "[]")
        return r

    def problems(self) -> list[dict]:
        return list(self.db["problems"].rows_where(order_by="kind"))

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

    def _plan(self, version_id: str) -> DataPlan:
        plan = self._plans.get(version_id)
        if plan is None:
            rows = list(self.db.query("select data from versions where id = ?", [version_id]))
            if not rows or not rows[0]["data"]:
                raise VersionDataUnavailable(f"version {version_id} has no persisted data")
            plan = self._plans[version_id] = DataPlan.from_json(rows[0]["data"])
        return plan

    @contextlib.contextmanager
    def _reading(self, version_id: str):
        """A damaged data file is reported with the version it was read for."""
        try:
            yield
        except VersionDataUnreadable as exc:
            raise VersionDataUnreadable(f"version {version_id}: {exc}") from None

    def load_frame(self, version_id: str) -> pd.DataFrame:
        """Rebuild a version's data from the store alone (no kernel needed). Every column comes
        back exactly as it was, or, if it could not be kept (objects only pickle could store, a
        column named like a secret), as NA with its reason in
        `frame.attrs["cellsync_not_persisted"]` ({label: "not persisted: <reason>"})."""
        with self._reading(version_id):
            return rebuild(self.files, self._plan(version_id), self._plan)

    def load(self, version_id: str) -> pd.DataFrame | pd.Series:
        """Like `load_frame`, but a version of a Series comes back as that Series."""
        frame = self.load_frame(version_id)
        if self._plan(version_id).series and frame.shape[1] == 1:
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
        with self._reading(version_id):
            # strict: a segment or distribution must never be computed on a column that is not there
            frame = rebuild(self.files, self._plan(version_id), self._plan, positions, cache, strict=True)
        if cache is not None:
            cache[key] = frame
        return frame

    def snapgrid(self, frame: str, segment, columns=()):
        """One segment across every stored version of a frame (see cellsync.snapgrid)."""
        from .snapgrid import snapgrid

        return snapgrid(self, frame, segment, columns)

    def rows_of(self, version_id: str, rows) -> pd.DataFrame:
        """Only some rows of a version (positions, in order): each level of its delta chain
        gathers just those rows, not all of them."""
        with self._reading(version_id):
            return rebuild(self.files, self._plan(version_id), self._plan, rows=np.asarray(rows, dtype=np.int64))

    def removed_rows(self, version_id: str, limit: int | None = None) -> pd.DataFrame:
        """The parent's rows that this version no longer has (the first `limit` of them)."""
        v = self.version(version_id)
        plan = self._plan(version_id)
        if not v.parent_id or not plan.parent_rows:
            return self.rows_of(version_id, [])
        parent = self._plan(v.parent_id)
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
        plan = self._plan(version_id)
        if not v.parent_id:
            return self.rows_of(version_id, np.arange(plan.rows)[:limit])  # every row is new
        if not plan.parent_rows or plan.sampled:
            return self.rows_of(version_id, [])
        with self._reading(version_id):
            positions = self.files.read_positions(plan.parent_rows, plan.parent_count)
        return self.rows_of(version_id, np.flatnonzero(positions < 0)[:limit])

    def timeline(self, cells: Iterable[int] | None = None) -> list[dict]:
        """Cells in run order, each with the frames it changed: what `cellsync show` prints.
        `cells` (store ids) limits it to those cells: how a live view refreshes only what
        `changed_cells` reports."""
        if cells is not None:
            cells = sorted(set(cells))
            if not cells:
                return []
        by_cell: dict[int, list[Version]] = {}
        for v in self.versions(profiles=False, cells=cells):
            by_cell.setdefault(v.cell, []).append(v)
        impacts_by_cell: dict[int, list[dict]] = {}
        for imp in self.impacts(cells=cells):
            impacts_by_cell.setdefault(imp["cell"], []).append(impact_summary(imp))
        metrics_by_cell: dict[int, list[dict]] = {}
        for m in self.metrics(cells=cells):
            metrics_by_cell.setdefault(m["cell"], []).append(metric_summary(m))
        explanations = self.explanations(cells=cells)
        out = []
        for c in self.cells(ids=cells):
            entry = cell_entry(c, by_cell.get(c.id, []), impacts_by_cell.get(c.id, []), metrics_by_cell.get(c.id, []))
            ex = explanations.get(c.id)
            entry["summary"] = ex["summary"] if ex else None
            entry["summary_model"] = ex["model"] if ex else None
            entry["unverified_numbers"] = ex["unverified"] if ex else []
            out.append(entry)
        return out

    def data_version(self) -> int:
        """SQLite's PRAGMA data_version: moves whenever another connection commits. A
        microsecond query: what a live view asks first, before anything costlier."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # what a live view polls: the highest row id of each table a timeline entry reads
    _MARKED = (("cells", "id", "id"), ("versions", "rowid", "cell"), ("impacts", "id", "cell"),
               ("metrics", "id", "cell"), ("explanations", "id", "cell"))

    def marks(self) -> dict[str, int]:
        """The highest row id of every table a timeline entry is built from. Rows are only
        ever added, so two marks tell which cells changed in between (`changed_cells`)."""
        out = {}
        for table, key, _ in self._MARKED:
            if self.has(table):
                out[table] = self.db.execute(f"select coalesce(max({key}), 0) from {table}").fetchone()[0]
        return out

    def changed_cells(self, since: dict[str, int]) -> set[int]:
        """Store ids of the cells whose timeline entries gained rows after the marks `since`
        (new cells, and older cells whose summary, metrics or impacts arrived later)."""
        out: set[int] = set()
        for table, key, cell in self._MARKED:
            if self.has(table):
                out.update(r[0] for r in self.db.execute(
                    f"select distinct {cell} from {table} where {key} > ? and {cell} is not null", [since.get(table, 0)]))
        return out

    def summary(self) -> dict[str, Any]:
        def count(table):
            return self.db[table].count if table in self.db.table_names() else 0

        return {
            "path": str(self.path),
            "sessions": count("sessions"),
            "cells": count("cells"),
            "versions": count("versions"),
            "frames": len(self.frames()),
            "problems": self.problems(),
            "size_bytes": store_size(self.path),
        }


_IMPACT_KEYS = (
    "frame", "segment", "name", "rows_before", "rows_after", "rows_removed", "rows_added",
    "rows_left", "rows_entered", "removal_rate", "overall_removal_rate", "values_changed",
    "flagged", "by_construction", "note",
)
_METRIC_KEYS = ("name", "value", "previous", "segment", "model", "source", "n", "note")


def impact_summary(imp: dict) -> dict[str, Any]:
    return {k: imp.get(k) for k in _IMPACT_KEYS}


def metric_summary(m: dict) -> dict[str, Any]:
    return {k: m.get(k) for k in _METRIC_KEYS}


def cell_entry(c: CellRun, versions: list[Version], impacts: list[dict], metrics: list[dict]) -> dict[str, Any]:
    """One cell as `cellsync show --json` prints it (and as explainers read it)."""
    return {
        "id": c.id,
        "session_id": c.session_id,
        "execution_count": c.execution_count,
        "cell_id": c.cell_id,
        "notebook": c.notebook,
        "code": c.code,
        "started_at": c.started_at,
        "duration_s": c.duration_s,
        "status": c.status,
        "error": {"type": c.error_type, "message": c.error_message} if c.status == "error" else None,
        "frames": [frame_summary(v) for v in versions],
        "segments": impacts,
        "metrics": metrics,
    }


def frame_summary(v: Version) -> dict[str, Any]:
    d, op = v.diff, v.operation
    return {
        "name": v.frame,
        "version": v.id,
        "change": v.change,
        "parent": v.parent_frame,
        "parent_version": v.parent_id,
        "rows_before": d.rows_before if d else None,
        "rows_after": v.n_rows,
        "rows_removed": d.rows_removed if d else 0,
        "rows_added": d.rows_added if d else 0,
        "row_identity": d.row_identity if d else None,
        "reordered": d.reordered if d else False,
        "columns_added": list(d.columns_added) if d else [],
        "columns_removed": list(d.columns_removed) if d else [],
        "columns_renamed": dict(d.columns_renamed) if d else {},
        "dtype_changes": {k: {"before": c.before, "after": c.after} for k, c in (d.dtype_changes.items() if d else [])},
        "values_changed": dict(d.values_changed) if d else {},
        "n_cols": v.n_cols,
        "data": v.data.kind if v.data else None,
        "note": v.note,
        "index_changed": bool(d.index_changed) if d else False,
        "index": (op.detail.get("index") if op else None) if d and d.index_changed else None,
        "series": bool(op.series) if op else False,
        "operation": op.to_dict() if op else None,
    }


def _id_list(column: str, ids: Iterable[int], args: list) -> str:
    """`column in (?, ?, ...)` for a where clause; the ids go to args (never into the SQL)."""
    ids = [int(i) for i in ids]
    args.extend(ids)
    return f"{column} in ({', '.join('?' * len(ids))})" if ids else "0"


def store_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def open_store(path: str | Path, read_only: bool = True) -> Store:
    """Open an existing store for queries (read-only by default)."""
    return Store(path, read_only=read_only)

"""Opening a store (read-only or writable), its schema check, and the one way to write:
`writing()`, a `BEGIN IMMEDIATE` transaction."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import sqlite_utils

from ..cache import BoundedDict
from ..errors import StoreBusy, StoreCorrupt, StoreError, StoreNotFound, StoreNotWritable, StoreReadOnly, StoreTooNew
from ..versions import ColumnFiles
from .schema import DATA_DIR, DB_NAME, STEPS, applied_steps, migrations, pending_steps


def _busy_timeout() -> float:
    from ..config import settings

    return float(settings.busy_timeout)


def _orphan_min_age(min_age: float | None) -> float:
    from ..config import settings

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


class Connection:
    """The connection to a store folder: opening, the schema check, closing, and `writing()`.
    `Store` is this plus its queries (`store/__init__.py`)."""

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
                with self.writing():
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
        if migrations.migrations_table not in self.db.table_names():
            return True
        return bool(pending_steps(self.db))

    def has(self, table: str) -> bool:
        return table in self._tables

    def _check_schema(self, allow_pending: bool = False) -> None:
        known = set(STEPS)
        table_names = set(self.db.table_names())
        if not table_names and allow_pending and not self.read_only:
            return  # a brand-new file
        if migrations.migrations_table not in table_names:
            raise StoreCorrupt(f"{self.db_path} is an SQLite file but not a CellSync store")
        applied = applied_steps(self.db)
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

    def require_writable(self) -> None:
        if self.read_only:
            raise StoreReadOnly(f"{self.path} is open read-only")

    @contextlib.contextmanager
    def writing(self):
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

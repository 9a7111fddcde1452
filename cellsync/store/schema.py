"""The store's schema: named migration steps (`sqlite_utils.Migrations`, sqlite-utils >= 4).

A store that has applied a step this list does not know was written by a newer CellSync
("too new"); listing what is pending never writes or creates a file.
"""

from __future__ import annotations

import sqlite_utils

DB_NAME = "cellsync.db"
MAX_SEGMENT_TEXT = 2000  # the longest segment text the parser accepts (segments.parse)
DATA_DIR = "data"

migrations = sqlite_utils.Migrations("cellsync")

# every step's name, in order: what "known" means when a store's applied steps are compared
# (the Migrations object keeps its own list private)
STEPS: list[str] = []


def step(fn):
    STEPS.append(fn.__name__)
    return migrations()(fn)


@step
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


@step
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


@step
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


@step
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


@step
def m005_operations(db: sqlite_utils.Database) -> None:
    # what each change was (operations.Operation as JSON), and impacts that follow from the
    # operation's own condition (a segment on the column a filter tested)
    # a suggested segment on values a cell rewrote (it matches nothing any more) is retired
    for table, column, kind in (("versions", "operation", str), ("impacts", "by_construction", int),
                                ("segments", "retired", int)):
        if column not in db[table].columns_dict:  # a store restored from parts may have it
            db[table].add_column(column, kind)


@step
def m006_sections(db: sqlite_utils.Database) -> None:
    # the notebook's Markdown heading above each cell (sections.py)
    if "section" not in db["cells"].columns_dict:
        db["cells"].add_column("section", str)


def applied_steps(db: sqlite_utils.Database) -> set[str]:
    return {m.name for m in migrations.applied(db)}


def pending_steps(db: sqlite_utils.Database) -> list[str]:
    """Steps not yet applied to `db` (reads only)."""
    return [m.name for m in migrations.pending(db)]

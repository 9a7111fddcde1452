"""Threads and messages about a cell, a column or a segment, kept in the store.

Every message is one write transaction with a UUID key, so two processes and any number of
threads can post at once without losing or duplicating anything; order within a thread is the
order of the commits (SQLite rowid). Readers notice new messages cheaply by polling the store
(`PRAGMA data_version`). `@assistant …` gets an answer from `explain.ask`, posted in the thread.
"""

from __future__ import annotations

import getpass
import re
import uuid
from dataclasses import dataclass

from .errors import CellsyncError
from .records import Record
from .store import Store, now_iso

ROLES = ("expert", "data_scientist", "assistant")
MAX_MESSAGE = 200_000  # characters; longer text is refused with a message, never cut silently
ASSISTANT = "@assistant"


class ChatError(CellsyncError):
    """A message or thread that cannot be written as asked."""


@dataclass(frozen=True)
class Message(Record):
    id: str
    thread_id: str
    author: str
    role: str
    text: str
    created_at: str


@dataclass(frozen=True)
class Thread(Record):
    id: str
    cell: int | None
    execution_count: int | None
    frame: str | None
    column: str | None
    segment: str | None
    status: str
    created_at: str
    created_by: str
    resolved_at: str | None = None
    resolved_by: str | None = None

    @property
    def anchor(self) -> str:
        parts = [f"cell {self.execution_count}" if self.execution_count is not None else "the notebook"]
        for label, value in (("frame", self.frame), ("column", self.column), ("segment", self.segment)):
            if value:
                parts.append(f"{label} {value}")
        return ", ".join(parts)


def default_name() -> str:
    try:
        return getpass.getuser() or "data scientist"
    except Exception:
        return "data scientist"


def _check(text: str, role: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ChatError("a message needs some text")
    if len(text) > MAX_MESSAGE:
        raise ChatError(f"a message may have at most {MAX_MESSAGE:,} characters (this one has {len(text):,})")
    if role not in ROLES:
        raise ChatError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return text


def _cell_row(store: Store, cell: int | None, execution_count: int | None):
    """The store's cell a thread is about: by store id, or the latest run of an execution count."""
    if cell is not None:
        rows = list(store.db.query("select id, execution_count from cells where id = ?", [cell]))
    elif execution_count is not None:
        rows = list(store.db.query(
            "select id, execution_count from cells where execution_count = ? order by id desc limit 1", [execution_count]))
        if not rows:
            raise ChatError(f"no cell {execution_count} has been recorded")
    else:
        return None, None
    if not rows:
        raise ChatError(f"no cell #{cell} in this store")
    return rows[0]["id"], rows[0]["execution_count"]


def start_thread(store: Store, text: str, author: str, role: str = "expert", cell: int | None = None,
                 execution_count: int | None = None, frame: str | None = None, column: str | None = None,
                 segment: str | None = None) -> Thread:
    """Open a thread anchored to a cell (and optionally a frame, column or segment)."""
    _check(text, role)
    store._writable()
    cell_id, count = _cell_row(store, cell, execution_count)
    thread = Thread(
        id=uuid.uuid4().hex, cell=cell_id, execution_count=count, frame=frame, column=column,
        segment=segment, status="open", created_at=now_iso(), created_by=author,
    )
    with store._writing():
        store.db["threads"].insert(thread.to_dict())
        store.db["messages"].insert(_message(thread.id, text, author, role).to_dict())
    return thread


def _message(thread_id: str, text: str, author: str, role: str) -> Message:
    return Message(id=uuid.uuid4().hex, thread_id=thread_id, author=author or role, role=role, text=text,
                   created_at=now_iso())


def post(store: Store, thread_id: str, text: str, author: str, role: str) -> Message:
    """Add a message to a thread (reopening it if it was resolved: a new message needs a look)."""
    _check(text, role)
    store._writable()
    msg = _message(thread_id, text, author, role)
    with store._writing():
        if not list(store.db.query("select 1 from threads where id = ?", [thread_id])):
            raise ChatError(f"no thread {thread_id!r}")
        store.db["messages"].insert(msg.to_dict())
        if role != "assistant":
            store.db.execute("update threads set status = 'open', resolved_at = null, resolved_by = null where id = ?", [thread_id])
    return msg


def set_status(store: Store, thread_id: str, status: str, by: str) -> None:
    store._writable()
    with store._writing():
        cur = store.db.execute(
            "update threads set status = ?, resolved_at = ?, resolved_by = ? where id = ?",
            [status, now_iso() if status == "resolved" else None, by if status == "resolved" else None, thread_id],
        )
        if cur.rowcount == 0:
            raise ChatError(f"no thread {thread_id!r}")


def threads(store: Store, status: str | None = None, cell: int | None = None) -> list[Thread]:
    if not store.has("threads"):
        return []
    clauses, args = [], []
    if status:
        clauses.append("status = ?")
        args.append(status)
    if cell is not None:
        clauses.append("cell = ?")
        args.append(cell)
    where = (" where " + " and ".join(clauses)) if clauses else ""
    # newest activity first
    rows = store.db.query(
        f"select t.*, (select max(m.rowid) from messages m where m.thread_id = t.id) as last "
        f"from threads t{where} order by last desc", args)
    return [Thread.from_dict(r) for r in rows]


def messages(store: Store, thread_id: str, last: int | None = None) -> list[Message]:
    """A thread's messages in order; `last=N` only its newest N (a long thread opens fast)."""
    if not store.has("messages"):
        return []
    if last is None:
        rows = store.db.query("select * from messages where thread_id = ? order by rowid", [thread_id])
    else:
        rows = store.db.query(
            "select * from (select rowid as _row, * from messages where thread_id = ? order by rowid desc limit ?) "
            "order by _row", [thread_id, max(0, int(last))])
        rows = ({k: v for k, v in r.items() if k != "_row"} for r in rows)
    return [Message.from_dict(r) for r in rows]


def signature(store: Store):
    """Changes whenever a message is written or a thread opened, resolved or reopened: what a
    view compares before reading anything else."""
    if not store.has("threads"):
        return None
    # the sum of open threads' rowids: resolving one thread and reopening another between
    # two looks changes it, where a count of open threads would not
    return (tuple(store.db.execute("select count(*), max(rowid) from messages").fetchone()),
            tuple(store.db.execute(
                "select count(*), sum(status = 'open'), total(case when status = 'open' then rowid end) from threads"
            ).fetchone()))


def activity(store: Store, thread_ids) -> dict[str, tuple[int, int]]:
    """(message count, rowid of the newest message) per thread: what a view compares to know
    whether a thread has anything new, without reading its messages."""
    ids = list(thread_ids)
    if not ids or not store.has("messages"):
        return {}
    marks = ", ".join("?" * len(ids))
    return {r[0]: (r[1], r[2]) for r in store.db.execute(
        f"select thread_id, count(*), max(rowid) from messages where thread_id in ({marks}) group by thread_id", ids)}


def overview(store: Store, status: str | None = "open") -> list[dict]:
    """Threads with their message count, newest message and the role of the last person
    (not the assistant) who wrote: the feedback list, in one query, newest activity first."""
    if not store.has("threads"):
        return []
    where, args = ("where t.status = ?", [status]) if status else ("", [])
    rows = store.db.query(
        "select t.*, s.n as n_messages, m.author as last_author, m.role as last_role, substr(m.text, 1, 200) as last_text, "
        "m.created_at as last_at, (select p.role from messages p where p.thread_id = t.id and p.role != 'assistant' "
        "order by p.rowid desc limit 1) as last_person_role "
        "from threads t join (select thread_id, count(*) as n, max(rowid) as last from messages group by thread_id) s "
        f"on s.thread_id = t.id join messages m on m.rowid = s.last {where} order by s.last desc", args)
    fields = set(Thread.__dataclass_fields__)
    return [{"thread": Thread.from_dict({k: v for k, v in r.items() if k in fields}),
             **{k: v for k, v in r.items() if k not in fields}} for r in rows]


def open_counts(store: Store) -> dict[int, int]:
    """Open threads per cell (store id)."""
    if not store.has("threads"):
        return {}
    return {r["cell"]: r["n"] for r in store.db.query(
        "select cell, count(*) as n from threads where status = 'open' and cell is not null group by cell")}


def answer_if_asked(store: Store, thread_id: str, text: str) -> Message | None:
    """`@assistant question` in a message: answer from the recorded facts, in the thread."""
    if not text.lstrip().lower().startswith(ASSISTANT):
        return None
    from .config import settings
    from .explain.ask import ask

    question = text.lstrip()[len(ASSISTANT):].strip() or "what did this cell do?"
    thread = next((t for t in threads(store) if t.id == thread_id), None)
    if thread is not None and thread.execution_count is not None and not re.search(r"cell\s*\[?\d", question.lower()):
        question = f"{question} (about cell {thread.execution_count})"
    answer = ask(store, question, settings.explain_model)
    return post(store, thread_id, answer.text, "assistant", "assistant")

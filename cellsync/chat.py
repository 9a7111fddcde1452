"""Threads and messages about a cell, a column or a segment, kept in the store.

Every message is one write transaction with a UUID key, so two processes and any number of
threads can post at once without losing or duplicating anything; order within a thread is the
order of the commits (SQLite rowid). Readers notice new messages cheaply by polling the store
(`PRAGMA data_version`). `@assistant …` is answered by a function the caller passes (see
`cellsync.assistant`), posted in the thread.

Domain rules only (who may write what, anchors, reopening): every SQL statement is a `Store`
method (`cellsync/store`), so the store stays the one seam between processes.
"""

from __future__ import annotations

import getpass
import re
import uuid
from dataclasses import dataclass
from typing import Callable

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


def start_thread(store: Store, text: str, author: str, role: str = "expert", cell: int | None = None,
                 execution_count: int | None = None, frame: str | None = None, column: str | None = None,
                 segment: str | None = None) -> Thread:
    """Open a thread anchored to a cell (and optionally a frame, column or segment)."""
    _check(text, role)
    store.require_writable()  # before looking the cell up: a read-only store says so first
    cell_id, count = _anchor(store, cell, execution_count)
    thread = Thread(
        id=uuid.uuid4().hex, cell=cell_id, execution_count=count, frame=frame, column=column,
        segment=segment, status="open", created_at=now_iso(), created_by=author,
    )
    store.insert_thread(thread.to_dict(), _message(thread.id, text, author, role).to_dict())
    return thread


def _anchor(store: Store, cell: int | None, execution_count: int | None) -> tuple[int | None, int | None]:
    """The store's cell a thread is about: by store id, or the latest run of an execution count."""
    if cell is None and execution_count is None:
        return None, None
    found = store.cell_anchor(cell=cell, execution_count=execution_count)
    if found is None:
        raise ChatError(f"no cell #{cell} in this store" if cell is not None else f"no cell {execution_count} has been recorded")
    return found


def _message(thread_id: str, text: str, author: str, role: str) -> Message:
    return Message(id=uuid.uuid4().hex, thread_id=thread_id, author=author or role, role=role, text=text,
                   created_at=now_iso())


def post(store: Store, thread_id: str, text: str, author: str, role: str) -> Message:
    """Add a message to a thread (reopening it if it was resolved: a new message needs a look)."""
    _check(text, role)
    store.require_writable()
    msg = _message(thread_id, text, author, role)
    if not store.insert_message(msg.to_dict(), reopen=role != "assistant"):
        raise ChatError(f"no thread {thread_id!r}")
    return msg


def set_status(store: Store, thread_id: str, status: str, by: str) -> None:
    resolved = status == "resolved"
    if not store.update_thread_status(thread_id, status, now_iso() if resolved else None, by if resolved else None):
        raise ChatError(f"no thread {thread_id!r}")


def threads(store: Store, status: str | None = None, cell: int | None = None) -> list[Thread]:
    """Threads, newest activity first."""
    return [Thread.from_dict(r) for r in store.thread_rows(status=status, cell=cell)]


def thread(store: Store, thread_id: str) -> Thread | None:
    rows = store.thread_rows(thread_id=thread_id)
    return Thread.from_dict(rows[0]) if rows else None


def messages(store: Store, thread_id: str, last: int | None = None) -> list[Message]:
    """A thread's messages in order; `last=N` only its newest N (a long thread opens fast)."""
    return [Message.from_dict(r) for r in store.message_rows(thread_id, last=last)]


def signature(store: Store):
    """Changes whenever a message is written or a thread opened, resolved or reopened: what a
    view compares before reading anything else."""
    return store.chat_signature()


def activity(store: Store, thread_ids) -> dict[str, tuple[int, int]]:
    """(message count, rowid of the newest message) per thread: what a view compares to know
    whether a thread has anything new, without reading its messages."""
    return store.thread_activity(list(thread_ids))


def overview(store: Store, status: str | None = "open") -> list[dict]:
    """Threads with their message count, newest message and the role of the last person
    (not the assistant) who wrote: the feedback list, in one query, newest activity first."""
    fields = set(Thread.__dataclass_fields__)
    return [{"thread": Thread.from_dict({k: v for k, v in r.items() if k in fields}),
             **{k: v for k, v in r.items() if k not in fields}} for r in store.thread_overview(status)]


def open_counts(store: Store) -> dict[int, int]:
    """Open threads per cell (store id)."""
    return store.open_thread_counts()


def assistant_question(store: Store, thread_id: str, text: str) -> str | None:
    """The question a message puts to `@assistant` (None if it asks nothing), with the thread's
    cell named when the question names none, so the answer is about that cell."""
    if not text.lstrip().lower().startswith(ASSISTANT):
        return None
    question = text.lstrip()[len(ASSISTANT):].strip() or "what did this cell do?"
    about = thread(store, thread_id)
    if about is not None and about.execution_count is not None and not re.search(r"cell\s*\[?\d", question.lower()):
        question = f"{question} (about cell {about.execution_count})"
    return question


# (store, question) -> the answer's text; the caller chooses it (offline, an LLM, a fake)
Answerer = Callable[[Store, str], str]


def answer_if_asked(store: Store, thread_id: str, text: str, answer: Answerer | None = None) -> Message | None:
    """`@assistant question` in a message: `answer` it from the recorded facts, in the thread.

    This module only keeps threads: the answering is the caller's (`answer`). None stands for
    `cellsync.assistant.answer`, imported here only for the callers written before that split
    (the old `ui.py`); new callers pass their own."""
    question = assistant_question(store, thread_id, text)
    if question is None:
        return None
    if answer is None:
        from .assistant import answer
    return post(store, thread_id, answer(store, question), "assistant", "assistant")

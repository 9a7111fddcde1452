"""The chat tables: threads and messages. Rows in, rows out; the rules (who may write, what
reopens a thread, anchors) are `cellsync.chat`'s."""

from __future__ import annotations


class ChatTables:
    """Thread and message queries (mixed into `Store`). A message is one transaction."""

    def cell_anchor(self, cell: int | None = None, execution_count: int | None = None) -> tuple[int, int | None] | None:
        """(store id, execution count) of a cell by store id, or of the latest run of an
        execution count; None if there is no such cell."""
        if cell is not None:
            rows = self.db.execute("select id, execution_count from cells where id = ?", [cell]).fetchall()
        else:
            rows = self.db.execute("select id, execution_count from cells where execution_count = ? "
                                   "order by id desc limit 1", [execution_count]).fetchall()
        return (rows[0][0], rows[0][1]) if rows else None

    def insert_thread(self, thread: dict, first_message: dict) -> None:
        self.require_writable()
        with self.writing():
            self.db["threads"].insert(thread)
            self.db["messages"].insert(first_message)

    def insert_message(self, message: dict, reopen: bool) -> bool:
        """Add a message (and reopen its thread if `reopen`); False if there is no such thread."""
        self.require_writable()
        with self.writing():
            if not self.db.execute("select 1 from threads where id = ?", [message["thread_id"]]).fetchall():
                return False
            self.db["messages"].insert(message)
            if reopen:
                self.db.execute("update threads set status = 'open', resolved_at = null, resolved_by = null "
                                "where id = ?", [message["thread_id"]])
        return True

    def update_thread_status(self, thread_id: str, status: str, resolved_at: str | None, resolved_by: str | None) -> bool:
        """False if there is no such thread."""
        self.require_writable()
        with self.writing():
            cur = self.db.execute("update threads set status = ?, resolved_at = ?, resolved_by = ? where id = ?",
                                  [status, resolved_at, resolved_by, thread_id])
            return cur.rowcount > 0

    def thread_rows(self, status: str | None = None, cell: int | None = None, thread_id: str | None = None) -> list[dict]:
        """Threads (as rows), newest activity first."""
        if not self.has("threads"):
            return []
        clauses, args = [], []
        for column, value in (("status", status), ("cell", cell), ("id", thread_id)):
            if value is not None and value != "":
                clauses.append(f"t.{column} = ?")
                args.append(value)
        where = (" where " + " and ".join(clauses)) if clauses else ""
        rows = self.db.query(
            f"select t.*, (select max(m.rowid) from messages m where m.thread_id = t.id) as last "
            f"from threads t{where} order by last desc", args)
        return [{k: v for k, v in r.items() if k != "last"} for r in rows]

    def message_rows(self, thread_id: str, last: int | None = None) -> list[dict]:
        """A thread's messages in commit order; `last=N` only the newest N."""
        if not self.has("messages"):
            return []
        if last is None:
            return list(self.db.query("select * from messages where thread_id = ? order by rowid", [thread_id]))
        rows = self.db.query(
            "select * from (select rowid as _row, * from messages where thread_id = ? order by rowid desc limit ?) "
            "order by _row", [thread_id, max(0, int(last))])
        return [{k: v for k, v in r.items() if k != "_row"} for r in rows]

    def chat_signature(self):
        """Moves whenever a message is written or a thread opened, resolved or reopened."""
        if not self.has("threads"):
            return None
        # the sum of open threads' rowids: resolving one thread and reopening another between
        # two looks changes it, where a count of open threads would not
        return (tuple(self.db.execute("select count(*), max(rowid) from messages").fetchone()),
                tuple(self.db.execute(
                    "select count(*), sum(status = 'open'), total(case when status = 'open' then rowid end) from threads"
                ).fetchone()))

    def thread_activity(self, thread_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(message count, rowid of the newest message) per thread."""
        if not thread_ids or not self.has("messages"):
            return {}
        marks = ", ".join("?" * len(thread_ids))
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            f"select thread_id, count(*), max(rowid) from messages where thread_id in ({marks}) group by thread_id",
            thread_ids)}

    def thread_overview(self, status: str | None = "open") -> list[dict]:
        """Each thread's row with its message count, newest message, and the role of the last
        person (not the assistant) who wrote; one query, newest activity first."""
        if not self.has("threads"):
            return []
        where, args = ("where t.status = ?", [status]) if status else ("", [])
        return list(self.db.query(
            "select t.*, s.n as n_messages, m.author as last_author, m.role as last_role, substr(m.text, 1, 200) as last_text, "
            "m.created_at as last_at, (select p.role from messages p where p.thread_id = t.id and p.role != 'assistant' "
            "order by p.rowid desc limit 1) as last_person_role "
            "from threads t join (select thread_id, count(*) as n, max(rowid) as last from messages group by thread_id) s "
            f"on s.thread_id = t.id join messages m on m.rowid = s.last {where} order by s.last desc", args))

    def open_thread_counts(self) -> dict[int, int]:
        """Open threads per cell (store id)."""
        if not self.has("threads"):
            return {}
        return {r[0]: r[1] for r in self.db.execute(
            "select cell, count(*) from threads where status = 'open' and cell is not null group by cell")}

"""`@assistant` questions, answered off the server's event loop.

A model can take seconds (or its timeout) to answer. Run in a click handler, that time would
stall every page of the server (in the sidecar: the kernel's server thread), so the question
goes to a small thread pool and the page shows that the assistant is thinking. The LangChain
model is built once per process for a given setting, not once per question.
"""

from __future__ import annotations

import asyncio
import functools
import re
from concurrent.futures import ThreadPoolExecutor

import panel as pn

from .. import chat
from ..store import Store


def is_question(text: str) -> bool:
    return (text or "").lstrip().lower().startswith(chat.ASSISTANT)


@functools.lru_cache(maxsize=4)
def _model(name: str, base_url: str | None, timeout: float):
    from ..config import settings
    from ..explain.chains import make_model

    return make_model(name, settings)


class Assistant:
    """Answers questions written to `@assistant` in a thread, from the recorded facts."""

    def __init__(self, workers: int = 2):
        from .. import quiet

        # in the sidecar these threads live in the user's kernel: LangChain's warnings filters
        # stay inside them, as for every CellSync thread
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cellsync-assistant",
                                        initializer=quiet.mark_current_thread)

    def model(self):
        """The chat model of the current settings (None offline), built once per setting."""
        from ..config import settings
        from ..explain.chains import OFFLINE

        if settings.explain_model == OFFLINE:
            return None
        return _model(settings.explain_model, settings.explain_base_url, settings.explain_timeout)

    def answer(self, path: str, thread_id: str, text: str) -> chat.Message | None:
        """Answer `text` if it asks the assistant, and post the answer in the thread. Blocks
        for as long as the model takes: call it from `answer_later` or a thread."""
        if not is_question(text):
            return None
        from ..config import settings
        from ..explain.ask import ask

        st = Store(path)  # in this thread: an SQLite connection stays in the thread that made it
        try:
            question = text.lstrip()[len(chat.ASSISTANT):].strip() or "what did this cell do?"
            thread = next((t for t in chat.threads(st) if t.id == thread_id), None)
            if thread is not None and thread.execution_count is not None and not re.search(r"cell\s*\[?\d", question.lower()):
                question = f"{question} (about cell {thread.execution_count})"
            reply = ask(st, question, settings.explain_model, llm=self.model())
            return chat.post(st, thread_id, reply.text, "assistant", "assistant")
        finally:
            st.close()

    def answer_later(self, path: str, thread_id: str, text: str, started, finished) -> None:
        """Answer in the pool; `started()` now, `finished(error or None)` on the page once the
        answer is in the store. Without a server session (a test) it all happens at once."""

        async def run():
            started()
            try:
                await asyncio.get_running_loop().run_in_executor(self._pool, self.answer, path, thread_id, text)
            except Exception as exc:  # shown in the discussion, in one line
                finished(exc)
            else:
                finished(None)

        # a coroutine: Panel runs it on the page's event loop without holding its document
        pn.state.execute(run)


@functools.lru_cache(maxsize=1)
def shared() -> Assistant:
    """The process's assistant: every page of a server (and of the sidecar) shares its pool
    and its model."""
    return Assistant()

"""Explanations: every cell summarised for domain experts, offline by default, any LLM by
choice, and never with a number the facts do not support.

- `facts.py`    the fact sheet of a cell, and the number guard
- `offline.py`  the offline explainer (measured facts + the code's intent), the default
- `steps.py`    the code's intent: each statement's idioms as `Step`s (AST only)
- `explanation.py` the `Explanation` record and `explain()`, the one path (no LangChain)
- `chains.py`   LangChain runnables for an LLM and for the offline explainer (imported only
                once a model is used: `import cellsync` must not load LangChain)
- `ask.py`      questions answered from the stored facts, citing cells
"""

from __future__ import annotations

import queue
import threading

from ..work import WorkCounter

from ..config import Settings, settings as default_settings
from .explanation import OFFLINE, ExplainError, Explanation, cache_key, explain
from .facts import FactSheet, build_facts, traceable_numbers, unverified_numbers

__all__ = [
    "OFFLINE", "ExplainError", "ExplainService", "Explanation", "FactSheet", "build_facts",
    "cache_key", "explain", "explain_store", "facts_for", "make_model", "traceable_numbers",
    "unverified_numbers",
]


def make_model(model: str, cfg: Settings):
    """A LangChain chat model (see `chains.make_model`); imports LangChain on first use."""
    from .chains import make_model as _make_model

    return _make_model(model, cfg)


def facts_for(store, entry) -> FactSheet:
    user = {s.text for s in store.segments() if s.source != "suggested"}
    return build_facts(entry, user, known_frames=store.frames())


def explain_store(store, model: str | None = None, cells: list[int] | None = None, cfg: Settings | None = None, llm=None):
    """(Re)explain the cells of a writable store; yields (entry, Explanation)."""
    cfg = cfg or default_settings
    model = model or cfg.explain_model
    for entry in store.timeline():
        if cells is not None and entry.execution_count not in cells and entry.id not in cells:
            continue
        facts = facts_for(store, entry)
        key = cache_key(facts, model)
        ex = (cached(store, key) if model != OFFLINE else None) or explain(facts, model, cfg, llm=llm)
        store.write_explanation(entry.id, ex, key)
        yield entry, ex


def cached(store, key: str) -> Explanation | None:
    """A stored explanation of the same facts by the same model (not one that fell back)."""
    row = store.cached_explanation(key)
    if row is None or row.get("note"):
        return None
    return Explanation(summary=row["summary"], details=row["details"], caveats=tuple(row["caveats"]),
                       model=row["model"], unverified_numbers=tuple(row["unverified"]))


class ExplainService:
    """Explains cells with an LLM in a background thread, after the offline summary is
    already stored: the notebook never waits, and a failure leaves the offline summary."""

    def __init__(self, store_path, cfg: Settings, on_problem):
        self.store_path = store_path
        self.cfg = cfg
        self.on_problem = on_problem
        self._queue: queue.Queue = queue.Queue()
        self._work = WorkCounter()
        self._llm = None
        self._thread = threading.Thread(target=self._run, name="cellsync-explain", daemon=True)
        self._thread.start()

    def submit(self, cell_pk: int, facts: FactSheet) -> None:
        self._work.add()
        self._queue.put((cell_pk, facts))

    def flush(self, timeout: float | None = None) -> bool:
        return self._work.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        from .. import quiet
        from ..store import Store

        quiet.mark_current_thread()
        store = None
        while True:
            item = self._queue.get()
            if item is None:
                if store is not None:
                    store.close()
                return
            try:
                store = store or Store(self.store_path)
                cell_pk, facts = item
                model = self.cfg.explain_model
                key = cache_key(facts, model)
                ex = cached(store, key)
                if ex is None:
                    if self._llm is None:
                        self._llm = make_model(model, self.cfg)  # the model is built once per service
                    ex = explain(facts, model, self.cfg, llm=self._llm)
                    if ex.note:
                        self.on_problem("explain.llm", ex.note)
                store.write_explanation(cell_pk, ex, key)
            except ExplainError as exc:
                self.on_problem("explain.setup", str(exc))
            except Exception as exc:
                self.on_problem(f"explain.{type(exc).__name__}", exc)
            finally:
                self._work.done()

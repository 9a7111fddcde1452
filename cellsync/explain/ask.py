"""Questions answered from the stored facts, citing cells as [cell N] (N: execution count).

Offline, the common questions are answered exactly: which cell changed / removed / added
something, when a column appeared, what a cell did, where a metric moved, why a group shrank.
Anything else gets a plain "cannot answer". With an LLM: the most relevant fact sheets are
retrieved and the model answers from them; its numbers go through the guard, its citations
are checked against the store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .. import phrasing
from ..records import Record
from ..store.records import FrameSummary, TimelineEntry
from .explanation import OFFLINE
from .facts import FactSheet, traceable_numbers, unverified_numbers


@dataclass(frozen=True)
class Answer(Record):
    question: str
    text: str
    cells: tuple[int, ...]  # execution counts cited
    model: str
    unverified_numbers: tuple[str, ...] = ()
    answered: bool = True

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return self.text


_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_STOP = {
    "the", "a", "an", "of", "in", "on", "to", "did", "does", "do", "what", "which", "why", "when",
    "where", "how", "is", "was", "were", "are", "number", "cell", "cells", "column", "columns",
    "rows", "row", "and", "or", "it", "that", "this", "my", "me", "by", "from", "with", "for",
}


def _cite(entry) -> str:
    return f"[cell {entry.execution_count}]" if entry.execution_count is not None else f"[cell #{entry.id}]"


def _terms(question: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(question) if w.lower() not in _STOP]


def ask(store, question: str, model: str = OFFLINE, cfg=None, llm=None) -> Answer:
    timeline = store.timeline()
    if model != OFFLINE:
        return _ask_llm(store, timeline, question, model, cfg, llm)
    return _ask_offline(timeline, question)


# --- offline -------------------------------------------------------------------------------


def _ask_offline(timeline: list[TimelineEntry], question: str) -> Answer:
    q = question.lower().strip()
    terms = _terms(question)

    m = re.search(r"\bcell\s*\[?(\d+)\]?", q)
    if m and re.search(r"\b(what|do|did|does|happen)", q):
        n = int(m.group(1))
        entry = next((e for e in reversed(timeline) if e.execution_count == n), None)
        if entry is None:
            return Answer(question, f"No cell {n} was recorded.", (), OFFLINE, answered=False)
        return Answer(question, f"{_cite(entry)} {entry.summary or 'has no summary yet.'}", (n,), OFFLINE)

    # a column: when it appeared / which cell added, dropped, renamed or changed it
    columns = {c for e in timeline for f in e.frames for c in (f.columns_added or ()) + (f.columns_removed or ())}
    columns |= {c for e in timeline for f in e.frames for c in (f.values_changed or {})}
    col = next((c for c in sorted(columns, key=len, reverse=True) if c.lower() in terms or c.lower() in q.split()), None)

    # a group (segment) the question names: "why did the number of Gentoo penguins drop?"
    seg_hits = []
    for e in timeline:
        for s in e.segments:
            words = {w.lower() for w in _WORDS.findall(f"{s.name} {s.segment}")}
            if terms and any(t in words for t in terms) and (s.rows_removed or s.rows_left):
                seg_hits.append((e, s))
    if seg_hits and re.search(r"\b(drop|dropp|fell|fall|decreas|lose|lost|remov|fewer|shrink|shrank|why)", q):
        def rank(es):
            e, s = es
            change = next((f.change for f in e.frames if f.name == s.frame), "new")
            # flagged first; then steps that changed the frame itself before subsets taken from it
            return (not s.flagged, change == "new", -(s.rows_removed + (s.rows_left or 0)))

        seg_hits.sort(key=rank)
        parts = []
        for e, s in seg_hits[:4]:
            frame = e.frame(s.frame) or FrameSummary(name=s.frame, version="", change="new")
            parts.append(f"{_cite(e)} {phrasing.segment_loss(s, frame)}")
        return Answer(question, " ".join(parts), tuple(e.execution_count for e, _ in seg_hits[:4]), OFFLINE)

    if col is not None:
        hits = []
        for e in timeline:
            for f in e.frames:
                if col in (f.columns_added or ()) and f.rows_before is not None or (f.rows_before is None and col in (f.columns_added or ())):
                    hits.append((e, f"{f.name} gained the column {col}"))
                if col in (f.columns_removed or ()):
                    hits.append((e, f"{f.name} lost the column {col}"))
                if col in (f.values_changed or {}):
                    hits.append((e, f"{f.values_changed[col]:,} values of {col} changed in {f.name}"))
                for old, new in (f.columns_renamed or {}).items():
                    if col in (old, new):
                        hits.append((e, f"{f.name} renamed {old} to {new}"))
        if hits:
            text = " ".join(f"{_cite(e)} {what}." for e, what in hits[:8])
            return Answer(question, text, tuple(e.execution_count for e, _ in hits[:8]), OFFLINE)

    # a metric: where it moved
    metric_names = {m.name for e in timeline for m in e.metrics}
    met = next((n for n in sorted(metric_names, key=len, reverse=True) if n.lower() in q or n.lower() in terms), None)
    if met is not None:
        hits = [(e, m) for e in timeline for m in e.metrics if m.name == met and m.segment is None]
        if hits:
            parts = []
            for e, m in hits[:8]:
                value = "not a number" if m.value is None else f"{m.value:.4g}"
                was = f" (was {m.previous:.4g})" if m.previous is not None else ""
                parts.append(f"{_cite(e)} {met} = {value}{was}.")
            return Answer(question, " ".join(parts), tuple(e.execution_count for e, _ in hits[:8]), OFFLINE)

    # rows removed / added: which cells
    if re.search(r"\b(remov|drop|delet|lost|filter)", q) or re.search(r"\b(add|new rows|append)", q):
        key = "rows_removed" if re.search(r"\b(remov|drop|delet|lost|filter)", q) else "rows_added"
        frame = next((f.name for e in timeline for f in e.frames if f.name.lower() in terms), None)
        hits = [(e, f) for e in timeline for f in e.frames if getattr(f, key) and (frame is None or f.name == frame) and f.rows_before is not None]
        if hits:
            # cells where a table itself lost (or gained) rows first; subsets taken from a table
            # (a split's parts, a filter into a new name) after, said as what they are
            hits.sort(key=lambda ef: (ef[1].parent != ef[1].name, -getattr(ef[1], key)))
            text = " ".join(f"{_cite(e)} {phrasing.frame_sentence(f)}" for e, f in hits[:8])
            return Answer(question, text, tuple(e.execution_count for e, _ in hits[:8]), OFFLINE)

    return Answer(
        question,
        "I cannot answer that from the recorded facts without a language model. I can say which "
        "cell changed, removed or added something, when a column appeared, what a cell did, where "
        "a metric moved, and why a group shrank.",
        (), OFFLINE, answered=False,
    )


# --- with an LLM ---------------------------------------------------------------------------

ASK_SYSTEM = (
    "You answer a domain expert's question about a data analysis notebook, using ONLY the facts "
    "given (one JSON object per cell). Cite the cells you rely on as [cell N] with N the cell's "
    "execution_count. Use only numbers from the facts. If the facts do not answer the question, "
    "say so plainly."
)


def _ask_llm(store, timeline, question, model, cfg, llm) -> Answer:
    # LangChain only here, once a model is asked: the offline answers and `import cellsync`
    # never load it
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from ..config import settings as default_settings
    from . import facts_for
    from .chains import make_model

    cfg = cfg or default_settings
    terms = set(_terms(question))
    scored = []
    for e in timeline:
        text = json.dumps({k: v for k, v in e.to_dict().items() if k in ("code", "frames", "segments", "metrics", "summary")}).lower()
        score = sum(text.count(t) for t in terms)
        scored.append((score, e))
    relevant = [e for s, e in sorted(scored, key=lambda se: -se[0])[:8] if s > 0] or timeline[-8:]
    sheets = [facts_for(store, e) for e in relevant]
    chain = ChatPromptTemplate.from_messages([("system", ASK_SYSTEM), ("human", "Facts:\n{facts}\n\nQuestion: {question}")]) | (
        llm if llm is not None else make_model(model, cfg)) | StrOutputParser()
    payload = "\n".join(json.dumps(s.for_prompt(), default=str) for s in sheets)
    text = chain.invoke({"facts": payload, "question": question}).strip()
    allowed: set[float] = set()
    for s in sheets:
        allowed |= traceable_numbers(s)
    merged = FactSheet(cell=None, execution_count=None, code="", status="ok")
    bad = unverified_numbers(text, merged, allowed)
    known = {e.execution_count for e in timeline}
    cited = tuple(int(n) for n in re.findall(r"\[cell (\d+)\]", text))
    wrong = [n for n in cited if n not in known]
    for n in wrong:
        text = text.replace(f"[cell {n}]", f"[cell {n}: no such cell]")
    for b in bad:
        text = text.replace(b, f"{b} (unverified)", 1)
    return Answer(question, text, tuple(n for n in cited if n in known), model, tuple(bad))

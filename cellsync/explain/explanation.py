"""One cell's explanation, offline or by an LLM, and the one path both take (`explain`).

Nothing here imports LangChain: the offline explainer is the default, and `import cellsync`
(and `cellsync status`) must not pay ~0.6 s for a library only an LLM needs. `chains.py`,
which builds the LangChain runnables, is imported the first time a model is asked.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from ..config import Settings
from ..errors import CellsyncError
from ..records import Record
from .facts import FactSheet, traceable_numbers, unverified_numbers
from .offline import explain_offline

OFFLINE = "offline"


class ExplainError(CellsyncError):
    """An LLM could not be set up or did not answer usably."""


@dataclass(frozen=True)
class Explanation(Record):
    summary: str
    details: str
    caveats: tuple[str, ...]
    model: str  # "offline" or the model string
    unverified_numbers: tuple[str, ...] = ()
    note: str | None = None


REMINDER = (
    "\nYour previous reply used numbers that are not in the facts ({numbers}). Use only the "
    "facts' numbers."
)


def offline_reply(facts: FactSheet) -> dict:
    text = explain_offline(facts)
    return {"summary": text.summary, "details": text.details, "caveats": list(text.caveats)}


def cache_key(facts: FactSheet, model: str) -> str:
    h = hashlib.sha256()
    h.update(model.encode())
    h.update(facts.to_json(sort_keys=True).encode())
    return h.hexdigest()


def explain(facts: FactSheet, model: str = OFFLINE, cfg: Settings | None = None, llm=None) -> Explanation:
    """Explain one cell. With an LLM: up to two tries, each checked by the number guard; a
    reply that still invents numbers, an error or a timeout leaves the offline explanation,
    with a note saying why."""
    from ..config import settings as default_settings

    cfg = cfg or default_settings
    # called directly, not through a RunnableLambda: building one reads the function's source
    # (inspect -> linecache.checkcache), which raced with IPython writing linecache on the
    # kernel's thread ("dictionary changed size during iteration", seen on a real corpus)
    offline = _as_explanation(offline_reply(facts), OFFLINE, facts)
    if model == OFFLINE:
        return offline
    try:
        from .chains import llm_runnable, make_model  # LangChain: only once a model is asked

        chain = llm_runnable(llm if llm is not None else make_model(model, cfg))
        reminder = ""
        rejected: list[str] = []
        for _ in range(2):
            reply = chain.invoke({"facts": facts, "reminder": reminder})
            ex = _as_explanation(reply, model, facts)
            if not ex.unverified_numbers:
                return ex
            rejected = list(ex.unverified_numbers)
            reminder = REMINDER.format(numbers=", ".join(rejected))
        return _with_note(offline, f"{model} kept using numbers not in the facts ({', '.join(rejected)}): offline summary kept")
    except ExplainError as exc:
        return _with_note(offline, str(exc))
    except Exception as exc:
        return _with_note(offline, f"{model} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}): offline summary kept")


def _with_note(ex: Explanation, note: str) -> Explanation:
    return dataclasses.replace(ex, note=note)


def _as_explanation(reply, model: str, facts: FactSheet) -> Explanation:
    if not isinstance(reply, dict) or not isinstance(reply.get("summary"), str) or not reply["summary"].strip():
        raise ExplainError("the model's reply had no summary")
    details = reply.get("details") or ""
    if not isinstance(details, str):
        details = json.dumps(details)
    caveats = reply.get("caveats") or []
    if isinstance(caveats, str):
        caveats = [caveats]
    caveats = tuple(str(c) for c in caveats)
    allowed = traceable_numbers(facts)
    unverified = unverified_numbers(reply["summary"], facts, allowed)
    return Explanation(
        summary=reply["summary"].strip(), details=details.strip(), caveats=caveats, model=model,
        unverified_numbers=tuple(unverified),
    )

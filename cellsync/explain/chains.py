"""Explanations as LangChain runnables: `prompt | model | parser` for an LLM, and the offline
explainer wrapped as a runnable, so both go through one path and one number guard."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from langchain_core.output_parsers import JsonOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

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


SYSTEM = (
    "You explain one step of a data analysis notebook to a domain expert (a clinician, an "
    "ecologist, a credit officer) who does not read code. Use plain words, no code, no jargon. "
    "Use ONLY numbers that appear in the facts (you may round them or turn a share into a "
    "percentage); never estimate or invent a number. If a segment is flagged, say so first. "
    "Reply with a JSON object with keys: summary (one to three sentences), details (what the "
    "code does step by step, why a data scientist might do it, what to check), caveats (a list "
    "of short strings)."
)
HUMAN = "Facts about the cell (JSON):\n{facts}\n{reminder}"
REMINDER = (
    "\nYour previous reply used numbers that are not in the facts ({numbers}). Use only the "
    "facts' numbers."
)


def offline_reply(facts: FactSheet) -> dict:
    text = explain_offline(facts)
    return {"summary": text.summary, "details": text.details, "caveats": list(text.caveats)}


def offline_runnable() -> Runnable:
    """The offline explainer as a LangChain runnable, for chains that mix it with others."""
    return RunnableLambda(offline_reply, name="cellsync-offline-explainer")


def llm_runnable(model) -> Runnable:
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", HUMAN)])
    to_input = RunnableLambda(
        lambda x: {"facts": json.dumps(x["facts"].for_prompt(), default=str), "reminder": x.get("reminder", "")}
    )
    return to_input | prompt | model | JsonOutputParser()


def make_model(model: str, cfg: Settings):
    """A LangChain chat model from an init_chat_model string, for any provider; one clear
    message when the provider package or the key is missing."""
    from langchain.chat_models import init_chat_model

    kwargs = {"timeout": cfg.explain_timeout, "max_retries": 0}
    if cfg.explain_base_url:
        kwargs["base_url"] = cfg.explain_base_url
    key = os.environ.get("CELLSYNC_LLM_API_KEY")
    if key:
        kwargs["api_key"] = key
    elif cfg.explain_base_url:
        kwargs["api_key"] = os.environ.get("OPENAI_API_KEY", "not-needed")  # local servers ignore it
    try:
        return init_chat_model(model, **kwargs)
    except ImportError as exc:
        raise ExplainError(f"the provider for {model!r} is not installed: {exc}".split("\n")[0]) from None
    except ValueError as exc:
        raise ExplainError(f"cannot use model {model!r}: {exc}".split("\n")[0]) from None
    except Exception as exc:  # e.g. the OpenAI client refusing to start without a key
        text = str(exc).split("\n")[0]
        if "api_key" in text.lower() or "api key" in text.lower():
            raise ExplainError(
                f"no API key for {model!r}: set the provider's key variable (e.g. OPENAI_API_KEY) "
                "or CELLSYNC_LLM_API_KEY"
            ) from None
        raise ExplainError(f"cannot use model {model!r}: {text}") from None


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
    import dataclasses

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

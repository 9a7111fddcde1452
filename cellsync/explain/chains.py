"""Explanations as LangChain runnables: `prompt | model | parser` for an LLM, and the offline
explainer wrapped as a runnable, so both go through one path and one number guard.

The only explain module that imports LangChain at the top: `explanation.explain` imports it
the first time a model is asked, so the offline path and `import cellsync` never load it.
The records and `explain` are re-exported here for code written against the older layout."""

from __future__ import annotations

import json
import os

from langchain_core.output_parsers import JsonOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from ..config import Settings
from .explanation import (  # noqa: F401  (re-exported)
    OFFLINE, REMINDER, ExplainError, Explanation, cache_key, explain, offline_reply,
)

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



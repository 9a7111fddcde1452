"""The assistant: `@assistant` questions answered from the recorded facts (`explain.ask`).

Kept apart from `chat` (which only keeps threads in the store) so that posting a message
never reaches the LLM layer unless a caller asks for an answer. The model is built once per
setting and process, not once per question.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4)
def _model(name: str, base_url: str | None, timeout: float):
    from .config import settings
    from .explain import make_model

    return make_model(name, settings)


def model():
    """The chat model of the current settings (None offline: the offline answers need none)."""
    from .config import settings
    from .explain import OFFLINE

    if settings.explain_model == OFFLINE:
        return None
    return _model(settings.explain_model, settings.explain_base_url, settings.explain_timeout)


def answer(store, question: str) -> str:
    """The text of the answer to `question`, from `store`'s facts, citing cells."""
    from .config import settings
    from .explain.ask import ask

    return ask(store, question, settings.explain_model, llm=model()).text

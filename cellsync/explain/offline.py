"""The offline explainer: exact, plain sentences from the cell's code (AST) and its facts.

No network and no model. It recognises common pandas and scikit-learn idioms to say what a cell
*meant* to do, and states what it *did* with the measured numbers from the fact sheet. When it
does not know the code it still describes the measured change. Every number it writes comes
from the fact sheet, so the number guard passes it by construction (and tests check that).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import phrasing
from .facts import FactSheet
from .steps import _MODEL_IDIOMS, Step, statement_steps


@dataclass(frozen=True)
class OfflineText:
    summary: str
    details: str
    caveats: tuple[str, ...]


def explain_offline(facts: FactSheet) -> OfflineText:
    """The summary states what the data shows, through `phrasing` (the same sentences the CLI
    and the dashboard show); the code's intent goes to the step-by-step details, and into the
    summary only for cells that changed no data (imports, a model fitted, a value shown)."""
    frames = list(facts.frames)
    frame_names = {f.name for f in frames} | {f.parent for f in frames if f.parent} | set(facts.known_frames)
    series = {f.name for f in frames if f.series}
    stmts = statement_steps(facts.code, frame_names - {None}, series)
    steps = [s for _, ss, _ in stmts for s in ss]
    sentences: list[str] = []
    caveats: list[str] = []

    if facts.status == "error":
        err = facts.error
        sentences.append(f"This cell stopped with an error ({err.type if err else None}: {err.message if err else None}).")
        # which statements ran is not recorded: only what the data shows is stated
        if not frames:
            sentences.append("No data changed.")
    said = phrasing.frames_sentences(frames)
    if facts.status == "error" and said:
        said[0] = "Before it stopped, " + said[0][:1].lower() + said[0][1:]
    sentences.extend(said)
    if facts.status != "error":
        changed = {f.name for f in frames}
        for target, ss, _ in stmts:
            # with data changed, the summary keeps to it, plus models trained or scored
            bound = set((target or "").split(", "))
            if not ss or (frames and (bound & changed or not any(x.idiom in _MODEL_IDIOMS for x in ss))):
                continue
            if not frames and any(x.idiom in ("setitem", "augassign") for x in ss):
                # nothing changed: the assignment went to a copy, or to something not followed
                sentences.append(f"An assignment ran ({ss[-1].source}), but no table CellSync follows changed.")
                continue
            sentences.append(phrasing.capital(_join_steps(ss)) + ".")

    several = len({f.name for f in frames}) > 1
    # the largest excess removals first; past three flags, the rest are counted, not listed
    # (columns missing on the same rows flag together: one cell flagged 16 of them)
    flagged = sorted((s for s in facts.segments if s.flagged),
                     key=lambda s: -s.excess)
    more = flagged[3:]
    for s in flagged[:3] + [s for s in facts.segments if not s.flagged]:
        if not s.flagged and not any(getattr(s, k) for k in ("rows_removed", "rows_added", "rows_left", "rows_entered")):
            continue  # a followed segment this cell did not touch
        sentence = phrasing.segment_sentence(s, frames)
        if several:
            sentence = f"In {s.frame}, " + sentence[0].lower() + sentence[1:] if s.flagged else f"In {s.frame}, {sentence}"
        sentences.append(sentence)
        if s.flagged:
            caveats.append(phrasing.flag_caveat(s))
    if more:
        sentences.append(phrasing.more_flags(more))
        caveats.extend(phrasing.flag_caveat(s) for s in more)
    sentences.extend(phrasing.metric_sentences(list(facts.metrics)))

    if not sentences:
        sentences.append("Nothing in the data changed." if facts.code.strip() else "An empty cell.")
    elif not frames and facts.status == "ok":
        sentences.append("No data changed.")

    details_lines = []
    for i, s in enumerate(steps, 1):
        details_lines.append(f"{i}. `{s.source}`: {s.phrase}. Why: {s.why}. Check: {s.check}.")
    for f in frames:
        if f.note:
            caveats.append(f"{f.name}: {f.note}")
    details = "\n".join(details_lines) if details_lines else "The code uses no step CellSync recognises; the summary describes the measured change."
    return OfflineText(summary=" ".join(sentences), details=details, caveats=tuple(caveats))


def _join_steps(steps: list[Step]) -> str:
    phrases = []
    for s in steps:
        if s.phrase not in phrases:
            phrases.append(s.phrase)
    if len(phrases) == 1:
        return phrases[0]
    return ", then ".join(phrases)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]

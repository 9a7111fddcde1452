"""The fact sheet of a cell, and the number guard.

A fact sheet holds what an explanation may say: the (redacted) code, each frame's change, the
segment impacts worth mentioning, metric changes and the error. Aggregates only: no row values
leave the machine. Every number an explainer writes must be traceable to it; `guard` finds the
ones that are not.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any

from ..records import Record, json_safe
from ..store.records import CellError, FrameSummary, ImpactSummary, MetricSummary, TimelineEntry
from ..redact import redact


@dataclass(frozen=True)
class FactSheet(Record):
    cell: int | None
    execution_count: int | None
    code: str
    status: str
    error: CellError | None = None
    frames: tuple[FrameSummary, ...] = ()
    segments: tuple[ImpactSummary, ...] = ()  # impacts: flagged ones and the user's own segments
    metrics: tuple[MetricSummary, ...] = ()
    # per frame version, per column: (missing before, missing after) where that changed
    missing: dict[str, dict] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    samples: dict | None = None  # frame -> column -> example values; only with explain_sample_values
    # what the data shows, in the sentences every screen uses (phrasing.py): an LLM restates
    # these, it does not have to infer them from the numbers
    statements: tuple[str, ...] = ()
    known_frames: tuple[str, ...] = ()  # names of the tables followed: `x.join(..)` is a table op only on one

    def for_prompt(self) -> dict:
        """What an LLM sees (JSON): the same facts, with the code redacted once more; each
        frame's facts and, where it changed, the missing values per column."""
        d = self.to_dict()
        d["code"] = redact(d["code"])
        del d["missing"]
        d["frames"] = []
        for f in self.frames:
            fact = {k: v for k, v in f.to_dict().items() if k in _FRAME_KEYS}
            if f.version in self.missing:
                fact["missing_changed"] = json_safe(self.missing[f.version])
            d["frames"].append(fact)
        return d


_FRAME_KEYS = (
    "name", "change", "parent", "rows_before", "rows_after", "rows_removed", "rows_added",
    "row_identity", "reordered", "columns_added", "columns_removed", "columns_renamed",
    "dtype_changes", "values_changed", "n_cols", "note", "parent_version", "index_changed", "index",
    "series", "operation",
)


def build_facts(entry: TimelineEntry, user_segments: set[str] | None = None, missing: dict | None = None,
                samples: dict | None = None, known_frames=()) -> FactSheet:
    """From one `Store.timeline()` entry. `user_segments`: texts of segments people defined
    (their impacts are always included; suggested ones only when flagged). `missing`: per
    version id, per column (missing before, missing after) where that changed."""
    user_segments = user_segments or set()
    versions = {f.version for f in entry.frames}
    segments = tuple(s for s in entry.segments if s.flagged or s.segment in user_segments)
    from ..phrasing import frames_sentences

    return FactSheet(
        cell=entry.id,
        execution_count=entry.execution_count,
        code=redact(entry.code or ""),
        status=entry.status,
        error=entry.error,
        frames=entry.frames,
        segments=segments,
        metrics=entry.metrics,
        missing={v: m for v, m in (missing or {}).items() if v in versions},
        samples=samples or None,
        statements=tuple(frames_sentences(list(entry.frames))),
        known_frames=tuple(sorted(known_frames)),
    )


def sample_values(versions, limit: int = 5) -> dict:
    """A few example values of the columns each version changed or added (from its profile's
    most common values): row values, so only used when `explain_sample_values` is on."""
    out: dict = {}
    for v in versions:
        if v.profile is None or v.diff is None:
            continue
        wanted = set(v.diff.columns_added) | set(v.diff.values_changed)
        cols = {}
        for c in v.profile.columns:
            if c.name in wanted and c.top_values:
                cols[c.name] = [t.value for t in c.top_values[:limit]]
        if cols:
            out[v.frame] = cols
    return out


# --- the number guard ----------------------------------------------------------------------

# 1,204 | 1204 | 0.94 | 31% | -3.5 | 1.2e5 ; not parts of identifiers such as x2 or col_3
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s?%)?(?![\w])")
_CITATION = re.compile(r"\[cell \d+\]")


def _numbers_in(value: Any, out: set[float]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        if math.isfinite(value):
            out.add(float(value))
        return
    if isinstance(value, str):
        for m in _NUMBER.finditer(value):
            parsed = _parse(m.group(0))
            if parsed is not None:
                out.add(parsed[0])
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _numbers_in(k, out)
            _numbers_in(v, out)
        return
    if isinstance(value, (list, tuple)):
        for v in value:
            _numbers_in(v, out)


def _parse(text: str) -> tuple[float, int, bool] | None:
    """(value, decimals written, is a percentage)"""
    t = text.replace(",", "").replace(" ", "")
    pct = t.endswith("%")
    t = t.rstrip("%")
    try:
        value = float(t)
    except ValueError:
        return None
    decimals = len(t.split(".")[1]) if "." in t and "e" not in t.lower() else 0
    return value, decimals, pct


def traceable_numbers(facts: FactSheet) -> set[float]:
    """Every number the facts state, and the few that follow directly from them: the shares a
    person would quote (removed of before, a segment's rate, changed of rows), differences of
    before/after pairs, rates as percentages. Not every ratio of every pair: that would let
    almost any invented percentage through."""
    out: set[float] = {0.0, 1.0, 100.0}
    _numbers_in(facts.for_prompt(), out)
    out |= code_numbers(facts.code)

    def share(a, b):
        if a is not None and b:
            out.add(a / b)
            out.add(100 * a / b)

    def gap(a, b):
        if a is not None and b is not None:
            out.add(abs(a - b))

    for f in facts.frames:
        rb, ra = f.rows_before, f.rows_after
        rr, rad = f.rows_removed or 0, f.rows_added or 0
        share(rr, rb)
        share(rad, ra)
        share(rad, rb)
        share(ra, rb)
        gap(rb, ra)
        for key in ("columns_added", "columns_removed", "columns_renamed", "dtype_changes", "values_changed"):
            if getattr(f, key):
                out.add(float(len(getattr(f, key))))
                out.add(float(len(getattr(f, key)) - 4))  # "a, b, c, d and 6 more"
        for n in (f.values_changed or {}).values():
            share(n, ra)
            share(n, rb)
        for before, after in (facts.missing.get(f.version) or {}).values():
            share(before, rb)
            share(after, ra)
            gap(before, after)
        by_frame_rows = rb
        for seg in facts.segments:
            if seg.frame != f.name:
                continue
            share(seg.rows_before, by_frame_rows)
            share(seg.rows_after, ra)
            share(seg.rows_removed, rr)
            gap(seg.rows_before, seg.rows_after)
            rate, overall = seg.removal_rate, seg.overall_removal_rate
            if rate is not None and overall:
                out.add(rate / overall)
            if rate is not None and overall is not None:
                out.add(100 * abs(rate - overall))
    flagged = sum(1 for s in facts.segments if s.flagged)
    out.update({float(flagged), float(flagged - 3), float(flagged - 7)})  # "N more were flagged: a, b, c, d and M more"
    for m in facts.metrics:
        value, previous = m.value, m.previous
        for v in (value, previous):
            if v is not None and abs(v) <= 1:
                out.add(100 * v)
        if value is not None and previous is not None:
            out.add(abs(value - previous))
            if abs(value - previous) <= 1:
                out.add(100 * abs(value - previous))
    for v in list(out):
        out.add(abs(v))
    return out


def unverified_numbers(text: str, facts: FactSheet, allowed: set[float] | None = None) -> list[str]:
    """The numbers in `text` that no fact supports, as written. Rounding to the written
    precision is understood ("9%" holds for 0.0912, "0.94" for 0.9438, "1,200" for 1,204),
    and so are percentages of the facts' counts. Cell citations ("[cell 4]") are not numbers
    about the data: `ask` checks them against the store."""
    allowed = traceable_numbers(facts) if allowed is None else allowed
    text = _CITATION.sub(" ", text)
    bad = []
    for m in _NUMBER.finditer(text):
        parsed = _parse(m.group(0))
        if parsed is None:
            continue
        value, decimals, pct = parsed
        # "9%" may be the fact 9 (a percentage) or 0.09 (a rate), each to its own precision
        candidates = [(value, decimals)] if not pct else [(value, decimals), (value / 100, decimals + 2)]
        if not any(_matches(c, a, d) for c, d in candidates for a in allowed):
            bad.append(m.group(0).strip())
    return bad


def _matches(written: float, fact: float, decimals: int) -> bool:
    if abs(written - fact) <= 0.5 * 10 ** (-decimals) + 1e-9:
        return True
    if decimals == 0 and abs(written) >= 100 and written == int(written):
        # "1,200" for 1,204: rounded to the significant digits written (at least two)
        digits = len(str(int(abs(written))))
        significant = len(str(int(abs(written))).rstrip("0"))
        if significant >= 2:
            return round(fact, -(digits - significant)) == written
    return False


def code_numbers(code: str) -> set[float]:
    out: set[float] = set()
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            out.add(float(node.value))
    return out

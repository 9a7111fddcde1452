"""Every piece of HTML the dashboard and the export show, built and escaped here and nowhere
else.

Each function takes records (timeline entries, versions, threads, messages) and returns a
string of HTML in which every value that came from a user (code, frame and column names,
segment text, summaries, messages) is escaped. The sentences about what a cell did come from
`cellsync.phrasing`; this module only wraps them in markup. Panel's own widgets render text,
except where noted (`labels`, `titles`, `card_title`): those are escaped here too.
"""

from __future__ import annotations

import html as _html
from typing import Iterable

from .. import phrasing
from ..store import ImpactSummary, MetricSummary, TimelineEntry

CSS = """
:host { --cs-flag: #b42318; --cs-muted: #667085; }
.cs-summary { font-size: 15px; line-height: 1.45; }
.cs-muted { color: #667085; font-size: 12px; }
.cs-flag { color: #b42318; font-weight: 600; }
.cs-error { color: #b42318; }
.cs-pre { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px; }
.cs-badge { display: inline-block; padding: 1px 6px; margin: 0 4px 2px 0; border-radius: 9px;
            background: #eef2f6; font-size: 12px; }
.cs-badge.flag { background: #fee4e2; color: #b42318; }
.cs-message { margin: 4px 0; }
.cs-message[data-role=assistant] { background: #f5f8ff; padding: 2px 6px; border-radius: 6px; }
.cs-message p { margin: 2px 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.cs-thinking { color: #667085; font-style: italic; margin: 4px 0; }
.cs-table { border-collapse: collapse; font-size: 12px; margin: 4px 0; }
.cs-table th, .cs-table td { border-bottom: 1px solid #eaecf0; padding: 2px 8px; text-align: left; white-space: nowrap; }
.cs-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
.cs-scroll { max-height: 280px; overflow: auto; }
.cs-details { margin: 4px 0; }
.cs-details > summary { cursor: pointer; color: #344054; }
"""


def esc(value) -> str:
    return _html.escape("" if value is None else str(value), quote=True)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' if count != 1 else ''}"


# --- labels Panel renders as HTML ------------------------------------------------------------


def labels(values) -> dict:
    """Options for a MultiChoice: its labels (Choices.js) are HTML, and the values (column
    names) come from users' data: escaped labels, raw values. (A Select's options are text.)"""
    return {esc(v): v for v in values}


def titles(columns) -> dict:
    """Tabulator renders column *titles* as HTML (cells as text): escaped titles."""
    return {str(c): esc(c) for c in columns}


def card_title(frame: str, index: int, count: int, kind: str, where: str) -> str:
    """A frame card's title (a Card's title is HTML to Panel)."""
    return f"{esc(frame)} — version {index + 1} of {count} ({esc(kind)}, {esc(where)})"


# --- the timeline: its size, its count, keyboard focus (issue 14) ---------------------------

# The timeline's own stylesheet (inside the Tabulator's shadow root): a focused row or section
# header gets a visible outline (keyboard users must see where they are: WCAG 2.4.7).
TIMELINE_CSS = """
.tabulator { font-size: 13px; }
.tabulator-row:not(.tabulator-group) .tabulator-cell { overflow: hidden; line-height: 1.35; }
.tabulator-row:focus, .tabulator-row.tabulator-group:focus { outline: 3px solid #1d4ed8; outline-offset: -3px; }
.tabulator-row.tabulator-selected { background-color: #dbe4ff !important; }
.tabulator .tabulator-row.tabulator-group { background: #eef2f6; color: #1f2937; font-weight: 600; }
.tabulator .tabulator-row.tabulator-group span { color: #475467; margin-left: 8px; font-weight: 400; }
"""

# Additions to every pane's stylesheet for WCAG 2.2 AA: targets of at least 24 px (2.5.8),
# and a visible focus ring on what CellSync's own HTML makes focusable (2.4.7).
CSS += """
.cs-details > summary { min-height: 24px; padding: 3px 0; box-sizing: border-box; }
.cs-details > summary:focus-visible, a:focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
"""


def metric_value(sentence: str) -> str:
    """A metric recorded once, as a number in large type (the Metrics tab)."""
    return f"<p class='cs-summary' data-testid='metric-value' style='font-size:20px'>{esc(sentence)}</p>"


def timeline_count(sentence: str) -> str:
    """How many cells pass the filters; announced to screen readers as it changes."""
    return f"<div class='cs-muted' role='status' aria-live='polite' data-testid='timeline-count'>{esc(sentence)}</div>"


# --- small blocks ----------------------------------------------------------------------------


def muted(text: str, tag: str = "div") -> str:
    return f"<{tag} class='cs-muted'>{esc(text)}</{tag}>"


def error(text, testid: str | None = None) -> str:
    attr = f" data-testid='{esc(testid)}'" if testid else ""
    return f"<div class='cs-error'{attr}>{esc(text)}</div>"


def header(title: str, path, read_only: bool, entries, problem: str = "") -> str:
    """The page's heading: the store, how many cells and versions, how many flags."""
    if problem:
        return error(f"Could not read the store: {problem}")
    cells, versions = len(entries), sum(len(e.frames) for e in entries)
    flags = sum(1 for e in entries for s in e.segments if s.flagged)
    mode = " · read-only" if read_only else ""
    return (
        f"<h2 style='margin:4px 0'>{esc(title)}</h2>"
        f"<div class='cs-muted'>{esc(path)}{mode} · {cells:,} cells · {versions:,} frame versions"
        f" · <span class='{'cs-flag' if flags else ''}'>{flags} segment flag{'s' if flags != 1 else ''}</span></div>"
    )


def _number(v) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.6g}"
    return str(v)


def table(rows: list[dict], testid: str | None = None) -> str:
    """A small read-only table: cheaper for a browser than a Tabulator, and enough for a dozen
    rows of a diff or the first rows a filter removed. (Not `pn.pane.DataFrame`: these tables
    sit inside the card's one words pane and rows pane, so a click patches two strings, not a
    pane per table; numbers are right-aligned and NaN blank.)"""
    if not rows:
        return ""
    columns = list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            v = r[c]
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cells.append(f"<td class='num'>{esc(_number(v))}</td>" if num else f"<td>{esc('' if v is None else v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    attr = f" data-testid='{esc(testid)}'" if testid else ""
    # the scrolling box is a tab stop with a name, so a keyboard can scroll it (WCAG 2.1.1)
    return (f"<div class='cs-scroll' tabindex='0' role='region' aria-label='{esc((testid or 'table').replace('-', ' '))}'>"
            f"<table class='cs-table'{attr}><tr>{head}</tr>{''.join(body)}</table></div>")


def highlight(code: str | None) -> str:
    """Code as highlighted HTML (Pygments escapes it)."""
    from pygments import highlight as _highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return _highlight(code or "", PythonLexer(), HtmlFormatter(nowrap=False, noclasses=True, style="friendly"))


def render_markdown(text: str) -> str:
    """Markdown without raw HTML: `<script>` and `onerror=` stay text; unsafe links are refused.
    An image is shown as a link, never loaded: every viewer's browser fetching a stranger's
    pixel would be a tracking beacon (and a request leaving 127.0.0.1)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": False})

    def image_as_link(renderer, tokens, idx, options, env):
        tok = tokens[idx]
        alt = renderer.renderInlineAsText(tok.children or [], options, env) or "image"
        src = str(tok.attrGet("src") or "")  # already checked by markdown-it (no javascript:)
        return (f'<a href="{esc(src)}" rel="noopener noreferrer nofollow" '
                f'target="_blank" class="cs-image-link">image: {esc(alt)} ({esc(src)})</a>')

    md.add_render_rule("image", image_as_link)
    return md.render(text or "")


# --- the cell view ---------------------------------------------------------------------------


def cell_head(entry: TimelineEntry) -> str:
    """A cell's heading, summary, who wrote it, its error and its segment flags."""
    count = entry.execution_count
    head = f"<h3 style='margin:8px 0 4px'>Cell {esc(count if count is not None else '')}"
    head += " <span class='cs-error'>— failed</span>" if entry.status == "error" else ""
    head += "</h3>"
    parts = [head, f"<div class='cs-summary'>{esc(entry.summary or 'No summary yet.')}</div>"]
    if entry.unverified_numbers:
        parts.append(f"<div class='cs-flag'>Unverified numbers: {esc(', '.join(entry.unverified_numbers))}</div>")
    parts.append(muted(f"Summary by {entry.summary_model or 'offline'}"))
    if entry.error:
        parts.append(error(f"{entry.error.type}: {entry.error.message}"))
    flags = [s for s in entry.segments if s.flagged]
    if flags:
        parts.append("<ul style='margin:4px 0'>" + "".join(
            f"<li><span class='cs-flag'>⚑</span> {esc(phrasing.flag_line(s, entry.frames))}</li>" for s in flags) + "</ul>")
    return "".join(parts)


def cell_more(steps: str | None, code: str | None) -> str:
    """Step by step (when an explanation brought one) and the code, both collapsed: experts
    read the summary; the rest is there for those who want it."""
    parts = []
    if steps:
        parts.append(f"<details class='cs-details'><summary>Step by step</summary>"
                     f"<div class='cs-pre'>{esc(steps)}</div></details>")
    parts.append(f"<details class='cs-details'><summary>Code</summary>{highlight(code)}</details>")
    return "".join(parts)


def cell_metrics(metrics: Iterable[MetricSummary]) -> str:
    if not metrics:
        return ""
    return "<b>Metrics</b>" + table(
        [{"metric": m.name, "segment": m.segment or "all", "value": m.value, "before": m.previous,
          "rows": m.n, "model": m.model or ""} for m in metrics])


# --- a frame card ----------------------------------------------------------------------------


def frame_words(v, sentence: str | None) -> str:
    """What one version did: the summary's sentence for it (phrasing), the columns added,
    removed, renamed and retyped, and a table of the columns whose values moved."""
    d = v.diff
    if sentence is None:
        lines = [f"{v.n_rows:,} rows × {v.n_cols} columns. {esc(v.note or '')}"]
    else:
        lines = [esc(sentence)]
    if d is not None and d.rows_before is not None:
        if d.columns_added:
            lines.append("Columns added: " + esc(", ".join(map(str, d.columns_added))))
        if d.columns_removed:
            lines.append("Columns removed: " + esc(", ".join(map(str, d.columns_removed))))
        if d.columns_renamed:
            lines.append("Renamed: " + esc(", ".join(f"{a} → {b}" for a, b in d.columns_renamed.items())))
        if d.dtype_changes:
            lines.append("Types: " + esc(", ".join(f"{c} {t.before} → {t.after}" for c, t in d.dtype_changes.items())))
    text = "<br>".join(lines)
    if d is not None and d.columns:
        # what happened to each column, the most changed first: values or missing values
        # changed, then by how far the distribution moved; untouched columns are counted
        moved = [c for c in d.columns if c.values_changed or c.missing_before != c.missing_after
                 or (c.shift is not None and round(c.shift, 3) != 0)]
        moved.sort(key=lambda c: (not (c.values_changed or c.missing_before != c.missing_after), -(c.shift or 0)))
        if moved:
            text += table([{
                "column": c.column, "values changed": c.values_changed,
                "missing before": c.missing_before, "missing after": c.missing_after,
                "shift": None if c.shift is None else round(c.shift, 3), "shift measure": c.shift_metric or "",
            } for c in moved], testid="column-changes")
        still = len(d.columns) - len(moved)
        if still:
            text += muted(f"{_plural(still, 'other column')}: no change in values, missing values or distribution.")
    return text


def rows_block(kind: str, records: list[dict], count: int, parent: str | None = None, frame: str | None = None) -> str:
    """The first rows a version removed from (or added to) its parent, as a table."""
    title = f"Rows {kind}"
    if kind == "removed" and parent and parent != frame:
        title = f"Rows of {esc(parent)} not in {esc(frame)}"  # a subset, not a loss
    return f"<b>{title}</b> (first {len(records)} of {count:,})" + table(records, testid=f"rows-{kind}")


# --- discussion ------------------------------------------------------------------------------


def thread(thread, messages: list, total: int) -> str:
    """A thread's heading and its (newest) messages; messages are Markdown without raw HTML."""
    head = muted(f"About {thread.anchor} · {thread.status} · {_plural(total, 'message')}")
    body = []
    for m in messages:
        who = "assistant" if m.role == "assistant" else f"{esc(m.author)} ({esc(m.role.replace('_', ' '))})"
        body.append(f"<div class='cs-message' data-role='{esc(m.role)}'><b>{who}</b> "
                    f"<span class='cs-muted'>{esc(m.created_at[11:19])}</span>{render_markdown(m.text)}</div>")
    return head + "".join(body)


def thinking() -> str:
    return "<div class='cs-thinking' data-testid='assistant-thinking'>assistant is thinking…</div>"


def feedback_head(open_threads: int, waiting: int) -> str:
    head = (f"<b>{_plural(open_threads, 'open thread')}</b>, newest first · "
            if open_threads else "<b>No open threads.</b> · ")
    return head + f"<span data-testid='awaiting'>{waiting} awaiting your reply</span>"


# --- segments and metrics --------------------------------------------------------------------


def segment_heading(frame: str, segment: str) -> str:
    return f"<b>{esc(frame)}</b> · <span data-testid='segment-text'>{esc(segment)}</span>"


def metric_heading(name: str, execution_count) -> str:
    return f"<b>{esc(name)} by segment</b> (cell {esc(execution_count)}), lowest first"


# --- the export ------------------------------------------------------------------------------


def export_heading(title: str, path, cells: int) -> str:
    return f"<h1>{esc(title)}</h1><p class='cs-muted'>{esc(path)} · {cells:,} cells</p>"


def export_cell(entry: TimelineEntry) -> str:
    """One cell of the report: heading, summary, badges, flags, the code (collapsed)."""
    count = entry.execution_count if entry.execution_count is not None else ""
    block = [f"<h3>Cell {esc(count)}{' — failed' if entry.status == 'error' else ''}</h3>",
             f"<div class='cs-summary'>{esc(entry.summary or '')}</div>"]
    for b, flag in phrasing.badges(entry):
        block.append(f"<span class='cs-badge{' flag' if flag else ''}'>{esc(b)}</span>")
    for s in entry.segments:
        if s.flagged:
            block.append(f"<div class='cs-flag'>⚑ {esc(phrasing.flag_line(s, entry.frames))}</div>")
    block.append(f"<details><summary>Code</summary>{highlight(entry.code)}</details>")
    return "".join(block)


def export_flags(flagged: list[tuple[TimelineEntry, ImpactSummary]]) -> str:
    """The report's table of flagged segments: (entry, segment impact) pairs."""
    rows = "".join(
        f"<tr><td>{esc(e.execution_count)}</td><td>{esc(s.frame)}</td><td>{esc(s.name)}</td>"
        f"<td>{s.rows_removed:,} of {s.rows_before:,}</td><td>{100 * s.removal_rate:.1f}%</td>"
        f"<td>{100 * s.overall_removal_rate:.1f}%</td></tr>" for e, s in flagged)
    return ("<h2>Flags</h2><table><tr><th>cell</th><th>frame</th><th>segment</th><th>removed</th><th>rate</th>"
            "<th>overall</th></tr>" + rows + "</table>")

"""The overview's HTML (ui/overview.py, and the first page of the export): the flow of the
main table, what was hit hardest, the model by segment, the open questions, and how the
report prints.

Apart from `ui.html` only because that module would pass 400 lines; the same rules hold:
every value that came from a user is escaped here (`html.esc`), and every sentence comes
from `cellsync.phrasing`. Boxes and links are `<button data-cell=…>` when `interactive`
(`overview.CellLinks` turns a press into opening the cell), plain text in the export.
"""

from __future__ import annotations

from .. import phrasing
from .html import esc, muted

OVERVIEW_CSS = """
.cs-ov h2 { font-size: 17px; margin: 14px 0 6px; }
.cs-ov .cs-flow { display: flex; flex-direction: column; align-items: stretch; max-width: 980px; }
.cs-ov.compact .cs-flow { max-height: 60vh; overflow: auto; }
.cs-step { display: grid; grid-template-columns: minmax(150px, 200px) 1fr; gap: 10px; text-align: left;
           font: inherit; color: #101828; background: #fff; border: 1px solid #98a2b3; border-radius: 6px;
           padding: 6px 10px; margin: 0; width: 100%; box-sizing: border-box; }
.cs-ov.compact .cs-step { grid-template-columns: 1fr; gap: 2px; }
button.cs-step, button.cs-open { cursor: pointer; }
button.cs-step:hover, button.cs-open:hover { background: #f2f4f7; }
button.cs-step:focus-visible, button.cs-open:focus-visible, .cs-run > summary:focus-visible {
  outline: 3px solid #1d4ed8; outline-offset: 2px; }
.cs-step.flagged { border: 2px solid #b42318; }
.cs-step .cs-count { display: block; font-weight: 700; font-size: 15px; }
.cs-step .cs-at { display: block; color: #475467; font-size: 12px; }
.cs-step .cs-what { display: block; }
.cs-step .cs-excl { display: block; color: #344054; font-weight: 600; }
.cs-step .cs-stepflag { display: block; color: #b42318; font-weight: 600; }
.cs-step .cs-branches { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 4px; }
.cs-step .cs-branch { border: 1px solid #98a2b3; border-radius: 4px; padding: 2px 8px; font-weight: 700; }
.cs-arrow { text-align: left; padding-left: 60px; color: #475467; line-height: 1.1; font-size: 16px; }
.cs-run { margin: 0; border: 1px dashed #98a2b3; border-radius: 6px; padding: 4px 10px; }
.cs-run > summary { cursor: pointer; color: #344054; }
.cs-run[open] > summary { margin-bottom: 6px; }
.cs-ov ul { margin: 4px 0; padding-left: 20px; }
.cs-ov li { margin: 3px 0; }
button.cs-open { font: inherit; font-size: 12px; margin-left: 6px; padding: 0 6px; border: 1px solid #98a2b3;
                 border-radius: 4px; background: #fff; color: #1d4ed8; }
.cs-ov .cs-table td, .cs-ov .cs-table th { font-size: 13px; }
"""

# The report on paper: A4, light, a page per section, nothing that only works on a screen.
PRINT_CSS = """
@media print {
  @page { size: A4; margin: 14mm; }
  :host, .cs-ov, .cs-report { color: #000 !important; background: #fff !important; }
  .cs-section { break-before: page; }
  .cs-section.first { break-before: auto; }
  .cs-step, .cs-branch, .cs-ov li, .cs-table tr { break-inside: avoid; }
  .cs-run > summary { display: none; }
  .cs-noprint, button.cs-open { display: none !important; }
  .cs-scroll, .cs-ov.compact .cs-flow { max-height: none !important; overflow: visible !important; }
}
"""


def _cell_at(count) -> str:
    return f"cell [{esc(count)}]" if count is not None else "cell [ ]"


def _step_box(step, entry, interactive: bool) -> str:
    flags = phrasing.step_flag_lines(step, entry)
    change = phrasing.step_change(step)
    left = (f"<span class='cs-count'>{esc(phrasing.step_size(step))}</span>"
            f"<span class='cs-at'>{_cell_at(step.execution_count)}</span>")
    right = [f"<span class='cs-what'>{esc(step.text)}</span>"]
    if change:
        right.append(f"<span class='cs-excl'>{esc(change)}</span>")
    right += [f"<span class='cs-stepflag'>⚑ {esc(line)}</span>" for line in flags]
    if step.branches:
        right.append("<span class='cs-branches'>" + "".join(
            f"<span class='cs-branch'>{esc(b.frame)}: {esc(phrasing.n(b.rows))}</span>" for b in step.branches) + "</span>")
    cls = "cs-step flagged" if flags else "cs-step"
    body = f"<span>{left}</span><span>{''.join(right)}</span>"
    attrs = f"class='{cls}' data-testid='flow-step' data-kind='{esc(step.kind)}'"
    if interactive and step.cell is not None:
        return f"<button type='button' {attrs} data-cell='{int(step.cell)}'>{body}</button>"
    return f"<div {attrs}>{body}</div>"


def _quiet(step) -> bool:
    return not step.flags and not step.branches and step.rows_before is not None


def flow(steps, entries: dict, interactive: bool = True, fold_over: int = 15, fold_run: int = 5) -> str:
    """The flow of the main table: a box per step, top to bottom, joined by arrows. Past
    `fold_over` steps, runs of at least `fold_run` quiet steps (no flag, not the load, not a
    split) fold into one `<details>` line, so 300 steps stay a page the eye can take in."""
    if not steps:
        return muted(phrasing.overview_empty("flow"), "p")
    items: list[str] = []
    i = 0
    while i < len(steps):
        j = i
        if len(steps) > fold_over:
            while j < len(steps) and _quiet(steps[j]) and j < len(steps) - 1:
                j += 1
        if j - i >= fold_run:
            run = steps[i:j]
            inner = "<div class='cs-arrow' aria-hidden='true'>↓</div>".join(
                _step_box(s, entries.get(s.cell), interactive) for s in run)
            items.append(f"<details class='cs-run' data-testid='flow-run'><summary>"
                         f"{esc(phrasing.steps_run(len(run), run[0], run[-1]))}</summary>{inner}</details>")
            i = j
        else:
            items.append(_step_box(steps[i], entries.get(steps[i].cell), interactive))
            i += 1
    return ("<div class='cs-flow' data-testid='flow'>"
            + "<div class='cs-arrow' aria-hidden='true'>↓</div>".join(items) + "</div>")


def _open(cell, count, interactive: bool, label: str = "Open") -> str:
    if not interactive or cell is None:
        return f" <span class='cs-muted'>({_cell_at(count)})</span>"
    return f"<button type='button' class='cs-open' data-cell='{int(cell)}'>{esc(label)} {_cell_at(count)}</button>"


def findings(items, interactive: bool = True) -> str:
    """Flagged impacts (largest excess removal first, as `overview` ranks them), then metric moves."""
    flags = [f for f in items if f.kind == "flag"]
    moves = [f for f in items if f.kind == "metric"]
    if not flags and not moves:
        return muted(phrasing.overview_empty("findings"), "p")
    out = []
    if flags:
        out.append("<ul data-testid='findings-flags'>" + "".join(
            f"<li data-excess='{f.excess:.6f}'><span class='cs-flag'>⚑</span> {esc(f.text)}"
            f"{_open(f.cell, f.execution_count, interactive)}</li>" for f in flags) + "</ul>")
    if moves:
        out.append("<b>Metrics that moved</b><ul data-testid='findings-metrics'>" + "".join(
            f"<li>{esc(f.text)}{_open(f.cell, f.execution_count, interactive)}</li>" for f in moves) + "</ul>")
    return "".join(out)


def segment_scores(scores) -> str:
    """Model performance by segment, worst first (as `overview` sorts it)."""
    if not scores:
        return muted(phrasing.overview_empty("by_segment"), "p")
    head = "<tr><th>model</th><th>metric</th><th>segment</th><th>value</th><th>overall</th><th>rows</th></tr>"
    rows = "".join(
        f"<tr data-segment='{esc(s.segment)}'><td>{esc(s.model or '')}</td><td>{esc(s.metric)}</td>"
        f"<td>{esc(s.segment)}</td><td class='num'>{s.value:.3g}</td>"
        f"<td class='num'>{'' if s.overall is None else f'{s.overall:.3g}'}</td>"
        f"<td class='num'>{'' if s.rows is None else esc(phrasing.n(s.rows))}</td></tr>" for s in scores)
    return (f"<p>{esc(phrasing.segment_score_line(scores[0]))}</p>"
            f"<div class='cs-scroll'><table class='cs-table' data-testid='by-segment'>{head}{rows}</table></div>")


def questions(items, interactive: bool = True) -> str:
    """Threads awaiting a reply, newest first."""
    if not items:
        return muted(phrasing.overview_empty("questions"), "p")
    return "<ul data-testid='questions'>" + "".join(
        f"<li><b>{esc(q.author or 'someone')}</b> <span class='cs-muted'>{esc((q.at or '')[:16].replace('T', ' '))}</span>: "
        f"{esc(q.text)}{_open(q.cell, q.execution_count, interactive)}</li>" for q in items) + "</ul>"


def overview_page(ov, entries: dict, interactive: bool = True, compact: bool = False, cells: int | None = None) -> str:
    """The whole overview: flow, findings, model by segment, open questions. `entries` maps
    store ids to timeline entries (for the flags' full sentences); `interactive` makes boxes
    and links buttons (`data-cell`), the export leaves them text."""
    if cells == 0:
        return f"<div class='cs-ov'>{muted(phrasing.overview_empty('cells'), 'p')}</div>"
    where = f" of <b>{esc(ov.frame)}</b>" if ov.frame else ""
    sections = [
        ("flow", f"Where the rows{where} came from", flow(ov.steps, entries, interactive)),
        ("findings", "Hit hardest", findings(ov.findings, interactive)),
        ("by-segment", "Where the model does worst", segment_scores(ov.by_segment)),
        ("questions", "Open questions", questions(ov.questions, interactive)),
    ]
    body = "".join(
        f"<section class='cs-section{' first' if i == 0 else ''}' data-testid='ov-{key}'>"
        f"<h2>{title}</h2>{content}</section>" for i, (key, title, content) in enumerate(sections))
    return f"<div class='cs-ov{' compact' if compact else ''}' data-testid='overview'>{body}</div>"


# The page around the panes (the light DOM): A4, white, and Bokeh's toolbars left off paper.
PRINT_PAGE_CSS = """
@media print {
  @page { size: A4; margin: 14mm; }
  html, body { background: #fff !important; color: #000 !important; }
  .bk-toolbar, .bk-Toolbar, .cs-noprint { display: none !important; }
}
"""


def export_cells_heading(cells: int) -> str:
    """The report's second part starts on a new page."""
    return f"<section class='cs-section'><h2>The cells, in the order they ran ({cells:,})</h2></section>"


def report_heading(title: str, made: str, cells: int) -> str:
    """The report's first lines: its title, and when and from which notebook it was made."""
    return (f"<h1>{esc(title)}</h1><p class='cs-muted' data-testid='report-made'>{esc(made)} "
            f"{cells:,} cells.</p>")

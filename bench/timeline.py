"""Part 10: a timeline of 1,000 cells in a browser (issue 14: one scrolling table, rendered
virtually, grouped into the notebook's sections, filtered and searched).

The store: a real InteractiveShell with `%load_ext cellsync` runs 1,000 cheap cells (a small
frame filtered every 10th cell, assignments otherwise) under 10 Markdown-like sections (the
tracker is told each cell's section the way replay tells it a cell id: a notebook written
beside the store). Then `python -m cellsync.cli serve STORE --port 0` and headless Chromium:

(a) page load: `page.goto(url)` until the newest cell's row is visible (the page opens on the
    newest cells), in a fresh browser context each time; rows in the DOM (virtual rendering);
(b) scroll: the table scrolled to the top until the first cell's row is drawn, then to the
    middle until rows are drawn there;
(c) search: typing a word in the search box until the count above the table says how many
    cells hold it;
and, in this process, `Dashboard(store=...)` (what every new page costs the server).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser as bw
from common import log, part_main, stats, timed

N_SECTIONS = 10


def notebook(path: Path, n_cells: int) -> list[tuple[str, str]]:
    """A notebook of n_cells code cells under N_SECTIONS headings; (cell id, code) per cell."""
    import nbformat

    cells, out = [], []
    per = n_cells // N_SECTIONS
    for i in range(n_cells):
        if i % per == 0:
            cells.append(nbformat.v4.new_markdown_cell(f"## Step {i // per + 1}"))
        code = "t = pd.DataFrame({'a': range(2000)})" if i == 0 else (
            f"t = t[t.a != {i}]" if i % 10 == 0 else f"x{i % 7} = {i} * 2")
        cell = nbformat.v4.new_code_cell(code)
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nbformat.validator.normalize(nb)
    nbformat.write(nb, path)
    nb = nbformat.read(path, as_version=4)
    return [(c.id, c.source) for c in nb.cells if c.cell_type == "code"]


def build(store: Path, n_cells: int) -> float:
    """Run the notebook's cells in an InteractiveShell with CellSync loaded, as JupyterLab would
    (each cell's id and the notebook's path given to the tracker)."""
    from IPython.core.interactiveshell import InteractiveShell

    import cellsync
    from cellsync.extension import current_tracker

    nb = store.parent / "timeline.ipynb"
    cells = notebook(nb, n_cells)
    cellsync.settings.store = str(store)
    ip = InteractiveShell.instance()
    ip.run_cell("import pandas as pd", store_history=True, silent=True)
    ip.extension_manager.load_extension("cellsync")
    tracker = current_tracker()
    tracker.notebook = str(nb)  # what the Jupyter server tells a kernel (sections come from it)
    t0 = time.perf_counter()
    for cell_id, code in cells:
        ip.run_cell(code, store_history=True, cell_id=cell_id)
    assert tracker.flush(600)
    seconds = time.perf_counter() - t0
    ip.extension_manager.unload_extension("cellsync")
    return seconds


def run(quick: bool = False) -> dict:
    import subprocess

    import cellsync

    n_cells, n_loads = (200, 3) if quick else (1000, 8)
    tmp = Path(tempfile.mkdtemp(prefix="cellsync-bench-timeline-"))
    store = tmp / "store"
    log(f"timeline: building {n_cells} cells in a shell")
    out: dict = {"sizes": {"cells": n_cells}, "build_s": build(store, n_cells)}
    st = cellsync.open_store(store)
    tl = st.timeline()
    out["cells"], out["sections"] = len(tl), len({e.section for e in tl})
    newest = tl[-1].code
    st.close()

    from cellsync.ui import Dashboard

    dash = [timed(lambda: Dashboard(store=str(store), read_only=True))[0] for _ in range(3)]
    out["dashboard_s"] = stats(dash)

    proc = subprocess.Popen([sys.executable, "-m", "cellsync.cli", "serve", str(store), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    url = line[line.index("http://"):].split()[0]
    loads, drawn, tops, middles, searches = [], [], [], [], []
    try:
        b = bw.Browser()
        try:
            for i in range(n_loads):
                page = b.page()
                t0 = bw.now()
                page.goto(url, timeout=60_000)
                page.locator(".bk-tab", has_text="Timeline").first.click()  # the page opens on the overview
                # drawn (in the page), not necessarily in view: with sections, whose headers are
                # not as tall as rows, following lands within a few rows of the newest
                bw.timeline(page).locator(".tabulator-row", has_text=newest).first.wait_for(state="attached", timeout=60_000)
                loads.append(bw.now() - t0)
                drawn.append(bw.timeline(page).locator(".tabulator-row").count())
                holder = bw.timeline(page).locator(".tabulator-tableholder").first
                page.wait_for_timeout(500)
                t0 = bw.now()
                holder.evaluate("e => e.scrollTop = 0")
                bw.timeline(page).locator(".tabulator-row", has_text="t = pd.DataFrame").first.wait_for(timeout=30_000)
                tops.append(bw.now() - t0)
                t0 = bw.now()
                mid = n_cells // 2
                holder.evaluate("e => e.scrollTop = e.scrollHeight / 2")
                # a row of a cell near the middle (execution counts start at 2: the import is silent)
                page.locator(".tabulator-cell[tabulator-field='#']",
                             has_text=str(mid)).first.wait_for(timeout=30_000)
                middles.append(bw.now() - t0)
                box = page.get_by_label("Search code and summaries")
                word = f"!= {10 * (i + 1)}]"
                want = sum(1 for e in tl if word in (e.code or "") or word in (e.summary or ""))
                t0 = bw.now()
                box.fill(word)
                page.locator("[data-testid=timeline-count]", has_text=f"Showing {want:,} of").first.wait_for(timeout=30_000)
                searches.append(bw.now() - t0)
                page.context.close()
                log(f"timeline: load {loads[-1]:.2f} s, top {tops[-1]:.2f} s, middle {middles[-1]:.2f} s, "
                    f"search {searches[-1]:.2f} s, {drawn[-1]} rows drawn")
            out["external_requests"] = b.blocked
        finally:
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)
    out.update(load_s=stats(loads), rows_drawn=stats(drawn), scroll_top_s=stats(tops),
               scroll_middle_s=stats(middles), search_s=stats(searches))
    return out


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

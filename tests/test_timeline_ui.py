"""The timeline as the notebook's own structure: sections from its Markdown headings (which an
expert can collapse), filters and a search, one scrolling table that stays fast at 1,000
cells. What each should show is computed here from the .ipynb (nbformat) and from the store's
own rows (SQLite), never from the dashboard's code."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time

import nbformat
import pytest

import cellsync
from cellsync import chat
from cellsync.store import Store
from cellsync.ui import Dashboard
from helpers import ROOT, recorded, run
from ui_helpers import Page, chromium, find_row, need_chromium, open_timeline, scroll_like_a_reader, start_server

# headings above code cells of the demo notebook (position in its code cells -> heading);
# markup in a heading must stay text on the page, and the first cells sit above any heading
HEADINGS = {2: "## Loading the <b>data</b>", 5: "## Cleaning\n\nWhat we drop, and why.",
            9: "### Missing values & types", 14: "## Model"}


def sectioned_notebook(path):
    """The demo notebook with its title removed and the headings above put between its cells."""
    nb = nbformat.read(ROOT / "notebooks" / "demo.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    cells = []
    for i, c in enumerate(code):
        if i in HEADINGS:
            cells.append(nbformat.v4.new_markdown_cell(HEADINGS[i]))
        cells.append(c)
    nb.cells = cells
    nbformat.validator.normalize(nb)
    nbformat.write(nb, path)
    shutil.copytree(ROOT / "notebooks" / "data", path.parent / "data", dirs_exist_ok=True)
    return path


def expected_sections(path) -> list[str | None]:
    """Per code cell, in order, the text of the nearest Markdown heading above it (read here
    with nbformat and a regex of its own)."""
    out, current = [], None
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                m = re.match(r"^#{1,6}\s+(.*\S)\s*$", line)
                if m:
                    current = m.group(1)
        elif cell.cell_type == "code":
            out.append(current)
    return out


@pytest.fixture(scope="session")
def sectioned(tmp_path_factory):
    """(notebook, store): the sectioned notebook replayed once per session (read only)."""
    from cellsync.replay import replay_notebook

    folder = tmp_path_factory.mktemp("sectioned")
    nb = sectioned_notebook(folder / "sections.ipynb")
    replay_notebook(nb, folder / "store", allow_errors=True)
    return nb, folder / "store"


@pytest.fixture
def discussed_store(sectioned, tmp_path):
    """A copy of the sectioned store with two threads: one open, one resolved."""
    path = tmp_path / "store"
    shutil.copytree(sectioned[1], path)
    st = Store(path)
    cells = st.timeline()
    open_one = chat.start_thread(st, "Why these rows?", "ana", cell=cells[7].id)
    closed = chat.start_thread(st, "Fine by me", "ana", cell=cells[3].id)
    chat.set_status(st, closed.id, "resolved", "ana")
    assert open_one.cell != closed.cell
    st.close()
    return path


def unescape(text: str) -> str:
    import html

    return html.unescape(text)


# --- sections --------------------------------------------------------------------------------


def test_sections_are_the_notebooks_headings(sectioned):
    nb, store = sectioned
    expected = expected_sections(nb)
    d = Dashboard(store=str(store), read_only=True)
    rows = d.timeline.rows
    assert list(rows["#"]) == [str(i + 1) for i in range(len(expected))]  # one row per code cell, in order
    shown = [unescape(s) for s in rows["Section"]]
    assert shown == [h if h is not None else cellsync.phrasing.NO_SECTION for h in expected]
    assert expected[0] is None and len({h for h in expected if h}) == 4  # the fixture means something
    assert d.timeline.grouped
    d.close()


def test_cells_without_a_notebook_are_not_grouped(shell, store_dir):
    """Cells run in a shell have no notebook and so no headings: one group of "before the
    first heading" would be noise, so the rows are not grouped."""
    run(shell, "t = pd.DataFrame({'a': range(5)})")
    run(shell, "t = t[t.a > 1]")
    store = recorded(shell)
    assert not any(e.section for e in store.timeline())
    d = Dashboard(store=str(store.path), read_only=True)
    assert len(d.timeline.rows) == len(store.timeline()) and not d.timeline.grouped
    d.close()


# --- filters and search ----------------------------------------------------------------------


def store_rows(path):
    """Per cell, from SQLite itself: id, code, summary, changed data, flagged, discussed."""
    db = sqlite3.connect(f"file:{path / 'cellsync.db'}?mode=ro", uri=True)
    cells = db.execute("SELECT id, code FROM cells ORDER BY id").fetchall()
    with_versions = {r[0] for r in db.execute("SELECT DISTINCT cell FROM versions")}
    flagged = {r[0] for r in db.execute("SELECT DISTINCT cell FROM impacts WHERE flagged")}
    talked = {r[0] for r in db.execute("SELECT DISTINCT cell FROM threads WHERE cell IS NOT NULL")}
    db.close()
    shown = {e.id for e in cellsync.open_store(path).timeline()}
    summaries = {e["id"]: e.get("summary") or "" for e in (x.to_dict() for x in cellsync.open_store(path).timeline())}
    return [{"id": i, "code": code or "", "summary": summaries.get(i, ""), "changed": i in with_versions,
             "flagged": i in flagged, "discussed": i in talked} for i, code in cells if i in shown]


@pytest.mark.parametrize("changed,flagged,discussed", [
    (True, False, False), (False, True, False), (False, False, True), (True, True, False), (True, False, True)])
def test_filters_show_exactly_the_cells_that_match(discussed_store, changed, flagged, discussed):
    rows = store_rows(discussed_store)
    want = [r["id"] for r in rows if (not changed or r["changed"]) and (not flagged or r["flagged"])
            and (not discussed or r["discussed"])]
    assert 0 < len(want) < len(rows)  # a filter that did nothing (or everything) would pass
    d = Dashboard(store=str(discussed_store), read_only=True)
    d.timeline.param.update(changed=changed, flagged=flagged, discussed=discussed)
    assert d.timeline.shown == want
    assert list(d.timeline.rows["id"]) == want
    assert f"{len(want)} of {len(rows)}" in d.timeline.count_text
    d.timeline.param.update(changed=False, flagged=False, discussed=False)
    assert d.timeline.shown == [r["id"] for r in rows]
    d.close()


def test_search_reads_code_and_summaries_in_any_case(discussed_store):
    rows = store_rows(discussed_store)
    # a word only some summaries hold, a code token, and one in no cell at all
    words = {w for r in rows for w in re.findall(r"[a-z]{6,}", r["summary"].lower())}
    word = next(w for w in sorted(words) if 0 < sum(w in r["summary"].lower() for r in rows) < len(rows) // 2)
    d = Dashboard(store=str(discussed_store), read_only=True)
    for text in (word.upper(), "dropna", "no such text anywhere"):
        want = [r["id"] for r in rows if text.lower() in r["code"].lower() or text.lower() in r["summary"].lower()]
        d.timeline.search = text
        assert d.timeline.shown == want, text
    d.timeline.param.update(search="read_csv", flagged=True)  # search and a filter together
    assert d.timeline.shown == [r["id"] for r in rows if "read_csv" in r["code"] and r["flagged"]]
    d.close()


def test_a_filtered_timeline_still_patches_in_place_and_keeps_the_selection(shell, store_dir):
    run(shell, "keep = pd.DataFrame({'a': range(10)})")
    run(shell, "other = 1")
    d = Dashboard(store=str(recorded(shell).path))
    d.timeline.drawn = True  # as the page script reports once a browser has drawn the table
    d.timeline.search = "keep"
    first = d.timeline.shown
    assert len(first) == 1
    d.timeline.click_row(0)
    assert d.state.selected == first[0]
    resets = d.timeline.resets
    run(shell, "keep = keep[keep.a > 2]")
    run(shell, "other = 2")
    recorded(shell)
    d.refresh()
    store = cellsync.open_store(store_dir)
    want = [e.id for e in store.timeline() if "keep" in (e.code or "") or "keep" in (e.summary or "").lower()]
    assert d.timeline.shown == want and len(want) == 2
    assert d.timeline.resets == resets  # appended, not set afresh
    assert d.timeline.selected_rows == [0] and d.state.selected == first[0]
    # a filter changed: the table is set afresh, and the cell being read stays selected
    d.timeline.search = ""
    assert d.timeline.resets == resets + 1
    assert d.timeline.selected_rows == [d.timeline.shown.index(first[0])]
    # a table no browser has drawn yet gets a new cell set whole: a stream would be lost there
    d.timeline.drawn = False
    resets = d.timeline.resets
    run(shell, "keep = keep[keep.a > 5]")
    recorded(shell)
    d.refresh()
    assert d.timeline.resets == resets + 1 and len(d.timeline.shown) == len(cellsync.open_store(store_dir).timeline())
    d.close()


# --- in a browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def sectioned_server(sectioned):
    need_chromium()
    proc, url = start_server(sectioned[1])
    yield url
    proc.terminate()
    proc.wait(10)


def group(p, heading):
    return p.page.locator(".tabulator-group", has_text=heading).first


@pytest.mark.browser
def test_sections_collapse_and_open_again(browser, sectioned_server, sectioned):
    nb, store = sectioned
    expected = expected_sections(nb)
    entries = cellsync.open_store(store).timeline()
    p = Page(browser, sectioned_server)
    holder = p.page.locator(".tabulator-tableholder").first
    # every section is a group, in the notebook's order, its markup shown as text
    seen = []
    scroll_like_a_reader(p.page, holder, "top")
    for _ in range(40):
        for t in p.page.locator(".tabulator-group").all_inner_texts():
            label = re.sub(r"^Section: ", "", t.split("(")[0].strip())
            if label not in seen:
                seen.append(label)
        if holder.evaluate("e => { const end = e.scrollTop + e.clientHeight >= e.scrollHeight - 2; e.scrollTop += 300; return end; }"):
            break
        p.page.wait_for_timeout(80)
    want = list(dict.fromkeys(h or cellsync.phrasing.NO_SECTION for h in expected))
    assert [s.replace("\n", " ") for s in seen] == want
    assert p.page.locator(".tabulator-group b").count() == 0  # "<b>data</b>" stayed text
    # collapse "Cleaning" by keyboard: its cells leave the table, the others stay
    cleaning = [e for e, h in zip(entries, expected) if h == "Cleaning"]
    header = find_row(p.page, "Section: Cleaning", selector=".tabulator-group")
    header.focus()
    assert header.get_attribute("aria-expanded") == "true"
    p.page.keyboard.press("Enter")
    p.page.wait_for_timeout(400)
    assert group(p, "Section: Cleaning").get_attribute("aria-expanded") == "false"
    for e in cleaning:
        assert p.page.locator(".tabulator-row", has_text=e.code.splitlines()[0][:40]).count() == 0
    find_row(p.page, "Missing values", selector=".tabulator-group")
    # and open it again with a click
    group(p, "Section: Cleaning").locator(".tabulator-group-toggle").click()
    p.row(cleaning[0].code.splitlines()[0][:40]).wait_for(timeout=5_000)
    p.shot("timeline-sections")
    assert p.external() == [] and p.dialogs == []
    p.close()


def drawn_rows(p, settle_ms=3_000) -> int:
    """Cell rows in the timeline once the count stops changing (the rows follow the sentence
    above the table in the same update, but are drawn a frame or two later)."""
    rows = p.page.locator(".tabulator", has_text="What happened").first.locator(".tabulator-row:not(.tabulator-group)")
    last, stable = -1, 0
    for _ in range(settle_ms // 100):
        n = rows.count()
        stable = stable + 1 if n == last else 0
        if stable >= 3:
            break
        last = n
        p.page.wait_for_timeout(100)
    return last


@pytest.mark.browser
def test_filters_and_search_in_the_browser(browser, sectioned_server, sectioned):
    rows = store_rows(sectioned[1])
    p = Page(browser, sectioned_server)
    p.page.get_by_label("Flagged").check()
    flagged = [r for r in rows if r["flagged"]]
    p.page.locator("[data-testid=timeline-count]", has_text=f"{len(flagged)} of {len(rows)}").wait_for(timeout=5_000)
    assert drawn_rows(p) == len(flagged)
    p.page.get_by_label("Flagged").uncheck()
    box = p.page.get_by_label("Search code and summaries")
    box.fill("DROP")
    want = [r for r in rows if "drop" in r["code"].lower() or "drop" in r["summary"].lower()]
    p.page.locator("[data-testid=timeline-count]", has_text=f"{len(want)} of {len(rows)}").wait_for(timeout=5_000)
    assert drawn_rows(p) == len(want)
    p.close()


# --- 1,000 cells -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def thousand_cells(tmp_path_factory):
    """A store of 1,000 cells made by a real InteractiveShell with `%load_ext cellsync`
    running cheap cells (a small frame filtered every 10th cell), once per session."""
    from IPython.core.interactiveshell import InteractiveShell

    store = tmp_path_factory.mktemp("thousand") / "store"
    mp = pytest.MonkeyPatch()
    mp.setattr(cellsync.settings, "store", str(store))
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    try:
        ip.run_cell("import pandas as pd", store_history=True)
        ip.extension_manager.load_extension("cellsync")
        ip.run_cell("t = pd.DataFrame({'a': range(2000)})", store_history=True)
        for i in range(999):  # with the frame: 1,000 cells (the import ran before loading)
            code = f"t = t[t.a != {i}]" if i % 10 == 0 else f"x{i % 7} = {i} * 2"
            ip.run_cell(code, store_history=True)
        recorded(ip)
    finally:
        ip.extension_manager.unload_extension("cellsync")
        ip.reset(new_session=True)
        mp.undo()
    return store


@pytest.mark.browser
@pytest.mark.slow
def test_a_thousand_cells_open_and_scroll(browser, thousand_cells):
    n = cellsync.open_store(thousand_cells).summary()["cells"]
    assert n >= 1000
    proc, url = start_server(thousand_cells)
    try:
        # three fresh pages: a table first measured while its tab was hidden drew nothing on
        # scrolling on about 1 load in 4 before keys.py healed it
        for _ in range(3):
            p = Page(browser)
            started = time.monotonic()
            p.page.goto(url)
            open_timeline(p.page)  # the page opens on the overview
            p.page.locator(".tabulator-row", has_text="x4 = 998").first.wait_for(timeout=30_000)  # the newest
            opened = time.monotonic() - started
            drawn = p.page.locator(".tabulator-row").count()
            assert drawn < 120, drawn  # virtual rendering: not 1,000 rows in the page
            holder = p.page.locator(".tabulator-tableholder").first
            p.page.wait_for_timeout(800)  # settled at the newest cells (keys.py), as a reader would be
            started = time.monotonic()
            scroll_like_a_reader(p.page, holder, "top")
            p.page.locator(".tabulator-row", has_text="t = pd.DataFrame").first.wait_for(timeout=10_000)
            scrolled = time.monotonic() - started
            # the middle, by keyboard-free scrolling: a cell there is drawn where it should be
            scroll_like_a_reader(p.page, holder, "middle")
            p.page.wait_for_timeout(300)
            middle = p.page.locator(".tabulator-row .tabulator-cell[tabulator-field='#']").all_inner_texts()
            numbers = [int(x) for x in middle if x.strip().isdigit()]
            assert numbers and 300 < sum(numbers) / len(numbers) < 700, numbers
            print(f"1,000 cells: newest row visible {opened:.2f} s after goto; scroll to top {scrolled:.2f} s; {drawn} rows drawn")
            assert opened < 20 and scrolled < 5
            p.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_json_of_sections_is_what_show_prints(sectioned):
    """`cellsync show --json` carries each cell's section: what the timeline groups by."""
    from click.testing import CliRunner

    from cellsync.cli import main

    out = CliRunner().invoke(main, ["show", str(sectioned[1]), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    cells = data if isinstance(data, list) else data.get("cells", data.get("timeline"))
    assert [c.get("section") for c in cells] == expected_sections(sectioned[0])

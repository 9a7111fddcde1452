"""The Overview tab (issue 14) in headless Chromium against a real `cellsync serve`, and as
Python objects where no browser is needed; and the export as a report.

Two stores: the replayed demo, and a generated notebook of 300 cells over 20 tables (replayed
once per session on a real kernel), whose main table is filtered 150 times, so its flow folds.
Every expected number is computed here again with pandas or scikit-learn from the same data,
by running the notebooks' code in plain Python."""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import nbformat
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

import cellsync
from cellsync.overview import overview
from helpers import DEMO, recorded, run
from test_dashboard import browser  # noqa: F401  (the same headless Chromium, one per module)
from ui_helpers import Page, need_chromium, start_server

# --- the stores ------------------------------------------------------------------------------

N_FRAMES, N_CELLS = 20, 300

SETUP = """import numpy as np
import pandas as pd
import cellsync
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

def make(seed, n=600):
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 95, n)
    # income goes missing mostly for the oldest: a dropna hits them hardest
    missing = rng.random(n) < np.where(age >= 80, 0.45, 0.05)
    income = np.where(missing, np.nan, rng.normal(40_000, 9_000, n).round())
    return pd.DataFrame({"age": age, "income": income, "sex": rng.choice(["F", "M"], n),
                         "score": rng.normal(size=n), "y": (rng.random(n) < 0.4 + 0.2 * (age < 50)).astype(int)})"""


def generated_cells() -> list[str]:
    """300 code cells: 20 tables made, then 150 one-row filters and a dropna on the main table
    (df0) among edits round-robin on the others, then a split and a model scored by segment."""
    cells = [SETUP] + [f"df{i} = make({i})" for i in range(N_FRAMES)]
    cells[1] = "df0 = make(0, 2_000)"
    ops = ["df{f} = df{f}[df{f}['score'] > df{f}['score'].min()]",
           "df{f}['z'] = df{f}['score'] * 2",
           "df{f} = df{f}.drop_duplicates(subset=['score'])"]
    body, k = [], 0
    while len(cells) + len(body) < N_CELLS - 3:
        if k % 2 == 0:
            body.append("df0 = df0.dropna(subset=['income'])" if k == 40
                        else "df0 = df0[df0['score'] > df0['score'].min()]")
        else:
            f = 1 + (k // 2) % (N_FRAMES - 1)
            body.append(ops[(k // 2) % len(ops)].format(f=f))
        k += 1
    cells += body
    cells += ["train0, test0 = train_test_split(df0, test_size=0.3, random_state=0)",
              "model = LogisticRegression(max_iter=500).fit(train0[['age', 'score']], train0['y'])",
              "cellsync.log_predictions(test0['y'], model.predict(test0[['age', 'score']]), data=test0, name='risk model')"]
    assert len(cells) == N_CELLS
    return cells


def run_plainly(cells: list[str], cwd=None) -> tuple[list[dict], dict]:
    """Each cell run in plain Python; after each, the row count of every table (pandas' own
    counts, index = execution count - 1), and the namespace at the end."""
    ns: dict = {}
    counts = []
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        for code in cells:
            exec(compile(code, "<cell>", "exec"), ns)
            counts.append({k: len(v) for k, v in ns.items() if isinstance(v, pd.DataFrame)})
    finally:
        os.chdir(old)
    return counts, ns


def demo_cells() -> list[str]:
    return [c.source for c in nbformat.read(DEMO, as_version=4).cells
            if c.cell_type == "code" and "fails on purpose" not in c.source]


@pytest.fixture(scope="session")
def big_store(tmp_path_factory):
    """The generated notebook replayed on a real kernel, once per session: (store, cells)."""
    from cellsync.replay import replay_notebook

    root = tmp_path_factory.mktemp("big")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 300 cells over 20 tables")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in generated_cells()]
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path = root / "big_study.ipynb"
    nbformat.write(nb, path)
    replay_notebook(path, root / "store")
    return root / "store"


@pytest.fixture(scope="module")
def servers(demo_store, big_store):
    """One `cellsync serve` per store (read-only: these tests only read)."""
    need_chromium()
    procs, urls = [], {}
    for name, store in (("demo", demo_store), ("big", big_store)):
        proc, url = start_server(store, "--read-only")
        procs.append(proc)
        urls[name] = url
    yield urls
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def overview_page(browser, url) -> Page:
    """A page on the dashboard, opened where it lands: the overview."""
    p = Page(browser)
    p.page.goto(url)
    p.page.locator("[data-testid=flow-step]").first.wait_for(timeout=30_000)
    return p


def shown_steps(page) -> list[dict]:
    """Every flow box as the page holds it (folded ones too): its count, cell and kind."""
    return page.locator("[data-testid=flow-step]").evaluate_all("""els => els.map(e => ({
        count: e.querySelector('.cs-count').textContent, at: e.querySelector('.cs-at').textContent,
        kind: e.dataset.kind, cell: e.dataset.cell || null,
        branches: [...e.querySelectorAll('.cs-branch')].map(b => b.textContent)}))""")


def number(text: str) -> int:
    return int(re.match(r"([\d,]+) rows", text).group(1).replace(",", ""))


def assert_flow_is_pandas(page, store, cells, cwd=None) -> int:
    """The boxes' numbers equal pandas' counts after the cells they name; returns how many."""
    counts, ns = run_plainly(cells, cwd)
    st = cellsync.open_store(store)
    ov = overview(st)
    by_count = {e.execution_count: e for e in st.timeline()}
    shown = shown_steps(page)
    assert len(shown) == len(ov.steps) > 0
    for box in shown:
        at = int(re.search(r"\[(\d+)\]", box["at"]).group(1))
        entry = by_count[at]
        assert box["cell"] == str(entry.id)
        if box["kind"] == "split":
            # a split's parts: the tables the cell made, as pandas counts them
            for part in box["branches"]:
                name, rows = part.split(": ")
                assert int(rows.replace(",", "")) == counts[at - 1][name]
            continue
        frames = [f.name for f in entry.frames if f.rows_after is not None]
        expected = {counts[at - 1][name] for name in frames if name in counts[at - 1]}
        assert number(box["count"]) in expected, (box, expected)
    return len(shown)


# --- in the browser --------------------------------------------------------------------------


@pytest.mark.browser
def test_the_page_lands_on_the_flow_and_its_numbers_are_pandas_counts(browser, servers, demo_store):
    p = overview_page(browser, servers["demo"])
    assert p.page.locator(".bk-tab.bk-active").first.inner_text() == "Overview"
    n = assert_flow_is_pandas(p.page, demo_store, demo_cells(), cwd=DEMO.parent)
    assert n >= 5
    # a flagged step says so in words on the box itself, not by colour alone
    flagged = p.page.locator("[data-testid=flow-step].flagged").first
    assert "⚑" in flagged.inner_text() and "removed" in flagged.inner_text()
    p.shot("overview-demo")
    assert p.external() == [] and p.dialogs == []
    p.close()


@pytest.mark.browser
def test_300_cells_fold_into_a_readable_flow_with_pandas_counts(browser, servers, big_store):
    p = overview_page(browser, servers["big"])
    runs = p.page.locator("[data-testid=flow-run]")
    assert runs.count() >= 1  # 150 quiet filters are folded, not 150 boxes on screen
    visible = p.page.locator("[data-testid=flow-step]:visible").count()
    assert visible < 30
    n = assert_flow_is_pandas(p.page, big_store, generated_cells())
    # a box per cell that changed df0's rows: its load, every filter and the dropna, the split
    assert n == 2 + sum(c.startswith("df0 = df0") for c in generated_cells())
    # unfolding a run shows its boxes
    runs.first.locator("summary").click()
    assert p.page.locator("[data-testid=flow-step]:visible").count() > visible
    # the picker offers the other tables; picking one draws its flow
    picker = p.page.locator("select").first
    options = picker.locator("option").all_inner_texts()
    assert options[0] == "df0" and len(options) >= N_FRAMES
    picker.select_option("df7")
    p.page.get_by_role("heading", name="Where the rows of df7 came from").wait_for(timeout=10_000)
    assert p.external() == [] and p.dialogs == []
    p.close()


@pytest.mark.browser
@pytest.mark.parametrize("which", ["demo", "big"])
def test_findings_are_ordered_by_excess_removal(browser, servers, demo_store, big_store, which):
    store = {"demo": demo_store, "big": big_store}[which]
    p = overview_page(browser, servers[which])
    items = p.page.locator("[data-testid=findings-flags] li")
    shown = [float(x) for x in items.evaluate_all("els => els.map(e => e.dataset.excess)")]
    # the excess of every flag not made by construction, from the store's impact rows
    st = cellsync.open_store(store)
    raw = sorted(((i["rows_removed"] / i["rows_before"]) - i["overall_removal_rate"]
                  for i in st.impacts() if i["flagged"] and not i.get("by_construction")), reverse=True)
    assert shown and shown == sorted(shown, reverse=True)
    assert shown == pytest.approx(raw, abs=1e-5)
    p.close()


def segment_mask(df: pd.DataFrame, text: str):
    """A segment's rows, by pandas' own query (None for a text it cannot read)."""
    try:
        return df.eval(text.replace(" is missing", ".isna()")).to_numpy(dtype=bool)
    except Exception:
        return None


@pytest.mark.browser
@pytest.mark.parametrize("which", ["demo", "big"])
def test_the_per_segment_table_is_scikit_learns(browser, servers, which):
    if which == "demo":
        _, ns = run_plainly(demo_cells(), DEMO.parent)
        data, features, target = ns["test"], ns["features"], "readmitted"
    else:
        _, ns = run_plainly(generated_cells())
        data, features, target = ns["test0"], ["age", "score"], "y"
    y, pred = data[target].to_numpy(), ns["model"].predict(data[features])
    p = overview_page(browser, servers[which])
    rows = p.page.locator("[data-testid=by-segment] tr[data-segment]").evaluate_all(
        "rows => rows.map(r => ({segment: r.dataset.segment, cells: [...r.cells].map(c => c.textContent)}))")
    assert rows
    values = [float(r["cells"][3]) for r in rows]
    assert values == sorted(values)  # worst (lowest accuracy) first
    compared = 0
    for r in rows:
        assert target not in r["segment"]  # never a segment of the target itself
        assert r["cells"][4] == f"{accuracy_score(y, pred):.3g}"
        mask = segment_mask(data, r["segment"])
        if mask is None:
            continue
        assert r["cells"][3] == f"{accuracy_score(y[mask], pred[mask]):.3g}", r
        assert int(r["cells"][5].replace(",", "")) == int(mask.sum())
        compared += 1
    assert compared >= min(5, len(rows))
    p.close()


@pytest.mark.browser
def test_clicking_a_box_opens_its_cell(browser, servers, demo_store):
    p = overview_page(browser, servers["demo"])
    box = p.page.locator("[data-testid=flow-step].flagged").first
    cell = int(box.get_attribute("data-cell"))
    entry = next(e for e in cellsync.open_store(demo_store).timeline() if e.id == cell)
    box.click()
    heading = p.page.locator("h3", has_text=f"Cell {entry.execution_count}").first
    heading.wait_for(timeout=10_000)
    assert p.page.locator(".bk-tab.bk-active").first.inner_text() == "Timeline"
    p.page.locator(".cs-summary", has_text=entry.summary[:40]).first.wait_for(timeout=10_000)
    assert p.external() == [] and p.dialogs == []
    p.close()


@pytest.mark.browser
def test_open_questions_newest_first_and_each_opens_its_cell(browser, demo_store, tmp_path):
    """Two threads awaiting a reply and one answered: the overview lists the two, newest
    first, and the button beside a question opens the cell it was asked on."""
    import shutil
    import time as _time

    from cellsync import chat
    from cellsync.store import Store

    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    entries = [e for e in cellsync.open_store(store).timeline() if e.execution_count is not None]
    older, newer, answered = entries[1], entries[-2], entries[3]
    with Store(store) as w:
        chat.start_thread(w, "Why were these rows dropped?", "dr. lee", execution_count=older.execution_count)
        _time.sleep(0.05)  # two distinct times: the list orders by the newest activity
        chat.start_thread(w, "Is the model fair to the oldest?", "dr. ng", execution_count=newer.execution_count)
        done = chat.start_thread(w, "Which year is this?", "dr. lee", execution_count=answered.execution_count)
        chat.post(w, done.id, "2019.", "ana", "data_scientist")
    proc, url = start_server(store)
    try:
        p = overview_page(browser, url)
        items = p.page.locator("[data-testid=questions] li")
        items.first.wait_for(timeout=10_000)
        texts = items.all_inner_texts()
        assert len(texts) == 2, texts
        assert "Is the model fair" in texts[0] and "Why were these rows dropped" in texts[1]
        assert not any("Which year" in t for t in texts)
        items.nth(1).locator("button.cs-open").click()
        p.page.locator("h3", has_text=re.compile(rf"^Cell {older.execution_count}\b")).first.wait_for(timeout=10_000)
        assert p.page.locator(".bk-tab.bk-active").first.inner_text() == "Timeline"
        assert p.external() == [] and p.dialogs == []
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)


DEEP_ACTIVE = """() => { let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) { a = a.shadowRoot.activeElement; }
    return a ? {tag: a.tagName, testid: a.dataset ? a.dataset.testid || '' : '', cell: a.dataset ? a.dataset.cell || '' : ''} : null; }"""


@pytest.mark.browser
def test_a_keyboard_alone_reaches_and_opens_a_box(browser, servers, demo_store):
    p = overview_page(browser, servers["demo"])
    p.page.evaluate("document.activeElement && document.activeElement.blur()")  # from the top of the page
    reached = None
    for _ in range(60):
        p.page.keyboard.press("Tab")
        active = p.page.evaluate(DEEP_ACTIVE)
        if active and active["testid"] == "flow-step":
            reached = active
            break
    assert reached is not None, "Tab never reached a flow box"
    assert p.page.locator(".bk-tab.bk-active").first.inner_text() == "Overview"  # no click happened
    entry = next(e for e in cellsync.open_store(demo_store).timeline() if e.id == int(reached["cell"]))
    p.page.keyboard.press("Enter")
    p.page.locator("h3", has_text=f"Cell {entry.execution_count}").first.wait_for(timeout=10_000)
    # and Space on the next box, back on the overview
    p.page.locator(".bk-tab", has_text="Overview").click()
    p.page.locator("[data-testid=flow-step]").first.wait_for(timeout=10_000)
    p.page.locator("[data-testid=flow-step]").nth(1).focus()
    second = p.page.evaluate(DEEP_ACTIVE)
    other = next(e for e in cellsync.open_store(demo_store).timeline() if e.id == int(second["cell"]))
    p.page.keyboard.press("Space")
    p.page.locator("h3", has_text=f"Cell {other.execution_count}").first.wait_for(timeout=10_000)
    p.close()


@pytest.mark.browser
def test_the_export_opens_on_the_overview_and_says_where_it_came_from(browser, demo_store, tmp_path):
    from cellsync.ui import export

    out = export(demo_store, tmp_path / "report.html")
    p = Page(browser)
    p.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort())
    p.page.goto(out.as_uri())
    made = p.page.locator("[data-testid=report-made]").first
    made.wait_for(timeout=20_000)
    text = made.inner_text()
    assert "demo.ipynb" in text and datetime.now(timezone.utc).strftime("%Y-%m-%d") in text
    flow = p.page.locator("[data-testid=flow]").first
    first_cell = p.page.locator("h3", has_text="Cell").first
    first_cell.wait_for(timeout=10_000)
    assert flow.bounding_box()["y"] < first_cell.bounding_box()["y"]  # the overview comes first
    assert p.page.locator("[data-testid=ov-findings] li").count() >= 1
    assert p.page.locator("[data-testid=by-segment]").count() == 1
    assert p.page.locator("[data-testid=flow] button").count() == 0  # static: nothing to press
    # on paper: every section after the first starts a page, and no toolbar is printed
    p.page.emulate_media(media="print")
    breaks = p.page.locator("section.cs-section").evaluate_all("els => els.map(e => getComputedStyle(e).breakBefore)")
    assert breaks[0] != "page" and breaks[1:] and set(breaks[1:]) == {"page"}
    toolbars = p.page.locator(".bk-Toolbar, .bk-toolbar").evaluate_all(
        "els => els.filter(e => getComputedStyle(e).display !== 'none').length")
    assert toolbars == 0
    pdf = p.page.pdf(format="A4")
    assert pdf.count(b"/Type /Page\n") + len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= len(breaks)
    assert [u for u in p.requests if not u.startswith(("file://", "data:", "blob:"))] == []
    p.close()


# --- without a browser -----------------------------------------------------------------------


def test_the_overview_is_the_first_tab_for_experts(demo_store):
    from cellsync.ui import Dashboard

    for kwargs in ({}, {"read_only": True}, {"compact": True, "role": "data_scientist"}):
        d = Dashboard(store=str(demo_store), **kwargs)
        assert d.tab_names[0] == "Overview" and d.active_tab == "Overview"  # the sidecar too
        d.show_tab("Overview")
        assert d.overview.data.frame == overview(d.state.store).frame
        assert ("cs-ov compact" in d.overview.html) == bool(kwargs.get("compact"))
        # a box's message opens its cell, on the timeline tab
        step = d.overview.data.steps[2]
        d.overview.open_cell(step.cell)
        assert d.state.selected == step.cell and d.active_tab == "Timeline"
        assert d.cell.entry.id == step.cell
        d.close()


def test_it_recomputes_only_when_cells_arrive(shell, store_dir, monkeypatch):
    from cellsync.ui import Dashboard
    from cellsync.ui import overview as view

    start = pd.DataFrame({"a": range(10), "b": [None] * 3 + list(range(7))})
    run(shell, "df = pd.DataFrame({'a': range(10), 'b': [None] * 3 + list(range(7))})")
    recorded(shell)
    d = Dashboard(store=str(store_dir))
    calls = []
    real = view.story.overview
    monkeypatch.setattr(view.story, "overview", lambda *a, **k: calls.append(1) or real(*a, **k))
    d.poll()
    d.poll()
    assert calls == []  # nothing new: nothing recomputed
    first = d.overview.html
    run(shell, "df = df.dropna()")
    recorded(shell)
    d.poll()
    assert len(calls) == 1 and d.overview.html != first
    kept = start.dropna()
    assert f"{len(kept)} rows" in d.overview.html and f"{len(start) - len(kept)} rows excluded" in d.overview.html
    # a tab nobody looks at is only marked stale
    d.show_tab("Timeline")
    run(shell, "df = df[df.a > 5]")
    recorded(shell)
    d.poll()
    assert len(calls) == 1 and d.overview.stale
    d.show_tab("Overview")
    assert len(calls) == 2 and f"{len(kept[kept.a > 5])} rows" in d.overview.html
    d.close()


def test_empty_states_are_one_honest_line(tmp_path):
    from cellsync import phrasing
    from cellsync.store import Store
    from cellsync.ui import Dashboard

    Store(tmp_path / "empty").close()
    d = Dashboard(store=str(tmp_path / "empty"), read_only=True)
    assert phrasing.overview_empty("cells") in d.overview.html and "data-testid='flow-step'" not in d.overview.html
    d.close()


def test_user_strings_in_the_overview_stay_text(shell, store_dir):
    from cellsync.ui import Dashboard

    xss = "<img src=x onerror=alert(1)>"
    run(shell, f"globals()['{xss}'] = pd.DataFrame({{'a': [1, None, 3]}})")
    run(shell, f"globals()['{xss}'] = globals()['{xss}'].dropna()")
    recorded(shell)
    d = Dashboard(store=str(store_dir))
    d.overview.frame = xss
    assert xss not in d.overview.html and "&lt;img src=x onerror=alert(1)&gt;" in d.overview.html
    d.close()


def test_no_model_and_no_questions_say_so(shell, store_dir):
    from cellsync import phrasing
    from cellsync.ui import Dashboard

    run(shell, "df = pd.DataFrame({'a': range(4)})")
    recorded(shell)
    d = Dashboard(store=str(store_dir))
    for part in ("by_segment", "questions"):
        assert phrasing.overview_empty(part) in d.overview.html
    d.close()


def test_flow_folds_long_quiet_runs_but_keeps_every_flag():
    from cellsync.overview import FlowStep
    from cellsync.ui import flow

    def step(i, flags=()):
        return FlowStep(cell=i, execution_count=i, frame="t", version=f"v{i}", kind="filter", rows_before=1000 - i,
                        rows_after=999 - i, rows_removed=1, rows_added=0, text=f"step {i}", flags=flags)

    steps = [FlowStep(cell=0, execution_count=0, frame="t", version="v0", kind="create", rows_before=None,
                      rows_after=1000, rows_removed=0, rows_added=0, text="load")]
    steps += [step(i, ("old",) if i == 150 else ()) for i in range(1, 300)]
    out = flow.flow(steps, {})
    assert out.count("data-testid='flow-step'") == len(steps)  # every box is there, folded or not
    folded = out.count("<details class='cs-run'")
    assert folded == 2  # before and after the one flagged step
    visible = re.sub(r"<details.*?</details>", "", out, flags=re.S)
    assert "step 150" in visible and "load" in visible and "step 299" in visible
    assert visible.count("data-testid='flow-step'") < 10

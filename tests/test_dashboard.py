"""The dashboard in headless Chromium (Debian's chromium, driven by Playwright) against a real
`cellsync serve` on a store made by replaying the bundled notebook. The dashboard's tests that
need no browser are in test_ui.py."""

import re
import shutil
import time

import pandas as pd
import pytest

import cellsync
from helpers import ROOT, recorded, run
from ui_helpers import Page, chromium, demo_store as replay_demo, need_chromium, open_timeline, scroll_like_a_reader, start_server


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    return replay_demo(tmp_path_factory)


@pytest.fixture(scope="module")
def server(demo_store):
    need_chromium()
    proc, url = start_server(demo_store)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def expected_dropna():
    """The demo's cleaning, in plain pandas: rows before and removed by the dropna cell."""
    df = pd.read_csv(ROOT / "notebooks" / "data" / "patients.csv")
    df = df.rename(columns={"bmi_value": "bmi"}).drop(columns=["notes"]).drop_duplicates()
    return len(df), int(df["income"].isna().sum()), int((df.age >= 80).sum()), int((df.age >= 80).sum() - (df.dropna(subset=["income"]).age >= 80).sum())


@pytest.mark.browser
def test_timeline_matches_the_store(browser, server, demo_store):
    p = Page(browser, server)
    cells = cellsync.open_store(demo_store).timeline()
    header = p.page.locator("text=/\\d+ cells/").first.inner_text()
    assert f"{len(cells)} cells" in header
    holder = p.page.locator(".tabulator-tableholder").first
    scroll_like_a_reader(p.page, holder, 10**7)  # to the end
    from cellsync.ui import first_line

    last = p.page.locator(".tabulator-row", has_text=first_line(cells[-1].code, 200)[:30]).first
    last.wait_for(timeout=5_000)
    assert last.locator(".tabulator-cell[tabulator-field='#']").inner_text() == str(cells[-1].execution_count)
    p.shot("timeline")
    assert p.external() == [] and p.dialogs == []
    p.close()


@pytest.mark.browser
def test_clicking_a_cell_shows_its_numbers_and_a_histogram(browser, server):
    before, removed, old_before, old_removed = expected_dropna()
    p = Page(browser, server)
    p.row("dropna").click()
    view = p.page.locator(f"text=Removed {removed:,} of the {before:,} rows").first
    view.wait_for(timeout=10_000)
    flag = p.page.locator(f"text=/80 and over in patients: {old_removed} of {old_before} removed/").first
    flag.wait_for(timeout=5_000)
    p.page.locator("canvas:visible").first.wait_for(timeout=10_000)
    # the rows removed follow the numbers (a second patch): the first 50 of them, all
    # without an income, which is what the dropna removed
    p.page.locator(f"text=Rows removed (first {min(50, removed)} of {removed:,})").first.wait_for(timeout=10_000)
    incomes = p.page.locator("[data-testid=rows-removed]").first.evaluate(
        """t => { const head = [...t.rows[0].cells].map(c => c.innerText);
                  const i = head.indexOf('income');
                  return [...t.rows].slice(1).map(r => r.cells[i].innerText); }""")
    assert len(incomes) == min(50, removed) and set(incomes) == {""}
    p.shot("cell-view")
    assert p.external() == [] and p.dialogs == []
    p.close()


@pytest.mark.browser
def test_typing_a_segment_updates_the_grid_and_bad_text_says_why(browser, server, demo_store):
    p = Page(browser, server)
    p.tab("Segments")
    box = p.page.locator("input[placeholder^='e.g. age']")
    box.fill("region == \"north\"")
    box.press("Enter")
    p.page.locator("[data-testid=segment-text]", has_text='region == "north"').first.wait_for(timeout=10_000)
    raw = pd.read_csv(ROOT / "notebooks" / "data" / "patients.csv")
    north = str(int((raw.region == "north").sum()))
    p.page.locator(".tabulator-cell", has_text=north).first.wait_for(timeout=10_000)
    grid_rows = p.page.locator(".tabulator-row", has_text="patients").count()
    assert grid_rows >= 1
    p.shot("segments")
    box.fill("agee >= 80")
    box.press("Enter")
    p.page.locator("[data-testid=segment-error]", has_text="did you mean 'age'").first.wait_for(timeout=10_000)
    assert p.external() == [] and p.dialogs == []
    p.close()


@pytest.mark.browser
def test_metrics_tab(browser, server, demo_store):
    """Opens on a metric with per-segment results; recorded once, it is a number, not a chart."""
    p = Page(browser, server)
    p.tab("Metrics")
    rows = cellsync.open_store(demo_store).metrics()
    segmented = sorted({m["name"] for m in rows if m["segment"] is not None})
    first = next(m for m in rows if m["name"] == segmented[0] and m["segment"] is None)
    p.page.locator("[data-testid=metric-value]", has_text=f"{segmented[0]} = {first['value']:.4g}").first.wait_for(timeout=10_000)
    p.page.locator(f"text={segmented[0]} by segment").first.wait_for(timeout=10_000)
    p.shot("metrics")
    p.close()


@pytest.mark.browser
def test_read_only_has_no_writing_inputs_and_writes_nothing(browser, demo_store):
    db = demo_store / "cellsync.db"
    before = (db.stat().st_mtime_ns, db.stat().st_size, sorted(x.name for x in demo_store.iterdir()))
    proc, url = start_server(demo_store, "--read-only")
    try:
        p = Page(browser, url)
        assert p.page.locator("text=read-only").count() >= 1
        p.tab("Segments")
        assert p.page.locator("button", has_text="Save segment").count() == 0
        box = p.page.locator("input[placeholder^='e.g. age']")
        box.fill("age >= 50")
        box.press("Enter")
        p.page.wait_for_timeout(1000)
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert (db.stat().st_mtime_ns, db.stat().st_size, sorted(x.name for x in demo_store.iterdir())) == before




@pytest.mark.browser
def test_export_opens_from_disk_with_no_network(browser, demo_store, tmp_path):
    from click.testing import CliRunner

    from cellsync.cli import main

    out = tmp_path / "report.html"
    res = CliRunner().invoke(main, ["export", str(demo_store), "-o", str(out)])
    assert res.exit_code == 0, res.output
    p = Page(browser)
    p.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort())
    p.page.goto(out.as_uri())
    p.page.locator("text=Flags").first.wait_for(timeout=10_000)
    p.page.locator("text=80 and over").first.wait_for(timeout=5_000)
    p.page.locator("canvas:visible").first.wait_for(timeout=10_000)
    assert [u for u in p.requests if not u.startswith(("file://", "data:", "blob:"))] == []
    p.shot("export")
    p.close()


XSS = "<img src=x onerror=alert(1)>"


@pytest.mark.browser
def test_user_strings_stay_text_everywhere(browser, shell, tmp_path):
    run(shell, f"import cellsync\ndf = pd.DataFrame({{'{XSS}': [1, 2, 3, None], 'b': ['<script>alert(2)</script>', 'x', 'y', 'z']}})")
    run(shell, f"cellsync.segment('{XSS}', '`{XSS}` >= 2')")
    run(shell, "df = df.dropna()")
    # a frame whose *name* is the attack: it reaches the card title, the frame choice, the
    # segment grid's heading
    run(shell, f"globals()['{XSS}'] = df[df['b'] != 'x']")
    store = recorded(shell).path
    proc, url = start_server(store)
    try:
        p = Page(browser, url)
        p.row("dropna").click()
        p.page.locator(f"text={XSS}").first.wait_for(timeout=10_000)
        p.row("globals()").click()
        p.page.locator(f"text=/{re.escape(XSS)} — version 1 of 1/").first.wait_for(timeout=10_000)
        assert p.dialogs == [] and p.page.locator("img[src='x']").count() == 0
        p.tab("Segments")
        p.page.wait_for_timeout(1500)
        p.shot("xss")
        assert p.dialogs == []
        assert p.page.locator("img[src='x']").count() == 0
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)
    from cellsync.ui import export

    out = export(store, tmp_path / "x.html")
    text = out.read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # the summary carries the name, escaped
    p = Page(browser)
    p.page.goto(out.as_uri())
    p.page.wait_for_timeout(1500)
    assert p.dialogs == [] and p.page.locator("img[src='x']").count() == 0
    p.close()


@pytest.mark.browser
def test_new_cells_appear_without_a_reload(browser, shell):
    run(shell, "live = pd.DataFrame({'a': range(5)})")
    store = recorded(shell).path
    proc, url = start_server(store)
    try:
        p = Page(browser, url)
        p.page.locator(".tabulator-row").first.click()
        p.page.evaluate("window.__marker = 42")  # survives only if the page is not reloaded
        run(shell, "live = live[live.a > 1]")
        cellsync.flush(10)
        started = time.monotonic()
        p.page.locator(".tabulator-row", has_text="live = live[live.a > 1]").first.wait_for(timeout=10_000)
        appeared = time.monotonic() - started
        assert p.page.evaluate("window.__marker") == 42
        assert p.page.locator(".tabulator-row.tabulator-selected").count() == 1  # selection kept
        print(f"new cell appeared {appeared:.2f} s after it was in the store")
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.browser
def test_a_long_timeline_opens_on_its_newest_cells_and_follows_new_ones(browser, shell):
    """One scrolling table: the page opens scrolled to the newest cells; a new cell is followed
    while the reader is at the bottom, and does not pull away a reader who scrolled up."""
    run(shell, "t = pd.DataFrame({'a': range(100)})")
    for i in range(40):
        run(shell, f"t = t[t.a != {i}]")
    n = recorded(shell).summary()["cells"]
    store = recorded(shell).path
    proc, url = start_server(store)
    try:
        p = Page(browser, url)
        table = p.page.locator(".tabulator", has_text="What happened").first
        rows = table.locator(".tabulator-row")
        holder = table.locator(".tabulator-tableholder").first
        rows.filter(has_text="t = t[t.a != 39]").first.wait_for(timeout=10_000)
        assert rows.filter(has_text="t = pd.DataFrame").count() == 0  # far above, not drawn
        assert rows.count() < n  # virtual rendering: only the rows in view exist
        # at the bottom: a new cell is scrolled into view
        run(shell, "t = t[t.a != 40]")
        recorded(shell)
        rows.filter(has_text="t = t[t.a != 40]").first.wait_for(timeout=10_000)
        p.page.wait_for_timeout(500)
        assert holder.evaluate("e => e.scrollTop + e.clientHeight >= e.scrollHeight - 40")
        # scrolled to the top, a new cell does not move the reader
        scroll_like_a_reader(p.page, holder, "top")
        rows.filter(has_text="t = pd.DataFrame").first.wait_for(timeout=5_000)
        run(shell, "t = t[t.a != 41]")
        recorded(shell)
        p.page.locator(f"text=/· {n + 2} cells ·/").first.wait_for(timeout=10_000)
        p.page.wait_for_timeout(800)
        assert holder.evaluate("e => e.scrollTop") == 0
        assert rows.filter(has_text="t = pd.DataFrame").count() == 1
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def chat_store(demo_store, tmp_path):
    path = tmp_path / "chat-store"
    shutil.copytree(demo_store, path)
    return path


@pytest.mark.browser
def test_two_browsers_and_the_notebook_talk(browser, chat_store):
    from cellsync import chat

    proc, url = start_server(chat_store)
    try:
        expert, scientist = Page(browser, url), Page(browser, url)
        for p in (expert, scientist):
            p.row("dropna").click()
            p.page.locator("text=Discussion").first.wait_for(timeout=10_000)
        box = expert.page.locator("textarea[placeholder^='Comment on this cell']")
        box.fill("Why are so many **elderly** patients removed? <img src=x onerror=alert(1)>")
        expert.page.get_by_role("button", name="Comment", exact=True).click()
        scientist.page.locator(".cs-message", has_text="elderly").first.wait_for(timeout=10_000)
        # ... and in the notebook's view of the store
        table = cellsync.feedback(store=chat_store)
        assert len(table) == 1 and "elderly" in table.loc[0, "last message"]
        cell_count = next(e.execution_count for e in cellsync.open_store(chat_store).timeline() if "dropna" in e.code)
        assert table.loc[0, "about"] == f"cell {cell_count}"
        # a reply from the notebook side appears in both browsers without a reload
        cellsync.reply(table.loc[0, "thread"], "Income was missing mostly for them; I will impute instead.", store=chat_store)
        for p in (expert, scientist):
            p.page.locator(".cs-message", has_text="impute instead").first.wait_for(timeout=10_000)
        # the assistant answers with a cell citation that opens the cell
        expert.page.locator("textarea[placeholder='Reply']").first.fill("@assistant what did this cell do?")
        expert.page.locator("button", has_text="Send").first.click()
        answer = expert.page.locator(".cs-message[data-role=assistant]").first
        answer.wait_for(timeout=10_000)
        assert f"[cell {cell_count}]" in answer.inner_text()
        expert.page.locator("button", has_text=f"Open cell {cell_count}").first.wait_for(timeout=10_000)
        expert.shot("discussion")
        # resolve from the browser
        expert.page.locator("button", has_text="Resolve").first.click()
        deadline = time.monotonic() + 10
        while not cellsync.feedback(store=chat_store).empty and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cellsync.feedback(store=chat_store).empty
        thread = chat.threads(cellsync.open_store(chat_store))[0]
        assert thread.status == "resolved" and thread.resolved_by == "expert"
        assert expert.dialogs == [] and scientist.dialogs == []
        assert expert.page.locator("img[src='x']").count() == 0
        assert expert.external() == [] and scientist.external() == []
        expert.close()
        scientist.close()
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.browser
def test_read_only_shows_threads_without_inputs(browser, chat_store):
    from cellsync import chat
    from cellsync.store import Store

    st = Store(chat_store)
    cell = next(e for e in st.timeline() if "dropna" in e.code)
    chat.start_thread(st, "A question from the clinic", "ann", "expert", cell=cell.id)
    st.close()
    proc, url = start_server(chat_store, "--read-only")
    try:
        p = Page(browser, url)
        p.row("dropna").click()
        p.page.locator(".cs-message", has_text="A question from the clinic").first.wait_for(timeout=10_000)
        assert p.page.locator("textarea").count() == 0
        assert p.page.locator("button", has_text="Resolve").count() == 0
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)




@pytest.mark.browser
def test_the_name_is_typed_once_and_kept_in_the_browser(browser, chat_store):
    from cellsync import chat

    proc, url = start_server(chat_store)
    try:
        p = Page(browser, url)
        name_box = lambda: p.page.locator(".bk-input-group", has_text="Your name").locator("input").first  # noqa: E731
        assert name_box().input_value() == "expert"
        name_box().fill("Dr. Okafor")
        name_box().press("Enter")
        p.page.wait_for_timeout(800)
        p.page.reload()
        open_timeline(p.page)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and name_box().input_value() != "Dr. Okafor":
            p.page.wait_for_timeout(200)
        assert name_box().input_value() == "Dr. Okafor"
        # and a comment is signed with it
        p.row("dropna").click()
        p.page.locator("textarea[placeholder^='Comment on this cell']").fill("Signed comment")
        p.page.get_by_role("button", name="Comment", exact=True).click()
        p.page.locator(".cs-message", has_text="Signed comment").first.wait_for(timeout=10_000)
        st = cellsync.open_store(chat_store)
        thread = chat.threads(st)[0]
        assert chat.messages(st, thread.id)[0].author == "Dr. Okafor"
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)








@pytest.mark.browser
def test_operations_and_odd_labels_read_the_same_in_the_dashboard_and_the_export(browser, shell, tmp_path):
    """A split, a row taken out, new row labels and integer/tuple/None column labels: the
    cell view shows the very sentences of the summary (phrasing.py), the frame cards render,
    and the export carries them too."""
    run(shell, "from sklearn.model_selection import train_test_split\n"
               "X = pd.DataFrame(np.arange(40).reshape(20, 2), columns=[0, 1])\n"
               "mi = pd.DataFrame(np.arange(24).reshape(6, 4), columns=pd.MultiIndex.from_product([['a', 'b'], ['x', 'y']]))\n"
               "nn = pd.DataFrame({None: range(6), 'k': list('uvwuvw')})")
    run(shell, "Xtr, Xte = train_test_split(X, test_size=0.25, random_state=0)")
    run(shell, "first = X.iloc[3]")
    run(shell, "nn.index = pd.date_range('2024-01-01', periods=6)")
    st = recorded(shell)
    timeline = st.timeline()
    split, row, relabel = (e.summary for e in timeline[-3:])
    assert split.startswith("Split the table X (20 rows) into Xtr (15 rows, 75.0%) and Xte (5 rows, 25.0%)")
    assert row == 'first is the row "3" of the table X, taken out as a series of 2 values.'
    assert "dates 2024-01-01 to 2024-01-06 now" in relabel
    proc, url = start_server(st.path)
    try:
        p = Page(browser, url)
        for code, sentence, card in (("train_test_split(X", split, "Xtr — version 1 of 1 (split"),
                                     ("X.iloc[3]", row, "first — version 1 of 1 (extract"),
                                     ("nn.index", relabel, "nn — version 2 of 2 (relabel")):
            p.row(code).click()
            p.page.locator(".cs-summary", has_text=sentence).first.wait_for(timeout=10_000)
            p.page.get_by_text(card).first.wait_for(timeout=10_000)  # the frame card rendered
        assert p.external() == [] and p.dialogs == []
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)
    from cellsync.ui import export

    text = export(st.path, tmp_path / "ops.html").read_text()
    # the page's HTML travels inside Bokeh's JSON, so quotes are encoded: compare the rest
    assert "of the table X, taken out as a series of 2 values." in text
    assert "Split the table X (20 rows) into Xtr (15 rows, 75.0%) and Xte (5 rows, 25.0%)" in text


@pytest.mark.browser
def test_the_assistant_thinks_without_stalling_other_pages(browser, chat_store):
    """A model that takes 6 s: the asker's page says the assistant is thinking, another page
    of the same server opens a cell meanwhile (an answer computed in the click handler held
    the server's only event loop for those 6 s), and the answer arrives."""
    import os

    from test_llm import Stub

    stub = Stub()
    stub.plan = [("sleep", 6)]
    env = {**os.environ, "CELLSYNC_EXPLAIN_MODEL": "openai:stub-model", "CELLSYNC_EXPLAIN_BASE_URL": stub.url,
           "CELLSYNC_LLM_API_KEY": "sk-test"}
    proc, url = start_server(chat_store, env=env)
    try:
        asker, other = Page(browser, url), Page(browser, url)
        asker.row("dropna").click()
        asker.page.locator("textarea[placeholder^='Comment on this cell']").fill("@assistant what did this cell do?")
        asker.page.get_by_role("button", name="Comment", exact=True).click()
        asker.page.locator("[data-testid=assistant-thinking]").first.wait_for(timeout=5_000)
        asked = time.monotonic()
        cells = cellsync.open_store(chat_store).timeline()
        target = next(e for e in cells if "drop_duplicates" in e.code)
        other.row("drop_duplicates").click()
        other.page.locator("h3", has_text=f"Cell {target.execution_count}").first.wait_for(timeout=10_000)
        opened = time.monotonic() - asked
        assert opened < 4.0, f"another page waited {opened:.1f} s for the model"
        assert asker.page.locator("[data-testid=assistant-thinking]").first.is_visible()  # still thinking
        asker.page.locator(".cs-message[data-role=assistant]", has_text="late").first.wait_for(timeout=30_000)
        assert len(stub.requests) == 1  # the stub's (slow) answer
        asker.page.locator("[data-testid=assistant-thinking]").first.wait_for(state="hidden", timeout=10_000)
        assert asker.dialogs == [] and asker.external() == [] and other.external() == []
        asker.close()
        other.close()
    finally:
        proc.terminate()
        proc.wait(10)
        stub.close()


@pytest.mark.browser
def test_a_new_thread_does_not_move_a_reader_off_their_page(browser, shell):
    """The soak run found it: the thread count patched into a row sent every open timeline
    back to its start. A patch must leave the reader where they scrolled."""
    from cellsync import chat
    from cellsync.store import Store

    run(shell, "t = pd.DataFrame({'a': range(100)})")
    for i in range(40):
        run(shell, f"t = t[t.a != {i}]")
    store = recorded(shell).path
    proc, url = start_server(store)
    try:
        p = Page(browser, url)
        table = p.page.locator(".tabulator", has_text="What happened").first
        rows = table.locator(".tabulator-row")
        holder = table.locator(".tabulator-tableholder").first
        p.row("t = t[t.a != 39]")  # the newest: the page opened there
        p.page.wait_for_timeout(800)
        scroll_like_a_reader(p.page, holder, "middle")
        p.page.wait_for_timeout(300)
        # the first row in view (Tabulator also draws a few rows above and below the view)
        in_view = """e => { const box = e.getBoundingClientRect();
            const r = [...e.querySelectorAll('.tabulator-row')].find(r => r.getBoundingClientRect().top >= box.top - 1);
            return r ? r.innerText : null; }"""
        top, shown = holder.evaluate("e => e.scrollTop"), holder.evaluate(in_view)
        assert top > 0
        first_count = recorded(shell).timeline()[2].execution_count  # a cell far above
        with Store(store) as writer:
            chat.start_thread(writer, "Why this one?", "dr. lee", "expert", execution_count=first_count)
        p.page.wait_for_timeout(1500)  # several polls
        assert abs(holder.evaluate("e => e.scrollTop") - top) < 5 and holder.evaluate(in_view) == shown
        scroll_like_a_reader(p.page, holder, "top")
        table.locator(".tabulator-row", has_text="1 open comment").first.wait_for(timeout=5_000)
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)

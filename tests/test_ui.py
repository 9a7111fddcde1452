"""The dashboard's components as Python objects, on real stores, without a browser: what a
click, a new cell, a write or a question does to them. (The same, in Chromium against a real
`cellsync serve`: test_dashboard.py.)"""

import ast
import shutil
import sqlite3

import pytest

import cellsync
from cellsync import chat
from cellsync.store import Store
from cellsync.ui import Dashboard
from helpers import ROOT, make_entry, recorded, run
from ui_helpers import demo_store as replay_demo

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    return replay_demo(tmp_path_factory)


@pytest.fixture
def chat_store(demo_store, tmp_path):
    path = tmp_path / "chat-store"
    shutil.copytree(demo_store, path)
    return path


def dropna_cell(store) -> dict:
    return next(e for e in cellsync.open_store(store).timeline() if "dropna" in e.code)


# --- reading ---------------------------------------------------------------------------------


def test_the_timeline_and_a_click_show_what_the_store_holds(demo_store):
    d = Dashboard(store=str(demo_store), read_only=True)
    cells = cellsync.open_store(demo_store).timeline()
    assert list(d.timeline.rows["id"]) == [e.id for e in cells]
    assert d.timeline.shown == [e.id for e in cells]
    entry = dropna_cell(demo_store)
    d.select_cell(entry.id)
    head, *_ = d.cell.parts()
    assert entry.summary.split(" (")[0] in head.object.replace("&quot;", '"')
    card = d.cell.cards[0]
    assert card.frame == entry.frames[0].name and card.versions[card.index] == entry.frames[0].version
    changed = next(c for c in card.version.diff.columns if c.column == card.column)
    assert changed.missing_before != changed.missing_after  # a column the cell changed is drawn
    d.close()


def test_the_dashboard_object_cannot_write_in_read_only_mode(demo_store):
    d = Dashboard(store=str(demo_store), read_only=True)
    count = len(cellsync.open_store(demo_store).segments())
    d.segments.text = "age >= 33"
    assert d.segments.save() is False  # what a hand-crafted message could at most trigger
    assert d.segments.comment("sneaky") is False
    d.select_cell(dropna_cell(demo_store).id)
    assert d.cell.discussion.start("sneaky") is False
    assert len(cellsync.open_store(demo_store).segments()) == count
    assert cellsync.feedback(store=demo_store).empty
    with pytest.raises(sqlite3.OperationalError):
        d.state.store.db.execute("insert into segments (frame, name, text, spec, source) values ('', 'x', 'x', '{}', 'user')")
    d.close()


def test_a_closed_dashboard_lets_go_of_its_store(demo_store):
    """What a page's end (session destroyed) calls: the read-only connection is closed."""
    d = Dashboard(store=str(demo_store), read_only=True)
    assert d.state.store.data_version() >= 0
    d.close()
    with pytest.raises(sqlite3.ProgrammingError):
        d.state.store.data_version()


def test_a_page_opened_before_any_cell_patches_the_right_rows(shell, store_dir):
    """The sidecar opens on an empty store: rows streamed in later must be patched where they
    are (a late LLM summary of the first cell lands on the first row), and the reader's
    chosen version and column survive a summary arriving for the cell being shown."""
    from cellsync.explain.chains import Explanation

    Store(store_dir).close()
    d = Dashboard(store=str(store_dir))
    assert len(d.timeline.rows) == 0
    run(shell, "t = pd.DataFrame({'a': range(10), 'b': range(10)})")
    run(shell, "t = t[t.a > 2]")
    run(shell, "t['b'] = t['b'] * 2")
    recorded(shell)
    d.refresh()
    ids = [e.id for e in d.state.entries]
    assert list(d.timeline.rows["id"]) == ids and list(d.timeline.rows.index) == [0, 1, 2]
    d.select_cell(ids[2])
    card = d.cell.cards[0]
    card.step(-1)  # the reader steps back to the filter's version ...
    card.column = "a"  # ... and looks at column a
    writer = Store(store_dir)
    for cell, text in ((ids[0], "First, from the LLM."), (ids[2], "Third, from the LLM.")):
        writer.write_explanation(cell, Explanation(summary=text, details="", caveats=(), model="stub"))
    writer.close()
    d.refresh()
    happened = list(d.timeline.rows["What happened"])
    assert happened[0] == "First, from the LLM." and happened[2] == "Third, from the LLM."
    assert happened[1] != "First, from the LLM."
    assert "Third, from the LLM." in d.cell.parts()[0].object
    assert (card.index, card.column) == (1, "a")  # where the reader was
    d.close()


def test_a_new_comment_patches_the_count_without_reading_the_timeline_again(chat_store):
    d = Dashboard(store=str(chat_store))
    entry = dropna_cell(chat_store)
    row = list(d.timeline.rows["id"]).index(entry.id)
    assert "open comment" not in d.timeline.rows["Changes"][row]
    st = Store(chat_store)
    chat.start_thread(st, "Why?", "ann", "expert", cell=entry.id)
    st.close()
    entries = d.state.entries
    d.poll()
    assert d.state.entries is entries  # no cell gained rows: the timeline was not read
    assert d.timeline.rows["Changes"][row].endswith("1 open comment")
    assert "1 open thread" in d.feedback.text
    d.close()


def test_tabs_nobody_looks_at_cost_nothing(shell, store_dir):
    """Segments and Metrics are computed when their tab opens and, while it is open, when
    new cells arrive; not for a tab nobody looks at."""
    run(shell, "df = pd.DataFrame({'age': range(100), 'g': ['a', 'b'] * 50})")
    recorded(shell)
    d = Dashboard(store=str(store_dir))
    assert d.segments.frame == "df" and d.segments.shown is None and d.segments.stale
    run(shell, "df = df[df.age > 10]")
    recorded(shell)
    d.refresh()
    assert d.segments.shown is None  # closed: still nothing computed
    d.show_tab("Segments")
    assert d.segments.active and d.segments.shown is not None and not d.segments.stale
    run(shell, "df = df[df.age > 20]")
    recorded(shell)
    before = d.segments.shown
    d.refresh()
    assert d.segments.shown == before and not d.segments.stale  # open: drawn again at once
    d.close()


# --- writing ---------------------------------------------------------------------------------


def test_a_comment_on_a_segment_reaches_the_notebook(chat_store):
    d = Dashboard(store=str(chat_store))
    d.segments.text = "age >= 80"
    assert d.segments.comment("Are the oldest patients complete here?")
    table = cellsync.feedback(store=chat_store)
    assert table.loc[0, "about"] == f"the notebook, frame {d.segments.frame}, segment age >= 80"
    ro = Dashboard(store=str(chat_store), read_only=True)
    ro.segments.text = "age >= 80"
    assert not ro.segments.comment("sneaky")
    assert len(cellsync.feedback(store=chat_store)) == 1


def test_the_sidecar_counts_threads_awaiting_its_reply(chat_store):
    st = Store(chat_store)
    cell = dropna_cell(chat_store)
    answered = chat.start_thread(st, "first", "ann", "expert", cell=cell.id)
    chat.post(st, answered.id, "done", "dana", "data_scientist")
    chat.start_thread(st, "second", "ann", "expert", cell=cell.id)
    st.close()
    side = Dashboard(store=str(chat_store), role="data_scientist").feedback
    assert "2 open threads" in side.text and "1 awaiting your reply" in side.text and side.waiting == 1
    assert Dashboard(store=str(chat_store), role="expert").feedback.waiting == 1


def test_the_assistant_answers_in_the_thread_and_stops_thinking(chat_store):
    d = Dashboard(store=str(chat_store), user_name="Ann")
    entry = dropna_cell(chat_store)
    d.select_cell(entry.id)
    assert d.cell.discussion.start("@assistant what did this cell do?")
    thread = chat.threads(d.state.store, cell=entry.id)[0]
    msgs = chat.messages(d.state.store, thread.id)
    assert [(m.author, m.role) for m in msgs] == [("Ann", "expert"), ("assistant", "assistant")]
    assert f"[cell {entry.execution_count}]" in msgs[1].text
    view = d.cell.discussion.view(thread.id)
    assert view.thinking is False and "data-role='assistant'" in view.text
    d.close()


def test_the_assistant_builds_its_model_once(monkeypatch):
    """One LangChain model per setting and process, not one per question (or per page)."""
    from cellsync.config import settings
    from cellsync.ui.assistant import Assistant

    monkeypatch.setenv("CELLSYNC_LLM_API_KEY", "sk-test")
    monkeypatch.setattr(settings, "explain_model", "openai:stub-model")
    monkeypatch.setattr(settings, "explain_base_url", "http://127.0.0.1:9/v1")
    first = Assistant().model()
    assert first is not None and Assistant().model() is first
    monkeypatch.setattr(settings, "explain_model", "openai:other-model")
    assert Assistant().model() is not first  # another setting, another model
    monkeypatch.setattr(settings, "explain_model", "offline")
    assert Assistant().model() is None


# --- HTML, escaped in one place --------------------------------------------------------------


def test_every_html_builder_escapes_what_users_wrote():
    from types import SimpleNamespace

    from cellsync.ui import html

    entry = make_entry(id=1, execution_count=3, status="error", code=XSS, summary=XSS, summary_model=XSS,
                       unverified_numbers=[XSS], error={"type": XSS, "message": XSS},
                       metrics=[{"name": XSS, "segment": XSS, "value": 1.0, "previous": None, "n": 3, "model": XSS}],
                       frames=[{"name": XSS, "rows_before": 10, "rows_after": 5, "rows_removed": 5}],
                       segments=[{"frame": XSS, "name": XSS, "segment": XSS, "rows_before": 4, "rows_after": 0,
                                  "rows_removed": 4, "removal_rate": 1.0, "overall_removal_rate": 0.5, "flagged": True}])
    thread = SimpleNamespace(anchor=XSS, status="open")
    message = SimpleNamespace(author=XSS, role="expert", created_at="2024-01-01T00:00:00", text=XSS)
    built = [
        html.header(XSS, XSS, False, [entry]), html.header("t", "p", False, [], problem=XSS),
        html.cell_head(entry), html.cell_more(XSS, XSS), html.cell_metrics(entry.metrics),
        html.card_title(XSS, 0, 1, XSS, XSS), html.rows_block("removed", [{XSS: XSS}], 5, XSS, "other"),
        html.thread(thread, [message], 1), html.segment_heading(XSS, XSS), html.metric_heading(XSS, XSS),
        html.export_heading(XSS, XSS, 1), html.export_cell(entry), html.error(XSS), html.muted(XSS),
        html.table([{XSS: XSS}]), *html.labels([XSS]), *html.titles([XSS]).values(),
    ]
    for text in built:
        assert "<img" not in text, text


# --- the package's shape ---------------------------------------------------------------------


def test_no_ui_module_or_class_is_too_long_to_read():
    """~400 lines a module, ~250 a class, unless its docstring says why."""
    for path in sorted((ROOT / "cellsync" / "ui").glob("*.py")):
        text = path.read_text()
        assert len(text.splitlines()) <= 400, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 250 or "long because" in (ast.get_docstring(node) or ""), f"{path.name}: {node.name}"


def test_the_old_entry_points_still_import():
    from cellsync.ui import (CONTENT_SECURITY_POLICY, badges, basic_auth_setting, distribution_chart, export,
                             first_line, render_markdown, serve)

    assert callable(serve) and callable(export) and callable(badges) and callable(basic_auth_setting)
    assert callable(distribution_chart) and callable(render_markdown) and "default-src 'self'" in CONTENT_SECURITY_POLICY
    assert first_line("# a comment\nx = 1") == "x = 1"


# --- the command line ------------------------------------------------------------------------


def test_serve_errors_are_one_line():
    from click.testing import CliRunner

    from cellsync.cli import main

    res = CliRunner().invoke(main, ["serve", "/nonexistent/store"])
    assert res.exit_code == 1 and res.output.strip() == "Error: no CellSync store at /nonexistent/store"


def test_non_local_address_needs_auth(demo_store):
    from click.testing import CliRunner

    from cellsync.cli import main

    res = CliRunner().invoke(main, ["serve", str(demo_store), "--address", "0.0.0.0"])
    assert res.exit_code == 1 and "without authentication" in res.output


"""Threads and messages in a real store: concurrency, order, odd text, the notebook API."""

import subprocess
import sys
import textwrap

import pytest

import cellsync
from cellsync import chat
from cellsync.errors import StoreReadOnly
from cellsync.store import Store, open_store
from cellsync.ui import render_markdown
from helpers import entries, recorded, run


@pytest.fixture
def store(store_dir):
    st = Store(store_dir)
    yield st
    st.close()


def test_threads_messages_status_and_order(store):
    t = chat.start_thread(store, "first", "ann", "expert")
    for i in range(5):
        chat.post(store, t.id, f"reply {i}", "bob", "data_scientist")
    assert [m.text for m in chat.messages(store, t.id)] == ["first"] + [f"reply {i}" for i in range(5)]
    chat.set_status(store, t.id, "resolved", "ann")
    assert chat.threads(store, status="open") == [] and chat.threads(store)[0].resolved_by == "ann"
    chat.post(store, t.id, "one more thing", "ann", "expert")  # a new message reopens it
    assert chat.threads(store, status="open")[0].id == t.id
    with pytest.raises(chat.ChatError, match="no thread"):
        chat.post(store, "nope", "x", "ann", "expert")
    with pytest.raises(chat.ChatError, match="needs some text"):
        chat.post(store, t.id, "   ", "ann", "expert")


def test_long_and_odd_text_is_stored_whole(store):
    long = ("Ünïcödé ✓ 中文 😀 \u200b\u202e RTL " * 5000)[:100_000]
    t = chat.start_thread(store, long, "ann", "expert")
    again = chat.messages(open_store(store.path), t.id)[0].text
    assert again == long and len(again) == 100_000
    with pytest.raises(chat.ChatError, match="at most 200,000"):
        chat.post(store, t.id, "x" * 200_001, "ann", "expert")


def test_markdown_is_rendered_without_raw_html():
    out = render_markdown("**bold** <script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))")
    assert "<strong>bold</strong>" in out
    assert "<script>" not in out and "<img" not in out and 'href="javascript' not in out
    assert "&lt;script&gt;" in out


def test_read_only_stores_refuse_writes(store):
    t = chat.start_thread(store, "hello", "ann", "expert")
    ro = open_store(store.path)
    with pytest.raises(StoreReadOnly):
        chat.post(ro, t.id, "sneaky", "eve", "expert")
    with pytest.raises(StoreReadOnly):
        chat.start_thread(ro, "sneaky", "eve", "expert")


STRESS = textwrap.dedent("""
    import sys, threading
    from cellsync import chat
    from cellsync.store import Store
    path, proc = sys.argv[1], sys.argv[2]
    def worker(k):
        st = Store(path)
        t = chat.start_thread(st, f"{proc}-{k} start", f"p{proc}", "expert")
        for i in range(250):
            chat.post(st, t.id, f"{proc}-{k} {i}", f"p{proc}", "expert")
        st.close()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
""")


def test_two_processes_four_threads_lose_nothing_and_keep_order(store_dir):
    Store(store_dir).close()
    procs = [subprocess.Popen([sys.executable, "-c", STRESS, str(store_dir), str(p)]) for p in range(2)]
    assert [p.wait(300) for p in procs] == [0, 0]
    st = open_store(store_dir)
    threads = chat.threads(st)
    assert len(threads) == 8
    total = 0
    for t in threads:
        texts = [m.text for m in chat.messages(st, t.id)]
        prefix = texts[0].removesuffix(" start")
        assert texts == [f"{prefix} start"] + [f"{prefix} {i}" for i in range(250)]
        total += len(texts)
    assert total == 8 * 251
    assert st.db.execute("select count(distinct id) from messages").fetchone()[0] == total


def test_the_notebook_api(shell, capsys, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "user_name", "dana")
    run(shell, "df = pd.DataFrame({'age': [85, 40, 70, None]})")
    run(shell, "df = df.dropna()")
    count = entries(recorded(shell))[-1]["execution_count"]
    tid = cellsync.comment("Did we lose old patients here?", cell=count, frame="df", column="age")
    table = cellsync.feedback()
    assert list(table["thread"]) == [tid] and table.loc[0, "about"] == f"cell {count}, frame df, column age"
    cellsync.reply(tid, "@assistant what did this cell do?")
    msgs = chat.messages(recorded(shell), tid)
    assert [m.role for m in msgs] == ["data_scientist", "data_scientist", "assistant"]
    assert msgs[0].author == "dana"
    assert f"[cell {count}]" in msgs[2].text and "Removed 1 of the 4 rows of the table df" in msgs[2].text
    cellsync.resolve(tid)
    assert cellsync.feedback().empty and cellsync.feedback(status=None).loc[0, "status"] == "resolved"
    cellsync.resolve(tid, reopen=True)
    assert len(cellsync.feedback()) == 1
    capsys.readouterr()
    assert cellsync.comment("about nothing", cell=999) is None
    assert "cellsync: no cell 999 has been recorded" in capsys.readouterr().err


def test_the_newest_messages_activity_and_the_overview(store):
    a = chat.start_thread(store, "first", "ann", "expert")
    for i in range(120):
        chat.post(store, a.id, f"m{i}", "bob" if i % 2 else "ann", "data_scientist" if i % 2 else "expert")
    chat.post(store, a.id, "@assistant noted", "assistant", "assistant")
    b = chat.start_thread(store, "second", "carl", "expert")
    everything = [m.text for m in chat.messages(store, a.id)]
    assert [m.text for m in chat.messages(store, a.id, last=50)] == everything[-50:]
    assert chat.messages(store, a.id, last=0) == []
    rowids = {r[0]: r[1] for r in store.db.execute("select thread_id, max(rowid) from messages group by thread_id")}
    assert chat.activity(store, [a.id, b.id, "nope"]) == {a.id: (122, rowids[a.id]), b.id: (1, rowids[b.id])}
    over = chat.overview(store)
    assert [o["thread"].id for o in over] == [b.id, a.id]  # newest activity first
    assert over[1]["n_messages"] == 122 and over[1]["last_text"] == "@assistant noted"
    # the assistant spoke last in a; the last person was bob, the data scientist (m119)
    assert over[1]["last_role"] == "assistant" and over[1]["last_person_role"] == "data_scientist"
    assert over[0]["last_person_role"] == "expert" and over[0]["thread"] == chat.threads(store, status="open")[0]
    chat.set_status(store, b.id, "resolved", "ann")
    assert [o["thread"].id for o in chat.overview(store)] == [a.id]
    assert {o["thread"].id for o in chat.overview(store, status=None)} == {a.id, b.id}


def test_the_signature_notices_a_resolve_and_a_reopen_between_two_looks(store):
    """What a page compares before reading the chat: resolving one thread and reopening
    another (same counts) must still change it."""
    a = chat.start_thread(store, "first", "ann", "expert")
    b = chat.start_thread(store, "second", "ann", "expert")
    chat.set_status(store, b.id, "resolved", "ann")
    before = chat.signature(store)
    chat.set_status(store, a.id, "resolved", "ann")
    chat.set_status(store, b.id, "open", "ann")
    assert chat.signature(store) != before
    assert chat.signature(store) == chat.signature(store)  # and is stable when nothing moves

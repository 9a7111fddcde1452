"""Part 8: chat: message round trips between browsers and the notebook, and a store with
10,000 messages.

A store of 40 cells over 5 frames of 20,000 rows, made by a real shell (bench/nbdriver.py),
served by `python -m cellsync.cli serve` in a subprocess; headless Debian chromium through
Playwright (as in bench/dashboard.py; requests not to 127.0.0.1 are aborted and counted).

(a) Round trips. Three browser sessions (three contexts) open the same cell. In turn, one of
    them types a message (`fill`) and clicks Comment (the first message: it starts the
    thread) or Send (a reply in it); timed from the start of the typing until the message
    (`.cs-message`) is visible in the other two sessions (and, apart, in the sender's own).
    Then the notebook side answers: `cellsync.reply(thread_id, text, store=path)` from this
    process (it opens the store for writing, posts, closes), timed from the call until the
    message is visible in all three sessions.
(b) 10,000 messages. Copies of the store (with no messages) get 10,000 messages written with
    `cellsync.chat.start_thread` / `chat.post` (one transaction each, as the API does):
      elsewhere   100 threads x 100 messages on other cells than the one clicked
      spread      1,000 threads x 10 messages over all 40 cells (the clicked cell has 25)
      one thread  one thread of 10,000 messages on the clicked cell
    For each, and for the store with no messages: a fresh page load (until the first
    timeline row) then a click on the cell (until its view's heading), several times; and in
    this process `Dashboard(store=...)` and `cell_view()` of that cell (the server's share).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser as bw
from common import RESULTS, log, part_main, stats, timed
from nbdriver import Driver


def target_cell(path: Path) -> tuple[int, str]:
    """A cell that filtered a frame (its view has removed rows and a histogram): (store id,
    execution count)."""
    import cellsync

    st = cellsync.open_store(path)
    try:
        for e in st.timeline():
            if "[" in e.code and "'f" in e.code and e.frames:
                return e.id, str(e.execution_count)
        e = st.timeline()[-1]
        return e.id, str(e.execution_count)
    finally:
        st.close()


def open_cell(browser, url: str, count: str) -> tuple[object, dict, dict]:
    page = browser.page()
    load = bw.load(page, url, browser=browser)
    page.wait_for_timeout(500)
    click = bw.click_row(page, count, browser=browser)
    return page, load, click


def round_trips(browser, url: str, count: str, path: Path, n_browser: int, n_notebook: int) -> dict:
    import cellsync
    from cellsync import chat

    pages = []
    for i in range(3):
        page, _, _ = open_cell(browser, url, count)
        page.locator("textarea[placeholder^='Comment on this cell']").first.wait_for(timeout=30_000)
        pages.append(page)
    log("chat: three sessions on the same cell")
    b2b = []
    for i in range(n_browser):
        sender = pages[i % 3]
        others = [p for p in pages if p is not sender]
        text = f"round trip {i} from session {i % 3}: is this filter right?"
        sender.wait_for_timeout(700)
        t0 = bw.now()
        if i == 0:
            sender.locator("textarea[placeholder^='Comment on this cell']").first.fill(text)
            t_typed = bw.now()
            sender.locator("button", has_text="Comment").first.click()
        else:
            sender.locator("textarea[placeholder='Reply']").first.fill(text)
            t_typed = bw.now()
            sender.locator("button", has_text="Send").first.click()
        t_clicked = bw.now()
        answer = None
        seen = []
        for p in others:
            p.locator(".cs-message", has_text=text).first.wait_for(timeout=30_000)
            seen.append(bw.now() - t0)
        sender.locator(".cs-message", has_text=text).first.wait_for(timeout=30_000)
        own = bw.now() - t0
        answer = browser.first_patch_after(sender, t_clicked, 3000)
        b2b.append({"typing_s": t_typed - t0, "click_s": t_clicked - t_typed, "others_s": seen,
                    "both_others_s": max(seen), "sender_sees_s": own,
                    "sender_server_answer_s": None if answer is None else answer + (t_clicked - t0)})
        log(f"chat: browser -> browsers {i + 1}/{n_browser}: {max(seen) * 1000:.0f} ms")
    st = cellsync.open_store(path)
    thread = chat.threads(st)[0].id
    st.close()
    n2b = []
    for i in range(n_notebook):
        text = f"notebook reply {i}: I will impute instead"
        pages[0].wait_for_timeout(700)
        t0 = bw.now()
        cellsync.reply(thread, text, store=str(path))
        t_call = bw.now() - t0
        seen = []
        for p in pages:
            p.locator(".cs-message", has_text=text).first.wait_for(timeout=30_000)
            seen.append(bw.now() - t0)
        n2b.append({"reply_call_s": t_call, "each_s": seen, "all_three_s": max(seen)})
        log(f"chat: notebook -> browsers {i + 1}/{n_notebook}: {max(seen) * 1000:.0f} ms")
    # the same with one session open: the three renderers and the server share this
    # machine's cores, so this separates the cost of one page from their contention
    for p in pages[1:]:
        p.context.close()
    n2one = []
    for i in range(n_notebook):
        text = f"notebook reply {i} to one session"
        pages[0].wait_for_timeout(700)
        t0 = bw.now()
        cellsync.reply(thread, text, store=str(path))
        pages[0].locator(".cs-message", has_text=text).first.wait_for(timeout=30_000)
        n2one.append(bw.now() - t0)
    log(f"chat: notebook -> one browser: median {sorted(n2one)[len(n2one) // 2] * 1000:.0f} ms")
    # where the receiving page's time goes: one more reply under Chrome's sampling profiler
    def one_more():
        t0 = bw.now()
        cellsync.reply(thread, "profiled reply", store=str(path))
        pages[0].locator(".cs-message", has_text="profiled reply").first.wait_for(timeout=30_000)
        return bw.now() - t0

    pages[0].wait_for_timeout(700)
    profiled = bw.js_profile(pages[0], one_more)
    pages[0].context.close()
    return {"browser_to_browsers": b2b, "notebook_to_browsers": n2b, "notebook_to_one_browser_s": n2one,
            "receiver_js_profile": profiled, "thread": thread}


def add_messages(path: Path, layout: str, n: int, target_id: int) -> dict:
    from cellsync import chat
    from cellsync.store import Store

    st = Store(path)
    t0 = time.perf_counter()
    try:
        cells = [r["id"] for r in st.db.query("select id from cells order by id")]
        others = [c for c in cells if c != target_id]
        if layout == "elsewhere":
            plan = [(others[i % len(others)], n // 100) for i in range(100)]
        elif layout == "spread":
            plan = [(cells[i % len(cells)], 10) for i in range(n // 10)]
        else:
            plan = [(target_id, n)]
        written = 0
        for t, (cell, size) in enumerate(plan):
            th = chat.start_thread(st, f"thread {t}: why did this cell drop these rows?", "ann", "expert", cell=cell)
            written += 1
            for m in range(size - 1):
                role = "data_scientist" if m % 2 == 0 else "expert"
                chat.post(st, th.id, f"message {m} in thread {t}: some **Markdown**, a number 0.{m}", "bob" if m % 2 == 0 else "ann",
                          role)
                written += 1
        on_target = sum(size for cell, size in plan if cell == target_id)
    finally:
        st.close()
    return {"layout": layout, "threads": len(plan), "messages": written, "on_clicked_cell": on_target,
            "threads_on_clicked_cell": sum(1 for cell, _ in plan if cell == target_id),
            "write_s": time.perf_counter() - t0}


def loads_and_clicks(browser, path: Path, count: str, n: int, timeout_ms: int) -> dict:
    server = bw.Server(path)
    out = {"server_start_s": server.start_s, "runs": []}
    try:
        for i in range(n):
            page = browser.page()
            try:
                load = bw.load(page, server.url, timeout_ms=timeout_ms, browser=browser)
                page.wait_for_timeout(500)
                click = bw.click_row(page, count, timeout_ms=timeout_ms, browser=browser)
                out["runs"].append({"load": load, "click": click})
            except Exception as exc:
                out["runs"].append({"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
                log(f"chat: {path.name}: {out['runs'][-1]['error']}")
                page.context.close()
                break
            page.context.close()
            time.sleep(1.0)
    finally:
        server.close()
    ok = [r for r in out["runs"] if "load" in r]
    out["load_first_row_s"] = stats([r["load"]["first_row_s"] for r in ok])
    out["click_heading_s"] = stats([r["click"]["heading_s"] for r in ok])
    out["click_server_answer_s"] = stats([r["click"]["server_answer_s"] for r in ok if r["click"].get("server_answer_s")])
    out["errors"] = [r["error"] for r in out["runs"] if "error" in r]
    return out


def server_side(path: Path, target_id: int, profile_to: Path | None) -> dict:
    import panel as pn

    pn.extension("tabulator", design="native")
    from cellsync.ui import Dashboard

    inits = []
    for _ in range(3):
        s, d = timed(lambda: Dashboard(store=str(path)))
        inits.append(s)
    entry = d.state.entry(target_id)
    views = [timed(lambda: d.cell_view(entry))[0] for _ in range(3)]
    # a new message while this page shows the cell: what its poll costs the server
    from cellsync import chat
    from cellsync.store import Store

    d.select_cell(target_id)
    d.poll()
    w = Store(path)
    try:
        ths = chat.threads(w, cell=target_id)
        if ths:
            chat.post(w, ths[0].id, "one more message", "bob", "data_scientist")
        else:
            chat.start_thread(w, "a first message", "ann", "expert", cell=target_id)
    finally:
        w.close()
    poll_s, _ = timed(d.poll)
    if profile_to is not None:
        prof = cProfile.Profile()
        prof.enable()
        d.cell_view(entry)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(35)
        profile_to.write_text(f"cell_view() of the clicked cell, {path.name}\n\n" + buf.getvalue())
    return {"dashboard_init_s": stats(inits), "cell_view_s": stats(views), "poll_after_new_message_s": poll_s}


def run(quick: bool = False) -> dict:
    n_cells, n_frames, rows = (12, 3, 2_000) if quick else (40, 5, 20_000)
    n_b2b, n_n2b, n_loads, n_msgs = (3, 3, 1, 300) if quick else (21, 20, 5, 10_000)
    tmp = Path(tempfile.mkdtemp(prefix="cellsync-bench-chat-"))
    base = tmp / "base"
    out: dict = {"sizes": {"cells": n_cells, "frames": n_frames, "rows": rows, "messages": n_msgs}}
    browser = None
    try:
        driver = Driver(base)
        try:
            log(f"chat: building the store ({n_cells} cells) in a shell")
            built = driver.call(cmd="build", cells=n_cells, frames=n_frames, rows=rows)
            out["build_s"] = built["seconds"]
        finally:
            driver.close()
        target_id, count = target_cell(base)
        out["clicked_cell"] = {"id": target_id, "execution_count": count}
        live = tmp / "live"
        shutil.copytree(base, live)
        browser = bw.Browser()
        server = bw.Server(live)
        try:
            out["round_trips"] = round_trips(browser, server.url, count, live, n_b2b, n_n2b)
        finally:
            server.close()
        variants = {}
        for layout in ("none", "elsewhere", "spread", "one thread"):
            path = tmp / layout.replace(" ", "_")
            shutil.copytree(base, path)
            info = {"layout": layout, "messages": 0}
            if layout != "none":
                log(f"chat: writing {n_msgs:,} messages ({layout})")
                info = add_messages(path, "one" if layout == "one thread" else layout, n_msgs, target_id)
            log(f"chat: page loads and clicks, messages: {layout}")
            one = layout == "one thread"
            info["browser"] = loads_and_clicks(browser, path, count, min(2, n_loads) if one else n_loads,
                                               300_000 if one else 60_000)
            prof = RESULTS / "chat_profile.txt" if layout == "one thread" and not quick else None
            info["server_side"] = server_side(path, target_id, prof)
            variants[layout] = info
            shutil.rmtree(path, ignore_errors=True)
        out["messages_10k"] = variants
        out["blocked_requests"] = browser.blocked
        out["page_errors"] = browser.page_errors[:20]
    finally:
        if browser is not None:
            browser.close()
        shutil.rmtree(tmp, ignore_errors=True)
    rt = out["round_trips"]
    out["summary"] = {
        "browser_to_both_others_s": stats([r["both_others_s"] for r in rt["browser_to_browsers"]]),
        "browser_to_each_other_s": stats([s for r in rt["browser_to_browsers"] for s in r["others_s"]]),
        "browser_sender_sees_s": stats([r["sender_sees_s"] for r in rt["browser_to_browsers"]]),
        "notebook_to_all_three_s": stats([r["all_three_s"] for r in rt["notebook_to_browsers"]]),
        "notebook_reply_call_s": stats([r["reply_call_s"] for r in rt["notebook_to_browsers"]]),
        "notebook_to_one_browser_s": stats(rt["notebook_to_one_browser_s"]),
        "sender_server_answer_s": stats([r["sender_server_answer_s"] for r in rt["browser_to_browsers"]
                                         if r["sender_server_answer_s"] is not None]),
    }
    return out


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

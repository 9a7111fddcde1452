"""Shared by the dashboard and chat parts: `cellsync serve` in a subprocess, headless Debian
chromium through Playwright (the launch arguments of tests/test_dashboard.py), and the few
page actions both parts time. Only 127.0.0.1 is ever contacted: every other request is
aborted and counted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = re.compile(r"^(https?://(127\.0\.0\.1|localhost)(:\d+)?/|blob:|data:|about:)")


class Server:
    """`python -m cellsync.cli serve STORE --port 0` (PYTHONPATH is inherited, so a --snapshot
    run serves the snapshot); `url` is what it printed."""

    def __init__(self, store: Path, *args: str):
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-m", "cellsync.cli", "serve", str(store), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"cellsync serve did not start: {line}{self.proc.stdout.read()}")
        self.url = m.group(1)
        self.start_s = time.perf_counter() - t0

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class Browser:
    def __init__(self):
        from playwright.sync_api import sync_playwright

        if not Path(CHROMIUM).exists():
            raise RuntimeError("Debian's chromium is not installed (apt-get install chromium)")
        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        self.blocked: list[str] = []
        self.page_errors: list[str] = []
        self.frames: dict[int, list[tuple[float, str, int]]] = {}  # id(page) -> websocket frames (time, dir, size)

    def page(self):
        ctx = self.browser.new_context(viewport={"width": 1400, "height": 1000})

        def route(r):
            if LOCAL.match(r.request.url):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("pageerror", lambda e: self.page_errors.append(str(e)[:200]))
        log = self.frames.setdefault(id(page), [])

        def on_ws(ws):
            # Bokeh's messages: when the server's answer reached the page (times are taken as
            # Playwright dispatches the events: within a few ms of their arrival)
            ws.on("framereceived", lambda f: log.append((now(), "recv", len(f))))
            ws.on("framesent", lambda f: log.append((now(), "sent", len(f))))

        page.on("websocket", on_ws)
        return page

    def first_patch_after(self, page, t0: float, min_bytes: int = 1000) -> float | None:
        """Seconds from t0 to the first websocket message of at least min_bytes received."""
        for t, kind, size in self.frames.get(id(page), []):
            if t >= t0 and kind == "recv" and size >= min_bytes:
                return t - t0
        return None

    def close(self) -> None:
        try:
            self.browser.close()
        finally:
            self._pw.stop()


def now() -> float:
    return time.monotonic()  # CLOCK_MONOTONIC: comparable with nbdriver's commit times


def load(page, url: str, timeout_ms: int = 60_000, browser: "Browser | None" = None) -> dict:
    """page.goto until the overview's flow is visible (the page opens on it, issue 14), then a
    click on the Timeline tab until its first row is visible."""
    t0 = now()
    response = page.goto(url, timeout=timeout_ms)
    t_load = now()
    page.locator("[data-testid=overview]").first.wait_for(state="visible", timeout=timeout_ms)
    t_overview = now()
    page.locator(".bk-tab", has_text="Timeline").first.click()
    t_click = now()
    page.locator(".tabulator-row").first.wait_for(state="visible", timeout=timeout_ms)
    t_row = now()
    out = {"load_event_s": t_load - t0, "overview_s": t_overview - t0, "timeline_tab_s": t_row - t_click,
           "first_row_s": t_row - t0}
    try:  # the HTML page: the server makes the session's Dashboard before it answers
        timing = response.request.timing
        out["html_first_byte_s"] = timing["responseStart"] / 1000.0
        out["html_done_s"] = timing["responseEnd"] / 1000.0
    except Exception:
        pass
    if browser is not None:
        out["first_big_ws_message_s"] = browser.first_patch_after(page, t0, 20_000)
    return out


def timeline(page):
    """The timeline table (the first Tabulator with a 'What happened' column)."""
    return page.locator(".tabulator", has_text="What happened").first


def paginated(page) -> bool:
    return timeline(page).locator(".tabulator-page[data-page='last']").count() > 0


def go_last_page(page) -> None:
    """The timeline is paginated (10 rows a page) and new cells are appended to the last page
    (which the page opens on, and follows while the reader is there)."""
    tl = timeline(page)
    last = tl.locator(".tabulator-page[data-page='last']")
    if paginated(page):
        if last.is_enabled():
            last.click()
    else:
        tl.locator(".tabulator-tableholder").evaluate("e => e.scrollTop = e.scrollHeight")
    page.wait_for_timeout(200)


def turn_to(page, row) -> None:
    """Page (or scroll) through the timeline from its start until `row` is drawn; the timeline
    opens on its newest cells. Not timed: a reader finds the row, then clicks."""
    if row.count():
        return
    tl = timeline(page)
    if not paginated(page):
        # one scrolling table drawn virtually (issue 14): scroll down from the top until drawn
        holder = tl.locator(".tabulator-tableholder").first
        holder.evaluate("e => e.scrollTop = 0")
        for _ in range(1000):
            page.wait_for_timeout(60)
            if row.count() or holder.evaluate(
                    "e => { const end = e.scrollTop + e.clientHeight >= e.scrollHeight - 2;"
                    " e.scrollTop += e.clientHeight * 0.8; return end; }"):
                return
        return
    first = tl.locator(".tabulator-page[data-page='first']")
    if first.count() and first.is_enabled():
        first.click()
        page.wait_for_timeout(150)
    for _ in range(1000):
        if row.count():
            return
        nxt = tl.locator(".tabulator-page[data-page='next']")
        if not nxt.count() or not nxt.is_enabled():
            return
        nxt.click()
        page.wait_for_timeout(100)


def rows_shown(page) -> list[tuple[str, str]]:
    """(execution count, first line) of the timeline rows in the DOM."""
    tl = timeline(page)
    counts = tl.locator(".tabulator-row .tabulator-cell[tabulator-field='#']").all_inner_texts()
    cells = tl.locator(".tabulator-row .tabulator-cell[tabulator-field='Cell']").all_inner_texts()
    return list(zip(counts, cells))


def click_row(page, count: str, timeout_ms: int = 60_000, browser: "Browser | None" = None) -> dict:
    """Click the timeline row of execution count `count`; time until its view's heading
    ('Cell N') and its first frame card ('..., cell N)') are visible."""
    tl = timeline(page)
    row = tl.locator(".tabulator-row").filter(
        has=page.locator(f".tabulator-cell[tabulator-field='#']", has_text=re.compile(rf"^{count}$"))).first
    turn_to(page, row)
    row.scroll_into_view_if_needed()
    t0 = now()
    row.click()
    t1 = now()
    page.locator("h3").filter(has_text=re.compile(rf"^Cell {count}( —.*)?$")).first.wait_for(timeout=timeout_ms)
    t2 = now()
    out = {"count": count, "click_call_s": t1 - t0, "heading_s": t2 - t0}
    if browser is not None:
        out["server_answer_s"] = browser.first_patch_after(page, t0)
    card = page.get_by_text(re.compile(rf"version \d+ of \d+ \(\w+, cell {count}\)"))
    try:
        card.first.wait_for(timeout=timeout_ms)
        out["frame_card_s"] = now() - t0
    except Exception:
        out["frame_card_s"] = None
    return out


def js_profile(page, action) -> dict:
    """Run action() under Chrome's sampling profiler (CDP, 200 us); the renderer's main-thread
    time by script / native category (self time, ms)."""
    import collections

    cdp = page.context.new_cdp_session(page)
    cdp.send("Profiler.enable")
    cdp.send("Profiler.setSamplingInterval", {"interval": 200})
    cdp.send("Profiler.start")
    result = action()
    prof = cdp.send("Profiler.stop")["profile"]
    cdp.detach()
    nodes = {n["id"]: n for n in prof["nodes"]}
    by_src: collections.Counter = collections.Counter()
    for sid, dt in zip(prof["samples"], prof["timeDeltas"]):
        cf = nodes[sid]["callFrame"]
        src = cf["url"].split("/")[-1].split("?")[0]
        by_src[src or cf["functionName"] or "?"] += dt / 1000.0
    total = sum(by_src.values())
    return {"result": result, "total_ms": total, "idle_ms": by_src.get("(idle)", 0.0),
            "busy_ms": total - by_src.get("(idle)", 0.0), "by_source_ms": dict(by_src.most_common(12))}

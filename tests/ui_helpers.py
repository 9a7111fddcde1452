"""What the dashboard's tests share: the replayed demo store, a real `cellsync serve`, and
headless Chromium (Debian's, driven by Playwright) with pages that record every request and
every JavaScript dialog."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = re.compile(r"^(https?://(127\.0\.0\.1|localhost)(:\d+)?/|blob:|data:|about:|file://)")


def need_chromium() -> None:
    """Skip a browser test where Chromium is missing (never in CI: there it is an error)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("chromium is not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


@contextlib.contextmanager
def chromium():
    """Headless Debian chromium through Playwright (skipped where it is missing)."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


def demo_store(tmp_path_factory) -> Path:
    """The bundled demo notebook replayed into a store, once per test session (every module
    that asks gets the same store; tests that write copy it first)."""
    from cellsync.replay import replay_notebook

    store = tmp_path_factory.getbasetemp() / "demo-store"
    if not (store / "cellsync.db").exists():
        replay_notebook(ROOT / "notebooks" / "demo.ipynb", store)
    return store


def start_server(store, *args, env=None):
    """`cellsync serve STORE --port 0 ARGS` in a subprocess; (process, url) once it listens."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cellsync.cli", "serve", str(store), "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    line = proc.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"cellsync serve did not start: {line}{proc.stdout.read()}")
    return proc, m.group(1)


class Page:
    """A page that records every request and every JavaScript dialog (an XSS would open one)."""

    def __init__(self, browser, url=None, **ctx):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, **ctx)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        if url:
            self.page.goto(url)
            open_timeline(self.page)

    def external(self):
        return [u for u in self.requests if not LOCAL.match(u)]

    def shot(self, name):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def row(self, text, timeout=10_000):
        """The timeline row holding `text`, on whichever page it is."""
        return find_row(self.page, text, timeout)

    def tab(self, name):
        self.page.locator(".bk-tab", has_text=name).click()
        self.page.wait_for_timeout(300)

    def close(self):
        self.context.close()


def open_timeline(page, timeout=30_000):
    """The dashboard opens on the overview (issue 14): the timeline is the second tab. Works on
    a Playwright page or frame (the sidecar)."""
    page.locator(".bk-tab", has_text="Timeline").first.click(timeout=timeout)
    # the table, not a row: a sidecar may open before the notebook has run a cell
    page.locator(".tabulator").first.wait_for(timeout=timeout)
    # and settled on its newest cells (keys.py): until then the page scrolls the table itself,
    # and a scroll that is not a reader's wheel, key or pointer is taken for the page's own
    page.locator(".tabulator[data-cs-opened]").first.wait_for(state="attached", timeout=timeout)


def scroll_like_a_reader(page, holder, to) -> None:
    """Scroll the timeline with the mouse wheel over it, as a reader does, to "top", "middle" or
    a pixel offset. keys.py tells a reader's scroll from the page's own (opening on the newest
    cells, redrawing) by the wheel, key or pointer behind it: a scroll set from a script while
    the page redraws is taken for the page's own."""
    holder.hover()
    for _ in range(30):
        now, height, client = holder.evaluate("e => [e.scrollTop, e.scrollHeight, e.clientHeight]")
        goal = 0 if to == "top" else (height - client) / 2 if to == "middle" else min(to, height - client)
        if abs(now - goal) < 5:
            return
        page.mouse.wheel(0, goal - now)
        page.wait_for_timeout(100)
    raise AssertionError(f"the table did not scroll to {to}")


def find_row(page, text, timeout=10_000, selector=".tabulator-row"):
    """The timeline row (or section header, `selector=".tabulator-group"`) holding `text`. The
    timeline scrolls and draws only the rows in view (it opens on the newest cells): others
    are found by scrolling down from the top."""
    table = page.locator(".tabulator", has_text="What happened").first
    table.locator(".tabulator-row").first.wait_for(timeout=timeout)
    row = table.locator(selector, has_text=text).first
    if row.count():
        return row
    holder = table.locator(".tabulator-tableholder").first
    # a page that just opened is still being scrolled to its newest cells (keys.py)
    table.and_(page.locator("[data-cs-opened]")).wait_for(state="attached", timeout=timeout)
    scroll_like_a_reader(page, holder, "top")
    for _ in range(200):
        page.wait_for_timeout(80)
        if row.count():
            return row
        done = holder.evaluate("e => { const end = e.scrollTop + e.clientHeight >= e.scrollHeight - 2;"
                               " e.scrollTop += e.clientHeight * 0.8; return end; }")
        if done:
            break
    row.wait_for(timeout=timeout)
    return row

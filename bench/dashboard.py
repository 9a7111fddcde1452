"""Part 7: the dashboard in a browser, over a store of 300 cells and 20 frames.

The store is made by a real InteractiveShell with CellSync loaded (bench/nbdriver.py, in its
own process, as a kernel is): 20 mixed frames of 50,000 x 20 (bench/data.py), then 280 cells
that filter, rewrite, add a column, sort, edit in place or drop columns, round-robin over
the frames, each recorded (versions, profiles, diffs, segment impacts, offline summary)
before the next runs. Then `python -m cellsync.cli serve STORE --port 0` in a subprocess and
headless Debian chromium through Playwright (the launch arguments of tests/test_dashboard.py;
every request not to 127.0.0.1 is aborted and counted):

(a) page interactive: `page.goto(url)` until the overview (the landing tab) is visible, then
    a click on the Timeline tab until its first `.tabulator-row` is visible, in a fresh
    browser context each time (the first load after the server started is reported apart);
(b) a click on a timeline row until that cell's view shows its heading "Cell N" (and its
    first frame card), on ~10 rows spread over the timeline's pages;
(c) a new cell: the page on the timeline's last page, the shell runs one more cell; from the
    commit of the cell's store transaction (nbdriver notes time.monotonic() when
    Store.write_cell returns; the same clock here) until its row is in the page.
Then, in this process, the server-side work behind those numbers: `Dashboard(store=...)`
(what every new page costs the server), `cell_view(entry)` (a click), `_refresh()` (what every
open page does when a cell arrives), and a cProfile of the first two
(bench/results/dashboard_profile.txt).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser as bw
from common import RESULTS, log, part_main, stats, timed
from nbdriver import Driver


def store_facts(path: Path) -> dict:
    import cellsync

    st = cellsync.open_store(path)
    try:
        s = st.summary()
        tl = st.timeline()
        return {
            "cells": s["cells"], "versions": s["versions"], "frames": s["frames"], "size_bytes": s["size_bytes"],
            "cells_with_versions": sum(1 for e in tl if e.frames),
            "cells_with_summary": sum(1 for e in tl if e.summary),
            "impacts": len(st.impacts()), "flagged": sum(1 for i in st.impacts() if i["flagged"]),
            "segments": len(st.segments()),
            "problems": st.problems(),
        }
    finally:
        st.close()


def wait_header(page, n_cells: int, timeout_ms: int = 30_000) -> None:
    page.locator(f"text=/· {n_cells:,} cells ·/").first.wait_for(timeout=timeout_ms)


def clicks(page, n: int, browser) -> list[dict]:
    """One row per timeline page (the last n pages, from the last, where the page opens), a
    different position on each page."""
    out = []
    for i in range(n):
        prev = bw.timeline(page).locator(".tabulator-page[data-page='prev']")
        if i and bw.paginated(page) and prev.is_enabled():
            prev.click()
            page.wait_for_timeout(300)
        rows = bw.rows_shown(page)
        count, code = rows[(3 * i + 1) % len(rows)]
        page.wait_for_timeout(700)  # at a human pace: the previous view has finished drawing
        r = bw.click_row(page, count, browser=browser)
        r["code"] = code
        out.append(r)
        log(f"dashboard: click on cell {count}: heading {r['heading_s'] * 1000:.0f} ms")
    return out


def appends(page, driver: Driver, n_cells: int, n_frames: int, batches: int, per_batch: int) -> tuple[list[dict], int]:
    """Cells appended while the page shows the end of the timeline. Timed from the commit of
    the cell's transaction to (1) the header's cell count changing (the server has pushed the
    refresh) and (2) the new row being in the page. The timeline is paginated and follows new
    cells to a new last page while the reader is on the last page: each batch first appends
    one untimed cell and goes to the last page (the clicks left the page elsewhere). If the
    row is not there 2 s after the header changed, the test turns to the last page itself and
    the latency is not counted (noted as needing navigation)."""
    out = []
    k = 0
    for b in range(batches):
        f = b % n_frames
        driver.call(cmd="run", code=f"df{f} = df{f}[df{f}['f9'] > 0.000{b + 1}]")
        n_cells += 1
        wait_header(page, n_cells)
        bw.go_last_page(page)
        for _ in range(per_batch):
            k += 1
            f = k % n_frames
            code = f"df{f} = df{f}[df{f}['f9'] > {k} / 100000]"
            page.wait_for_timeout(700)
            t_sent = bw.now()
            driver.send(cmd="run", code=code)
            header = row = None
            navigated = False
            try:
                wait_header(page, n_cells + 1)
                header = bw.now()
                loc = bw.timeline(page).locator(".tabulator-row", has_text=code).first
                try:
                    loc.wait_for(timeout=2_000)
                except Exception:
                    navigated = True
                    bw.go_last_page(page)
                    loc.wait_for(timeout=10_000)
                row = bw.now()
            except Exception as exc:
                log(f"dashboard: new cell not seen: {type(exc).__name__}")
            r = driver.read()
            n_cells += 1
            commit = r["commit_monotonic"]
            out.append({
                "code": code,
                "commit_to_header_s": None if header is None or commit is None else header - commit,
                "commit_to_row_s": None if row is None or commit is None or navigated else row - commit,
                "row_needed_navigation": navigated,
                "cell_to_commit_s": None if commit is None else commit - r["started_monotonic"],
                "waiting_before_commit": commit is not None and t_sent < commit,
                "worker_job_s": r["worker_job_s"],
            })
            lat = out[-1]["commit_to_row_s"]
            log(f"dashboard: new cell {k}: commit -> row {'n/a' if lat is None else f'{lat * 1000:.0f} ms'}"
                f"{' (after scrolling)' if navigated else ''}")
    return out, n_cells


def server_side(path: Path, click_counts: list[str], quick: bool) -> dict:
    """The Python work behind a page load, a click and a live update, in this process."""
    import panel as pn

    pn.extension("tabulator", design="native")
    import cellsync
    from cellsync.ui import Dashboard

    st = cellsync.open_store(path)
    out = {
        "store_timeline_s": stats([timed(st.timeline)[0] for _ in range(3)]),
        "store_versions_all_profiles_s": stats([timed(st.versions)[0] for _ in range(3)]),
        "store_versions_no_profiles_s": stats([timed(lambda: st.versions(profiles=False))[0] for _ in range(3)]),
    }
    st.close()
    made = []
    for _ in range(3):
        s, d = timed(lambda: Dashboard(store=str(path)))
        made.append(s)
    out["dashboard_init_s"] = stats(made)
    frame = d.segments.frame
    out["segments_tab"] = {"frame": frame, "segment": d.segments.current(),
                           "snapgrid_s": stats([timed(lambda: d.state.store.snapgrid(frame, d.segments.current()))[0]
                                                for _ in range(3)])}
    by_count = {str(e.execution_count): e for e in d.state.entries}
    views = []
    for c in click_counts:
        e = by_count.get(c)
        if e is not None:
            views.append(timed(lambda: d.cell_view(e))[0])
    out["cell_view_s"] = stats(views)
    out["refresh_s"] = stats([timed(d.refresh)[0] for _ in range(3)])
    out["overview_refresh_s"] = stats([timed(d.overview.refresh)[0] for _ in range(3)])  # the landing tab's work
    if not quick:
        text = []
        for label, fn in (("Dashboard(store=...)", lambda: Dashboard(store=str(path))),
                          (f"cell_view(cell {click_counts[len(click_counts) // 2]})",
                           lambda: d.cell_view(by_count[click_counts[len(click_counts) // 2]])),
                          ("refresh() (a new cell arrived)", d.refresh)):
            prof = cProfile.Profile()
            prof.enable()
            fn()
            prof.disable()
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(40)
            text.append(f"=== {label} ===\n{buf.getvalue()}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "dashboard_profile.txt").write_text("\n\n".join(text))
        out["cprofile_file"] = str(RESULTS / "dashboard_profile.txt")
    return out


def run(quick: bool = False) -> dict:
    n_cells, n_frames, rows = (40, 5, 5_000) if quick else (300, 20, 50_000)
    n_loads, n_clicks, batches, per_batch = (3, 4, 1, 4) if quick else (10, 10, 2, 9)
    tmp = Path(tempfile.mkdtemp(prefix="cellsync-bench-dashboard-"))
    store = tmp / "store"
    out: dict = {"sizes": {"cells": n_cells, "frames": n_frames, "rows": rows}}
    driver = Driver(store)
    server = browser = None
    try:
        log(f"dashboard: building the store ({n_cells} cells, {n_frames} frames of {rows:,} rows) in a shell")
        built = driver.call(cmd="build", cells=n_cells, frames=n_frames, rows=rows)
        out["build"] = {"seconds": built["seconds"], "worker_job_s": stats(built["worker_job_s"]),
                        "problems": built["problems"]}
        out["store"] = store_facts(store)
        log(f"dashboard: store {out['store']['cells']} cells, {out['store']['versions']} versions; serving it")
        server = bw.Server(store)
        out["server_start_s"] = server.start_s
        browser = bw.Browser()
        page = browser.page()
        out["first_load"] = bw.load(page, server.url, browser=browser)
        out["paginated"] = bw.paginated(page)
        out["rows_per_page"] = len(bw.rows_shown(page))
        log(f"dashboard: first page load {out['first_load']['overview_s']:.2f} s to the overview, "
            f"{out['first_load']['first_row_s']:.2f} s to the first timeline row")
        page.wait_for_timeout(2000)
        out["clicks"] = clicks(page, n_clicks, browser)
        # one more click under Chrome's sampling profiler: where the browser's time goes
        rows = bw.rows_shown(page)
        target = rows[len(rows) // 2][0]
        page.wait_for_timeout(700)
        out["click_js_profile"] = bw.js_profile(page, lambda: bw.click_row(page, target, browser=browser))
        log("dashboard: new cells while the page is open")
        out["appends"], n_now = appends(page, driver, out["store"]["cells"], n_frames, batches, per_batch)
        page.context.close()
        loads = []
        for i in range(n_loads):
            p = browser.page()
            loads.append(bw.load(p, server.url, browser=browser))
            log(f"dashboard: page load {i + 1}/{n_loads}: overview {loads[-1]['overview_s']:.2f} s, "
                f"first row {loads[-1]['first_row_s']:.2f} s")
            p.context.close()
            time.sleep(1.0)
        out["loads"] = loads
        out["blocked_requests"] = browser.blocked
        out["page_errors"] = browser.page_errors
    finally:
        if browser is not None:
            browser.close()
        if server is not None:
            server.close()
        driver.close()
    out["summary"] = {
        "first_load_first_row_s": out["first_load"]["first_row_s"],
        "first_load_overview_s": out["first_load"]["overview_s"],
        "load_overview_s": stats([r["overview_s"] for r in out["loads"]]),
        "timeline_tab_s": stats([r["timeline_tab_s"] for r in out["loads"]]),
        "load_first_row_s": stats([r["first_row_s"] for r in out["loads"]]),
        "load_event_s": stats([r["load_event_s"] for r in out["loads"]]),
        "load_html_first_byte_s": stats([r["html_first_byte_s"] for r in out["loads"] if r.get("html_first_byte_s") is not None]),
        "load_first_big_ws_message_s": stats([r["first_big_ws_message_s"] for r in out["loads"]
                                              if r.get("first_big_ws_message_s") is not None]),
        "click_heading_s": stats([r["heading_s"] for r in out["clicks"]]),
        "click_server_answer_s": stats([r["server_answer_s"] for r in out["clicks"] if r.get("server_answer_s") is not None]),
        "click_frame_card_s": stats([r["frame_card_s"] for r in out["clicks"] if r["frame_card_s"] is not None]),
        "new_cell_commit_to_row_s": stats([r["commit_to_row_s"] for r in out["appends"] if r["commit_to_row_s"] is not None]),
        "new_cell_commit_to_header_s": stats([r["commit_to_header_s"] for r in out["appends"] if r["commit_to_header_s"] is not None]),
        "new_cells_needing_navigation": sum(1 for r in out["appends"] if r["row_needed_navigation"]),
        "new_cells_not_seen": sum(1 for r in out["appends"] if r["commit_to_header_s"] is None),
        "new_cell_worker_job_s": stats([r["worker_job_s"] for r in out["appends"]]),
    }
    log("dashboard: server-side work, in this process")
    out["server_side"] = server_side(store, [r["count"] for r in out["clicks"]], quick)
    out["store_after"] = {"cells": n_now}
    shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

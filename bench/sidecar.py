"""Part 9: the sidecar in a real JupyterLab: how soon after a cell finishes its row is in the
CellSync panel beside the notebook.

`python -m jupyterlab` on 127.0.0.1 (kernels record to a temporary store), headless Debian
chromium through Playwright, a notebook whose first cell is `%load_ext cellsync` and whose
next cells build a 200,000 x 12 frame and then filter or rewrite it. The cells are run one at
a time (Shift+Enter, a human pace in between). For each: from the moment its execution count
appears in the notebook (the kernel has finished the cell) until its row (its code) is in the
sidecar's timeline. The cell's own run time is not part of it; CellSync's worker (profile,
diff, persist), the store commit, the sidecar's poll and the browser's rendering are.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import browser as bw
from common import log, part_main, stats

from cellsync.beside import wait_for_port

TOKEN = "cellsync-bench"


def cells(n: int, rows: int) -> list[str]:
    setup = ("import numpy as np, pandas as pd\nrng = np.random.default_rng(0)\n"
             f"df = pd.DataFrame(rng.normal(50, 10, ({rows}, 10)), columns=[f'x{{i}}' for i in range(10)])\n"
             "df['g'] = rng.choice(list('abcd'), len(df))\ndf['k'] = np.arange(len(df))")
    out = ["%load_ext cellsync", setup]
    for i in range(n):
        out.append(f"df = df[df['x{i % 10}'] > {20 + i % 5}]" if i % 2 == 0 else f"df['x{(i + 3) % 10}'] = df['x{(i + 3) % 10}'] * 1.01")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(quick: bool = False) -> dict:
    import nbformat

    n, rows = (4, 20_000) if quick else (16, 200_000)
    root = Path(tempfile.mkdtemp(prefix="cellsync-bench-sidecar-"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    codes = cells(n, rows)
    nb.cells = [nbformat.v4.new_code_cell(c) for c in codes]
    nbformat.write(nb, root / "bench.ipynb")
    settings = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    overrides = settings / "overrides.json"
    if not overrides.exists():  # no news pop-up over the page
        overrides.write_text(json.dumps({"@jupyterlab/apputils-extension:notification":
                                         {"fetchNews": "false", "checkForUpdates": False}}))
    port = free_port()
    env = {**os.environ, "CELLSYNC_STORE": str(root / "store")}
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1", "--port", str(port),
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    browser = None
    out: dict = {"sizes": {"cells": n, "rows": rows}}
    try:
        wait_for_port(port, timeout=90)
        browser = bw.Browser()
        page = browser.page()
        page.set_viewport_size({"width": 1600, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/lab/workspaces/bench/tree/bench.ipynb?token={TOKEN}&reset", timeout=90_000)
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        page.wait_for_timeout(1000)
        prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt")
        page.locator(".jp-Notebook .jp-CodeCell").first.click()
        t0 = bw.now()
        page.keyboard.press("Shift+Enter")
        side = None
        while side is None and bw.now() - t0 < 60:
            side = next((f for f in page.frames if "compact=1" in f.url), None)
            page.wait_for_timeout(100)
        if side is None:
            raise RuntimeError("the sidecar did not appear")
        # the sidecar opens on the overview (issue 14); the cells are followed on its timeline
        side.locator("[data-testid=overview]").first.wait_for(timeout=60_000)
        side.locator(".bk-tab", has_text="Timeline").first.click()
        side.locator(".tabulator").first.wait_for(timeout=60_000)
        out["load_to_sidecar_rows_s"] = bw.now() - t0
        log(f"sidecar: %load_ext to the sidecar's timeline {out['load_to_sidecar_rows_s']:.2f} s")
        results = []
        for i, code in enumerate(codes[1:], start=2):
            page.wait_for_timeout(700)
            page.keyboard.press("Shift+Enter")
            prompt = prompts.nth(i - 1)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not re.search(r"\[\d+\]", prompt.inner_text()):
                page.wait_for_timeout(5)
            finished = bw.now()
            first_line = code.splitlines()[0]  # what the timeline shows of a cell
            side.locator(".tabulator-row", has_text=first_line[:40]).first.wait_for(timeout=30_000)
            seen = bw.now()
            results.append({"cell": i, "code": first_line, "finished_to_sidecar_s": seen - finished})
            log(f"sidecar: cell {i}: finished -> in the sidecar {1000 * (seen - finished):.0f} ms")
        out["cells"] = results
        out["blocked_requests"] = browser.blocked
        out["page_errors"] = browser.page_errors
    finally:
        if browser is not None:
            browser.close()
        lab.terminate()
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            lab.kill()
        shutil.rmtree(root, ignore_errors=True)
    timed_cells = [r["finished_to_sidecar_s"] for r in out["cells"][1:]]  # the frame-building cell apart
    out["summary"] = {"finished_to_sidecar_s": stats(timed_cells),
                      "build_cell_finished_to_sidecar_s": out["cells"][0]["finished_to_sidecar_s"]}
    return out


if __name__ == "__main__":
    part_main(run, __doc__.splitlines()[0])

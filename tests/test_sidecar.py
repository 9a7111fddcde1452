"""A real JupyterLab, driven by Chromium: `%load_ext cellsync` opens the dashboard beside the
notebook, it follows the cells (one by one and with Run All), needs no internet, keeps the
saved notebook small, and carries a conversation with an expert."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

import cellsync
from cellsync import chat
from cellsync.beside import wait_for_port

from ui_helpers import CHROMIUM, LAUNCH_ARGS, LOCAL, need_chromium, open_timeline, start_server

TOKEN = "cellsync-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    write_notebook(root / "analysis.ipynb", "%load_ext cellsync",
                   "import pandas as pd\ndf = pd.DataFrame({'a': range(10), 'g': list('ab') * 5})", "df = df[df.a > 3]")
    # no news pop-up over the page (recipes)
    settings = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
    yield from jupyter_server("jupyterlab", root)


def jupyter_server(module: str, root: Path):
    """`python -m jupyterlab` or `python -m notebook` on 127.0.0.1, its kernels recording to
    root/store; yields (base url, root) once the port answers."""
    port = free_port()
    env = {**os.environ, "CELLSYNC_STORE": str(root / "store")}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--no-browser", "--allow-root", "--ip", "127.0.0.1", "--port", str(port),
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    wait_for_port(port, timeout=60)
    yield f"http://127.0.0.1:{port}", root
    proc.terminate()
    proc.wait(20)


def sidecar_frame(page, timeout=45, not_url=None):
    """The sidecar's dashboard frame (after a restart: the new kernel's, not the old one's)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in page.frames:
            if "compact=1" in f.url and f.url != not_url:
                return f
        page.wait_for_timeout(200)
    page.screenshot(path=str(Path(__file__).parent / "artifacts" / "sidecar-missing.png"))
    raise AssertionError(f"no CellSync sidecar frame appeared; frames: {[f.url for f in page.frames]}")


@pytest.mark.browser
@pytest.mark.kernel
def test_sidecar_follows_the_notebook(lab):
    need_chromium()
    from playwright.sync_api import sync_playwright

    base, root = lab
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        page = b.new_page(viewport={"width": 1600, "height": 1000})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{base}/lab/workspaces/w1/tree/analysis.ipynb?token={TOKEN}&reset")
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
        page.wait_for_timeout(1000)
        # Run All from the menu: what a user does, and no keypress lost to a page still settling
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        side = sidecar_frame(page)
        side.locator("[data-testid=overview]").first.wait_for(timeout=60_000)  # it opens on the overview
        open_timeline(side)
        row = side.locator(".tabulator-row", has_text="Removed 4 of the 10 rows")
        row.first.wait_for(timeout=20_000)
        page.screenshot(path=str(Path(__file__).parent / "artifacts" / "sidecar.png"))
        # clicking a cell in the sidecar selects that cell in the notebook
        side.locator(".tabulator-row", has_text="import pandas").first.click()
        active = page.locator(".jp-Notebook .jp-Cell.jp-mod-active .jp-InputPrompt")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and active.count() and active.first.inner_text().strip() != "[2]:":
            page.wait_for_timeout(200)
        assert active.first.inner_text().strip() == "[2]:"
        # an expert writes on the filtering cell, from a second browser on `cellsync serve`
        server, url = start_server(root / "store")
        try:
            expert = b.new_page(viewport={"width": 1400, "height": 1000})
            expert.on("request", lambda r: requests.append(r.url))
            expert.goto(url)
            open_timeline(expert)
            expert.locator(".tabulator-row", has_text="df = df[df.a > 3]").first.click()
            expert.locator("textarea[placeholder^='Comment on this cell']").fill("Why drop the first four rows?")
            expert.get_by_role("button", name="Comment", exact=True).click()
            side.locator(".tabulator-row", has_text="1 open comment").first.wait_for(timeout=10_000)
            thread = chat.threads(cellsync.open_store(root / "store"))[0]
            assert chat.messages(cellsync.open_store(root / "store"), thread.id)[0].role == "expert"
        finally:
            server.terminate()
            server.wait(10)
        # ... and the data scientist answers from the sidecar
        row.first.click()
        side.locator(".cs-message", has_text="Why drop the first four rows?").first.wait_for(timeout=10_000)
        side.locator("textarea[placeholder='Reply']").first.fill("They are the warm-up runs.")
        side.locator("button", has_text="Send").first.click()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            msgs = chat.messages(cellsync.open_store(root / "store"), thread.id)
            if len(msgs) == 2:
                break
            time.sleep(0.2)
        assert [(m.role, m.text) for m in msgs][-1] == ("data_scientist", "They are the warm-up runs.")
        # Run All after a restart: no BokehJS race, the sidecar comes back and follows
        page.locator(".lm-MenuBar-itemLabel", has_text="Kernel").click()
        page.locator(".lm-Menu-itemLabel", has_text="Restart Kernel and Run All Cells").click()
        page.locator(".jp-Dialog-button", has_text="Restart").click()
        page.wait_for_timeout(3000)
        side = sidecar_frame(page, not_url=side.url)
        open_timeline(side)
        side.locator(".tabulator-row", has_text="Removed 4 of the 10 rows").first.wait_for(timeout=20_000)
        # the saved notebook stays small: a widget reference, not Panel's scripts
        page.keyboard.press("Control+s")
        page.wait_for_timeout(1500)
        size = (root / "analysis.ipynb").stat().st_size
        assert size < 50_000, size
        external = [u for u in requests if not LOCAL.match(u)]
        assert external == [], external[:5]
        b.close()


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    """Notebook 7 (the `notebook` package): a Jupyter frontend without JupyterLab's layout."""
    pytest.importorskip("notebook")
    root = tmp_path_factory.mktemp("nb7")
    write_notebook(root / "analysis.ipynb", "%load_ext cellsync",
                   "import pandas as pd\ndf = pd.DataFrame({'a': range(10)})", "df = df[df.a > 3]")
    yield from jupyter_server("notebook", root)


@pytest.mark.browser
@pytest.mark.kernel
def test_notebook_7_gets_one_line_with_a_working_address(notebook7):
    """Whatever Notebook 7 does with the side panel, the notebook says in one line where the
    dashboard is, that address shows this notebook's cells, and no traceback appears."""
    need_chromium()
    import re

    from playwright.sync_api import sync_playwright

    base, root = notebook7
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        page = b.new_page(viewport={"width": 1600, "height": 1000})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{base}/notebooks/analysis.ipynb?token={TOKEN}")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=90_000)
        page.wait_for_timeout(3000)  # the kernel starts
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        line = page.locator(".jp-OutputArea-output", has_text="CellSync: the dashboard").first
        line.wait_for(timeout=60_000)
        text = line.inner_text()
        url = re.search(r"http://127\.0\.0\.1:\d+/", text).group(0)
        page.locator(".jp-InputPrompt", has_text="[3]").first.wait_for(timeout=30_000)
        page.screenshot(path=str(Path(__file__).parent / "artifacts" / "notebook7.png"))
        outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
        assert "Traceback" not in outputs and "Error" not in outputs, outputs[:500]
        assert_dashboard_shows_the_filter(b, url, requests)
        b.close()


def assert_dashboard_shows_the_filter(browser, url: str, requests: list[str]) -> None:
    """The printed address shows this notebook's filter (`df = df[df.a > 3]`: 4 of 10 rows
    removed), and neither it nor anything before it in `requests` left 127.0.0.1."""
    dash = browser.new_page(viewport={"width": 1400, "height": 1000})
    dash.on("request", lambda r: requests.append(r.url))
    dash.goto(url)
    open_timeline(dash)
    dash.locator(".tabulator-row", has_text="Removed 4 of the 10 rows").first.wait_for(timeout=20_000)
    external = [u for u in requests if not LOCAL.match(u)]
    assert external == [], external[:5]


@pytest.mark.browser
@pytest.mark.kernel
def test_voila_shows_one_line_and_the_address_works(tmp_path):
    """Voila runs the notebook and shows its outputs (no side area, no code): loading prints
    one line, cellsync.sidecar() prints the address, the address shows this notebook's
    cells, and nothing on the page is a traceback."""
    need_chromium()
    import re

    pytest.importorskip("voila")
    from playwright.sync_api import sync_playwright

    write_notebook(tmp_path / "report.ipynb", "%load_ext cellsync", "import pandas as pd\ndf = pd.DataFrame({'a': range(10)})",
                   "df = df[df.a > 3]", "import cellsync\nurl = cellsync.sidecar()")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "report.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "CELLSYNC_STORE": str(tmp_path / "store")},
    )
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            deadline = time.monotonic() + 60
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=90_000)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            line = page.get_by_text(re.compile(r"CellSync: the dashboard is at http://127\.0\.0\.1:\d+/")).first
            line.wait_for(timeout=90_000)
            url = re.search(r"http://127\.0\.0\.1:\d+/", line.inner_text()).group(0)
            body = page.locator("body").inner_text()
            assert body.count("CellSync: recording to ") == 1 and "Traceback" not in body
            page.screenshot(path=str(Path(__file__).parent / "artifacts" / "voila.png"))
            # (Voila's own page asks a CDN for Font Awesome: Voila's doing, not ours; the
            # dashboard's page must not reach out)
            assert_dashboard_shows_the_filter(b, url, [])
            b.close()
    finally:
        proc.terminate()
        proc.wait(20)

"""The demo: generated data, the bundled notebooks, and `cellsync demo` as the README runs it."""

import re
import subprocess
import sys

import nbformat
import pytest

import cellsync
from cellsync import demo
from helpers import ROOT, entries


def test_the_committed_notebooks_and_data_are_what_the_generator_writes(tmp_path):
    demo.build(tmp_path)
    for name in ("demo.ipynb", "diabetes.ipynb"):
        built = nbformat.read(tmp_path / name, as_version=4)
        committed = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        assert [c.source for c in built.cells] == [c.source for c in committed.cells], name
    for name in ("patients.csv", "regions.csv"):
        assert (tmp_path / "data" / name).read_text() == (ROOT / "notebooks" / "data" / name).read_text()


def test_the_data_tells_the_story():
    df = demo.patients(20_000)
    assert set(demo.COLUMNS) == set(df.columns)
    assert df.duplicated().sum() == 20_000 // 80
    old = df.age >= 80
    missing = df.income.isna()
    assert missing[old].mean() > 3 * missing[~old].mean()  # income missing far more for the oldest
    assert df.groupby(df.age >= 65).readmitted.mean().diff().iloc[-1] > 0.05  # older: readmitted more
    assert df.bmi_value.corr(df.age) > 0.1
    big = demo.patients(1_000_000)  # the benchmark size
    assert len(big) == 1_000_000 + 1_000_000 // 80 and big.patient_id.max() == 1_000_000


@pytest.mark.kernel
def test_the_second_notebook_runs_on_real_bundled_data(tmp_path):
    from cellsync.replay import replay_notebook

    demo.build(tmp_path)
    replay_notebook(tmp_path / "diabetes.ipynb", tmp_path / "store")
    st = cellsync.open_store(tmp_path / "store")
    cells = entries(st)
    assert all(c["status"] == "ok" for c in cells)
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True, scaled=False).frame
    kept = next(f for c in cells for f in c["frames"] if f["name"] == "healthy_bp")
    assert kept["rows_removed"] == int((data.bp >= 110).sum())
    assert any(m["name"] == "r2" and m["segment"] is None for m in st.metrics())


@pytest.mark.browser
@pytest.mark.kernel
def test_cellsync_demo_serves_the_story(tmp_path):
    from ui_helpers import CHROMIUM, LAUNCH_ARGS, LOCAL, find_row, need_chromium, open_timeline

    need_chromium()

    proc = subprocess.Popen([sys.executable, "-m", "cellsync.cli", "demo", "--dir", str(tmp_path / "demo"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for _ in range(50):
            line = proc.stdout.readline()
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        assert url, "cellsync demo printed no URL"
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            page = b.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            open_timeline(page)
            header = page.locator("text=/segment flags?/").first.inner_text()
            assert re.search(r"[1-9]\d* segment flag", header)
            # the story: the cleaning step that removed the oldest patients is flagged
            find_row(page, "dropna", timeout=30_000).click()
            page.locator("text=/⚑ 80 and over in patients/").first.wait_for(timeout=10_000)
            assert [u for u in requests if not LOCAL.match(u)] == []
            b.close()
    finally:
        proc.terminate()
        proc.wait(10)

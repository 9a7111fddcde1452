"""A Spark notebook's store in the dashboard: a real local SparkSession records into a store
through a real shell, then a real `cellsync serve` (a process that never imports Spark) shows
it in headless Chromium. Counts are checked against Spark SQL computed independently."""

import pytest

pytest.importorskip("pyspark")

from helpers import recorded, run  # noqa: E402
from ui_helpers import Page, chromium, need_chromium, start_server  # noqa: E402

pytestmark = [pytest.mark.engines, pytest.mark.engines_smoke, pytest.mark.browser]


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_a_spark_notebooks_store_in_the_dashboard(shell, spark, browser):
    need_chromium()
    shell.user_ns["spark"] = spark
    run(shell, "import cellsync\nfrom pyspark.sql import functions as F")
    run(shell, "people = spark.range(2000).select((F.col('id') % 97).alias('age'), "
               "F.when(F.col('id') % 5 == 0, None).otherwise(F.col('id') * 1.5).alias('income'))")
    shell.user_ns["people"].createOrReplaceTempView("people_dash")
    run(shell, 'cellsync.segment("old", "age >= 80")')
    run(shell, "people = people.filter(F.col('income').isNotNull())")
    recorded(shell)
    from cellsync.extension import current_tracker

    store = current_tracker().store_path

    def count(where):
        return spark.sql(f"select count(*) from people_dash where {where}").collect()[0][0]

    removed, before = count("income is null"), count("true")
    proc, url = start_server(store)
    try:
        p = Page(browser, url)
        p.row("people.filter").click()
        p.page.locator(f"text=Removed {removed:,} of the {before:,} rows").first.wait_for(timeout=15_000)
        p.page.locator("canvas:visible").first.wait_for(timeout=10_000)  # a histogram, from the store
        p.tab("Segments")
        box = p.page.locator("input[placeholder^='e.g. age']")
        box.fill("age >= 80")
        box.press("Enter")
        p.page.locator("[data-testid=segment-text]", has_text="age >= 80").first.wait_for(timeout=10_000)
        # SnapGrid from the store's data alone: the segment in each version, as Spark counts it
        for n in (count("age >= 80"), count("age >= 80 and income is not null")):
            p.page.locator(".tabulator-cell", has_text=str(n)).first.wait_for(timeout=10_000)
        p.shot("spark-dashboard")
        assert p.external() == [] and p.dialogs == []
        p.close()
    finally:
        proc.terminate()
        proc.wait(10)

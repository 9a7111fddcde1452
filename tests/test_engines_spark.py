"""PySpark frames tracked in a real IPython shell against a real local SparkSession; every
count is checked against Spark SQL computed independently. Marked `engines` (the JVM takes
~10 s to start); `make test` runs the short subset marked `engines_smoke` too."""

import pytest

pyspark = pytest.importorskip("pyspark")

from helpers import entries, recorded, run  # noqa: E402

pytestmark = pytest.mark.engines


@pytest.fixture
def sshell(shell, spark):
    shell.user_ns["spark"] = spark
    run(shell, "import cellsync\nfrom pyspark.sql import functions as F")
    run(shell, "people = spark.range(20000).select((F.col('id') % 97).alias('age'), "
               "F.when(F.col('id') % 5 == 0, None).otherwise(F.col('id') * 1.5).alias('income'), "
               "F.element_at(F.array(F.lit('north'), F.lit('south'), F.lit('east')), (F.col('id') % 3 + 1).cast('int')).alias('region'))")
    spark.catalog.dropTempView("people_sql") if spark.catalog.tableExists("people_sql") else None
    shell.user_ns["people"].createOrReplaceTempView("people_sql")
    return shell


def sql_count(spark, where="true"):
    return spark.sql(f"select count(*) from people_sql where {where}").collect()[0][0]


@pytest.mark.engines_smoke
def test_filter_rows_and_segment_counts_match_spark_sql(sshell, spark):
    run(sshell, 'cellsync.segment("old", "age >= 80")')
    run(sshell, 'cellsync.segment("north", "region == \\"north\\"")')
    run(sshell, "people = people.filter(F.col('income').isNotNull())")
    st = recorded(sshell)
    first, v = st.versions(frame="people")
    assert first.n_rows == sql_count(spark) == 20000
    assert v.n_rows == sql_count(spark, "income is not null")
    assert v.diff.rows_removed == sql_count(spark, "income is null") == 4000
    assert "Filter" in v.note and v.diff.row_identity == "filter"
    said = [e["summary"] or "" for e in entries(st)]
    assert any(t.startswith("Removed 4,000 of the 20,000 rows of the table people (20.0%)") for t in said)
    imps = {i["segment"]: i for i in st.impacts(frame="people") if i["version_id"] == v.id}
    old = imps["age >= 80"]
    assert old["rows_before"] == sql_count(spark, "age >= 80")
    assert old["rows_after"] == sql_count(spark, "age >= 80 and income is not null")
    assert old["rows_removed"] == sql_count(spark, "age >= 80 and income is null")
    assert imps['region == "north"']["rows_removed"] == sql_count(spark, "region = 'north' and income is null")
    prof = v.profile.column("income")
    exact = spark.sql("select min(income), max(income), avg(income), count(income) from people_sql where income is not null").collect()[0]
    assert (prof.min, prof.max, prof.count) == (exact[0], exact[1], exact[3])
    assert prof.mean == pytest.approx(exact[2], rel=1e-12) and prof.missing == 0
    assert v.profile.column("age").unique == pytest.approx(97, rel=0.05)  # approx_count_distinct


@pytest.mark.engines_smoke
def test_suggested_segments_on_a_spark_frame_flag_its_filter(sshell, spark):
    """Segments are suggested from a Spark frame's profile; a later filter's impact on each
    is counted exactly (Spark SQL), flagged where disproportionate, and a segment on the
    column the filter tested is by construction."""
    run(sshell, "pp = people.withColumn('income', F.when((F.col('region') == 'north') & (F.col('age') % 3 > 0), None).otherwise(F.lit(1.0)))")
    st = recorded(sshell)
    suggested = {s.text for s in st.segments("pp") if s.source == "suggested"}
    assert {'region == "north"', 'region == "south"', "income is missing"} <= suggested
    sshell.user_ns["pp"].createOrReplaceTempView("pp_sql")
    run(sshell, "pp = pp.filter(F.col('income').isNotNull())")
    st = recorded(sshell)
    v = st.versions(frame="pp")[-1]
    imps = {i["segment"]: i for i in st.impacts(frame="pp") if i["version_id"] == v.id}

    def count(where):
        return spark.sql(f"select count(*) from pp_sql where {where}").collect()[0][0]

    north = imps['region == "north"']
    assert north["rows_before"] == count("region = 'north'")
    assert north["rows_removed"] == count("region = 'north' and income is null")
    assert north["flagged"] and not imps['region == "south"']["flagged"]
    missing = imps["income is missing"]
    assert missing["by_construction"] and not missing["flagged"]


def test_sample_is_seeded_labelled_and_readable_without_spark(sshell, spark, monkeypatch):
    import cellsync

    monkeypatch.setattr(cellsync.settings, "spark_sample_rows", 1000)
    run(sshell, "people = people.filter(F.col('age') < 90)")
    st = recorded(sshell)
    v = st.versions(frame="people")[-1]
    assert v.data.sampled and v.data.sample_of == v.n_rows == sql_count(spark, "age < 90")
    back = st.load_frame(v.id)
    assert 0 < len(back) <= 1000 and list(back.columns) == ["age", "income", "region"]
    assert (back["age"] < 90).all()
    assert "estimated from a seeded sample" in v.profile.note
    from cellsync.snapgrid import snapgrid

    cell = snapgrid(st, "people", "age >= 80").cells[-1]
    assert cell.status == "estimated from sample"


def _cellsync_jobs(spark) -> set[int]:
    """Ids of the Spark jobs run in CellSync's job groups so far (the status store's list)."""
    jobs = spark.sparkContext._jsc.sc().statusStore().jobsList(None)
    out = set()
    for i in range(jobs.size()):
        job = jobs.apply(i)
        if job.jobGroup().isDefined() and job.jobGroup().get().startswith("cellsync-"):
            out.add(job.jobId())
    return out


def _jobs_of(spark, action) -> int:
    """How many Spark jobs one action runs in this session (adaptive execution runs a shuffle
    stage as a job of its own)."""
    sc = spark.sparkContext
    sc.setJobGroup("reference-not-cellsync", "reference")
    before = set(sc.statusTracker().getJobIdsForGroup("reference-not-cellsync"))
    action()
    sc.setLocalProperty("spark.jobGroup.id", None)
    return len(set(sc.statusTracker().getJobIdsForGroup("reference-not-cellsync")) - before)


def test_a_filters_sample_is_drawn_in_the_aggregation_job(sshell, spark, monkeypatch):
    """A filter's rows are bounded by its parent's count, so its seeded sample is drawn in the
    aggregation job itself (no second pass over the data): exactly `spark_sample_rows` rows
    when the filter kept well over half (the draw is twice the sample times the share kept), in
    the frame's order, only rows the filter kept, the same rows for the same plan; the quantiles are the sample's, said so, and equal pandas' on the
    sample the store holds. A filter that kept too few rows for the draw takes a sampling job."""
    import cellsync
    from pyspark.sql import functions as F

    monkeypatch.setattr(cellsync.settings, "spark_sample_rows", 1000)
    monkeypatch.setattr(cellsync.settings, "max_suggested_segments", 0)
    run(sshell, "tall = spark.range(20000).select('id', (F.col('id') * 0.5).alias('x'))")
    recorded(sshell)
    before = _cellsync_jobs(spark)
    run(sshell, "tall = tall.filter(F.col('id') % 10 != 0)")
    st = recorded(sshell)
    v = st.versions(frame="tall")[-1]
    assert len(_cellsync_jobs(spark) - before) == _jobs_of(spark, lambda: spark.range(10).agg(F.count(F.lit(1))).collect())
    assert v.n_rows == 18000 and v.data.sampled and v.data.sample_of == 18000
    back = st.load_frame(v.id)
    ids = back["id"].astype("int64")
    assert len(back) == 1000 and ids.is_monotonic_increasing and ids.is_unique
    assert (ids % 10 != 0).all() and ((back["x"].astype("float64") * 2) == ids).all()
    prof = v.profile.column("x")
    assert "quantiles, histograms and top values estimated from a seeded sample of 1,000 of 18,000" in v.profile.note
    for q in ("0.05", "0.5", "0.95"):
        assert prof.quantiles[q] == pytest.approx(back["x"].astype("float64").quantile(float(q)), rel=1e-12)
    assert (prof.min, prof.max) == (0.5, 9999.5)  # exact, from the job
    run(sshell, "again = spark.range(20000).select('id', (F.col('id') * 0.5).alias('x'))")
    run(sshell, "again = again.filter(F.col('id') % 10 != 0)")
    st = recorded(sshell)
    assert st.load_frame(st.versions(frame="again")[-1].id)["id"].tolist() == back["id"].tolist()
    run(sshell, "few = tall.filter(F.col('id') < 300)")  # 270 of 18,000: the draw brings ~30
    st = recorded(sshell)
    few = st.versions(frame="few")[-1]
    got = st.load_frame(few.id)
    assert few.n_rows == 270 == len(got) and not few.data.sampled
    assert sorted(got["id"].astype("int64")) == [i for i in range(300) if i % 10]


def test_a_filters_dates_and_text_read_back_through_arrow_as_spark_gives_them(sshell, spark):
    """The folded job's aggregates come back as Arrow: timestamps, dates and strings must read
    as Spark's own `collect()` gives them (timestamps in the session's local time)."""
    from pyspark.sql import functions as F

    run(sshell, "events = spark.range(500).select('id', F.timestamp_seconds(F.col('id') * 3600 + 1700000000).alias('at'), "
                "F.date_add(F.lit('2024-01-01').cast('date'), F.col('id').cast('int')).alias('day'), "
                "F.concat(F.lit('k'), F.col('id')).alias('key'))")
    run(sshell, "events = events.filter(F.col('id') >= 100)")
    st = recorded(sshell)
    v = st.versions(frame="events")[-1]
    got = sshell.user_ns["events"].agg(F.min("at"), F.max("at"), F.min("day"), F.max("day"), F.min("key"), F.max("key")).collect()[0]
    prof = {c: v.profile.column(c) for c in ("at", "day", "key")}
    assert (prof["at"].min, prof["at"].max) == (got[0].isoformat(), got[1].isoformat())
    assert (prof["day"].min, prof["day"].max) == (got[2].isoformat(), got[3].isoformat())
    assert (prof["key"].min, prof["key"].max) == (got[4], got[5]) and v.n_rows == 400


def test_a_wide_frames_sample_keeps_fewer_rows(sshell, spark, monkeypatch):
    """`spark_sample_values` caps rows x columns of a sample: 50 columns under a cap of 10,000
    values keep 200 rows, drawn by the sampling job (a new frame) and in the aggregation job
    (a filter of it) alike, and each version says how many."""
    import cellsync

    monkeypatch.setattr(cellsync.settings, "spark_sample_values", 10_000)
    monkeypatch.setattr(cellsync.settings, "max_suggested_segments", 0)
    run(sshell, "wide = spark.range(5000).select(*[(F.col('id') + i).alias(f'c{i}') for i in range(50)])")
    run(sshell, "wide = wide.filter(F.col('c0') % 10 != 0)")
    st = recorded(sshell)
    made, kept = st.versions(frame="wide")
    assert (made.n_rows, kept.n_rows) == (5000, 4500)
    for v in (made, kept):
        back = st.load_frame(v.id)
        assert back.shape == (200, 50) and v.data.sample_of == v.n_rows
        assert f"seeded sample of 200 of {v.n_rows:,} rows" in v.profile.note
    assert (st.load_frame(kept.id)["c0"].astype("int64") % 10 != 0).all()


def test_join_groupby_union_dedup_withcolumn(sshell, spark):
    run(sshell, "regions = spark.createDataFrame([('north', 'N'), ('south', 'S')], ['region', 'code'])")
    run(sshell, "joined = people.join(regions, 'region', 'left')")
    run(sshell, "by_region = people.groupBy('region').count()")
    run(sshell, "both = people.union(people)")
    run(sshell, "uniq = both.dropDuplicates()")
    run(sshell, "people = people.withColumn('age2', F.col('age') * 2)")
    st = recorded(sshell)
    rows = {v.frame: v for v in st.versions()}
    assert rows["joined"].n_rows == spark.sql("select count(*) from people_sql p left join (select 'north' region union all select 'south') r on p.region = r.region").collect()[0][0]
    assert "Join LeftOuter" in rows["joined"].note
    assert rows["by_region"].n_rows == 3 and rows["by_region"].diff.row_identity == "reshape"
    distinct = spark.sql("select count(*) from (select distinct * from people_sql)").collect()[0][0]
    assert rows["both"].n_rows == 40000 and rows["uniq"].n_rows == distinct < 20000
    assert rows["people"].diff.columns_added == ("age2",) and rows["people"].diff.rows_removed == 0


def test_spark_frame_from_pandas_and_back_keeps_the_parent(sshell, spark):
    """`spark.createDataFrame(pdf)` has the pandas frame as its parent, `toPandas()` the Spark
    frame; rows are not matched across engines, so the diff is net counts (Spark SQL's)."""
    run(sshell, "import pandas as pd\nlocal = pd.DataFrame({'age': list(range(300)), 'band': [i % 4 for i in range(300)]})")
    run(sshell, "remote = spark.createDataFrame(local)")
    run(sshell, "remote = remote.filter(F.col('age') >= 18)")
    run(sshell, "back = remote.toPandas()")
    st = recorded(sshell)
    local = st.versions(frame="local")[-1]
    made, kept = st.versions(frame="remote")
    assert (made.parent_frame, made.parent_id) == ("local", local.id)
    assert made.diff.row_identity == "none" and made.diff.rows_before == 300 == made.n_rows
    assert made.diff.columns_added == () == made.diff.columns_removed
    sshell.user_ns["remote"].createOrReplaceTempView("remote_sql")
    adults = spark.sql("select count(*) from remote_sql").collect()[0][0]
    back = st.versions(frame="back")[-1]
    assert (back.parent_frame, back.parent_id) == ("remote", kept.id)
    assert back.diff.row_identity == "none" and back.diff.rows_before == adults == back.n_rows == 282


def test_rows_matched_by_a_key_only_on_request(sshell, spark, monkeypatch):
    """Without `spark_row_key` a union of a filter and new rows keeps net counts; with it, the
    removed, added and kept rows equal Spark SQL's anti-joins on the key; a key that repeats is
    not used, and the version says why."""
    import cellsync

    run(sshell, "ev = spark.range(3000).select('id', (F.col('id') % 7).alias('g'))")
    run(sshell, "ev2 = ev.filter('g != 3').union(spark.range(5000, 5120).select('id', F.lit(9).alias('g')))")
    assert recorded(sshell).versions(frame="ev2")[-1].diff.row_identity == "none"
    monkeypatch.setattr(cellsync.settings, "spark_row_key", "id")
    run(sshell, "ev3 = ev.filter('g != 3').union(spark.range(5000, 5120).select('id', F.lit(9).alias('g')))")
    run(sshell, "dup = ev.union(ev.filter('g == 1'))")
    st = recorded(sshell)
    d = st.versions(frame="ev3")[-1].diff
    sshell.user_ns["ev"].createOrReplaceTempView("ev_sql")
    sshell.user_ns["ev3"].createOrReplaceTempView("ev3_sql")

    def count(sql):
        return spark.sql(sql).collect()[0][0]

    assert d.row_identity == "key"
    assert d.rows_removed == count("select count(*) from ev_sql a left anti join ev3_sql b on a.id = b.id") == 3000 // 7 + (1 if 3000 % 7 > 3 else 0)
    assert d.rows_added == count("select count(*) from ev3_sql a left anti join ev_sql b on a.id = b.id") == 120
    assert d.rows_kept == count("select count(*) from ev3_sql a left semi join ev_sql b on a.id = b.id")
    dup = st.versions(frame="dup")[-1]
    assert dup.diff.row_identity == "none" and "rows not matched by id" in dup.note


def test_plan_that_fails_when_run_is_one_status_line(sshell):
    from cellsync.extension import current_tracker

    result = run(sshell, "broken = people.withColumn('x', F.raise_error(F.lit('boom')))")
    assert result.success  # lazy: the user's cell is fine
    st = recorded(sshell)
    v = st.versions(frame="broken")[-1]
    assert v.note.startswith("not profiled:") and "\n" not in v.note
    said = [e["summary"] or "" for e in entries(st)]  # no "None rows" or "0 columns"
    assert any(t.startswith("Created the table broken; its rows were not counted (not profiled:") for t in said)
    assert not any("None" in t for t in said)
    msgs = {k: m for k, m in current_tracker().status()["problem_messages"].items() if k.startswith("engine.spark")}
    assert msgs and all("\n" not in m and len(m) <= 240 for m in msgs.values())


def test_time_budget_cancels_cellsync_jobs(sshell, spark, monkeypatch):
    import cellsync

    monkeypatch.setattr(cellsync.settings, "spark_time_budget", 1.0)
    # a plan whose aggregation takes ~4 s: two partitions of rows that each sleep in the JVM
    run(sshell, "slow = spark.range(0, 8, 1, 2).withColumn('z', F.expr('reflect(\"java.lang.Thread\", \"sleep\", cast(1000 as bigint))'))")
    st = recorded(sshell)
    v = st.versions(frame="slow")[-1]
    assert "time budget" in v.note and v.note.startswith("not profiled:")
    assert spark.range(5).count() == 5  # the session is still usable


def test_stopped_session_is_one_status_line(sshell, spark):
    """Last in the module: it stops the module's session."""
    from cellsync.extension import current_tracker

    spark.stop()
    # a frame made before the session stopped, bound to a new name: nothing of the user's fails
    result = run(sshell, "late = people")
    assert result.success
    v = recorded(sshell).versions(frame="late")[-1]
    assert v.note.startswith("not profiled:") and "stopped" in v.note
    assert any(k.startswith("engine.spark") for k in current_tracker().status()["problems"])

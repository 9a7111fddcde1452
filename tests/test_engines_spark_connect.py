"""Spark Connect frames (`SparkSession.builder.remote(...)`: a client-side plan, no JVM in the
kernel) tracked in a real IPython shell against a real local Spark Connect server; counts are
checked against Spark SQL on the same server. Marked `engines` (the server takes ~20 s to
start); skipped where pyspark's Connect client (grpcio) is not installed."""

import pytest

pytest.importorskip("pyspark")
pytest.importorskip("grpc")
# imported at collection: its first import checks `__main__.__spec__`, which an IPython shell
# made by an earlier test replaces with a module that has none
pytest.importorskip("pyspark.sql.connect.session")

from helpers import recorded, run  # noqa: E402

pytestmark = pytest.mark.engines


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    s = SparkSession.builder.remote("local[2]").config("spark.sql.shuffle.partitions", "4").getOrCreate()
    yield s
    s.stop()


@pytest.fixture
def cshell(shell, spark):
    shell.user_ns["spark"] = spark
    run(shell, "import cellsync\nfrom pyspark.sql import functions as F")
    run(shell, "people = spark.range(6000).select((F.col('id') % 97).alias('age'), "
               "F.when(F.col('id') % 5 == 0, None).otherwise(F.col('id') * 1.5).alias('income'), "
               "F.when(F.col('id') % 3 == 0, 'north').otherwise('south').alias('region'))")
    shell.user_ns["people"].createOrReplaceTempView("cpeople")
    return shell


def test_a_connect_filter_is_recorded_with_exact_counts(cshell, spark):
    def count(where="true"):
        return spark.sql(f"select count(*) from cpeople where {where}").collect()[0][0]

    run(cshell, 'cellsync.segment("old", "age >= 80")')
    run(cshell, "people = people.filter(F.col('income').isNotNull())")
    st = recorded(cshell)
    first, v = st.versions(frame="people")
    assert first.n_rows == count() and v.n_rows == count("income is not null")
    assert v.diff.rows_removed == count("income is null") and v.diff.row_identity == "filter"
    assert v.note.startswith("Spark: Filter") and "isnotnull(income)" in v.note
    old = next(i for i in st.impacts(frame="people") if i["version_id"] == v.id and i["segment"] == "age >= 80")
    assert old["rows_before"] == count("age >= 80") and old["rows_removed"] == count("age >= 80 and income is null")
    assert v.data.sampled is False and v.profile.column("income").missing == 0


def test_a_connect_job_past_the_budget_is_interrupted(cshell, spark, monkeypatch):
    import cellsync

    monkeypatch.setattr(cellsync.settings, "spark_time_budget", 1.0)
    run(cshell, "slow = spark.range(0, 8, 1, 2).withColumn('z', F.expr('reflect(\"java.lang.Thread\", \"sleep\", cast(1000 as bigint))'))")
    v = recorded(cshell).versions(frame="slow")[-1]
    assert v.note.startswith("not profiled:") and "time budget" in v.note
    assert spark.range(5).count() == 5  # the session is still usable

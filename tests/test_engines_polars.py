"""polars frames tracked in a real IPython shell with the extension loaded; every number is
checked against polars computing it independently."""

import numpy as np
import pytest

pl = pytest.importorskip("polars")

from helpers import recorded, run  # noqa: E402


@pytest.fixture
def pshell(shell):
    run(shell, "import polars as pl\nimport cellsync")
    return shell


def _versions(store, frame):
    return store.versions(frame=frame)


def make(ip, n=2_000):
    run(ip, f"""
rng = np.random.default_rng(7)
df = pl.DataFrame({{
    "age": rng.integers(0, 100, {n}),
    "income": np.where(rng.random({n}) < 0.1, np.nan, rng.normal(50_000, 9_000, {n})),
    "region": rng.choice(["north", "south", "east", "west"], {n}),
    "flag": rng.random({n}) < 0.3,
}}).with_columns(pl.col("income").fill_nan(None))""")
    return ip.user_ns["df"]


def test_new_frame_profile_matches_polars(pshell):
    df = make(pshell)
    v = _versions(recorded(pshell), "df")[-1]
    assert (v.change, v.n_rows, v.n_cols) == ("new", df.height, 4)
    inc = v.profile.column("income")
    s = df.get_column("income")
    assert inc.missing == s.null_count() and inc.count == s.len() - s.null_count()
    assert inc.mean == pytest.approx(s.mean(), rel=1e-12)
    assert inc.std == pytest.approx(s.std(), rel=1e-12)
    assert inc.quantiles["0.25"] == pytest.approx(s.quantile(0.25, interpolation="linear"), rel=1e-12)
    assert inc.unique == s.drop_nulls().n_unique()
    finite = s.drop_nulls().to_numpy()
    counts, _ = np.histogram(finite, bins=np.array(inc.histogram.edges))
    assert list(inc.histogram.counts) == counts.tolist() and sum(inc.histogram.counts) == len(finite)
    age = v.profile.column("age")
    assert (age.min, age.max) == (df["age"].min(), df["age"].max()) and isinstance(age.min, int)
    region = v.profile.column("region")
    vc = df["region"].value_counts(sort=True)
    assert {t.value: t.count for t in region.top_values} == dict(vc.iter_rows())
    assert region.kind == "string" and region.length.max == df["region"].str.len_chars().max()


def test_filter_removed_rows_and_segment_impact(pshell):
    df = make(pshell)
    run(pshell, 'cellsync.segment("old", "age >= 80")')
    run(pshell, 'df = df.filter(pl.col("income").is_not_null())')
    after = pshell.user_ns["df"]
    st = recorded(pshell)
    v = _versions(st, "df")[-1]
    assert v.change == "rebound" and v.parent_frame == "df"
    assert v.diff.rows_removed == df.height - after.height == df["income"].null_count()
    assert v.diff.rows_added == 0 and v.diff.row_identity == "content"
    imp = [i for i in st.impacts(frame="df") if i["segment"] == "age >= 80"][-1]
    old_before = df.filter(pl.col("age") >= 80).height
    old_after = after.filter(pl.col("age") >= 80).height
    assert (imp["rows_before"], imp["rows_after"], imp["rows_removed"]) == (old_before, old_after, old_before - old_after)
    # the stored data is the frame, rebuilt from the store alone
    back = st.load_frame(v.id)
    assert back["age"].tolist() == after["age"].to_list()
    assert st.removed_rows(v.id)["income"].isna().all() and len(st.removed_rows(v.id)) == v.diff.rows_removed


def test_suggested_segments_flag_a_polars_filter(pshell):
    """Segments are suggested for a polars frame from its profile, as for pandas; a later
    filter that removes far more of one region is flagged, with polars' own counts."""
    run(pshell, """
rng = np.random.default_rng(3)
n = 4000
region = rng.choice(["north", "south", "east", "west"], n)
income = np.where((region == "north") & (rng.random(n) < 0.6) | (rng.random(n) < 0.05), np.nan, rng.normal(50, 9, n))
df = pl.DataFrame({"region": region, "income": income}).with_columns(pl.col("income").fill_nan(None))""")
    before = pshell.user_ns["df"]
    st = recorded(pshell)
    suggested = {s.text: s for s in st.segments("df") if s.source == "suggested"}
    assert {f'region == "{r}"' for r in ("north", "south", "east", "west")} <= set(suggested)
    assert "income is missing" in suggested
    run(pshell, 'df = df.filter(pl.col("income").is_not_null())')
    st = recorded(pshell)
    v = _versions(st, "df")[-1]
    imps = {i["segment"]: i for i in st.impacts(frame="df") if i["version_id"] == v.id}
    north = imps['region == "north"']
    in_north = before.filter(pl.col("region") == "north")
    assert north["rows_before"] == in_north.height
    assert north["rows_removed"] == in_north.get_column("income").null_count()
    assert north["overall_removal_rate"] == pytest.approx(before.get_column("income").null_count() / before.height)
    assert north["flagged"] and not imps['region == "south"']["flagged"]
    assert not imps["income is missing"]["flagged"]  # the filter tested that column: by construction


def test_with_columns_counts_changed_values(pshell):
    df = make(pshell)
    run(pshell, 'df = df.with_columns(pl.when(pl.col("age") > 90).then(90).otherwise(pl.col("age")).alias("age"))')
    after = pshell.user_ns["df"]
    v = _versions(recorded(pshell), "df")[-1]
    assert v.diff.row_identity == "index" and v.diff.rows_removed == v.diff.rows_added == 0
    assert v.diff.values_changed == {"age": int((df["age"] != after["age"]).sum())}
    assert v.diff.values_changed["age"] == df.filter(pl.col("age") > 90).height > 0
    assert v.data.kind == "delta"  # only the changed column was written


def test_in_place_write_and_sort_and_dedup(pshell):
    make(pshell, n=500)
    run(pshell, 'df[0, "income"] = -1.0')
    run(pshell, 'df = df.sort("age")')
    run(pshell, 'df = pl.concat([df, df.head(7)]).unique(maintain_order=True)')
    vs = _versions(recorded(pshell), "df")
    assert [v.change for v in vs] == ["new", "mutated", "rebound", "rebound"]
    assert vs[1].diff.values_changed == {"income": 1}
    assert vs[2].diff.reordered and vs[2].diff.rows_removed == 0 and not vs[2].diff.values_changed
    assert vs[3].n_rows == pshell.user_ns["df"].height


def test_in_place_write_of_an_equal_value_is_no_version_and_the_cell_is_recorded(pshell):
    """Written in place but equal to its parent: no version (as for pandas), and the other
    frames of the cell are still recorded (the pipeline once failed the whole cell on it)."""
    from cellsync.extension import current_tracker

    make(pshell, n=300)
    run(pshell, 'df[0, "age"] = df[0, "age"]\nages = df.select("age")')
    st = recorded(pshell)
    assert [v.change for v in _versions(st, "df")] == ["new"]
    assert _versions(st, "ages")[-1].n_cols == 1
    assert not current_tracker().status()["problem_messages"]


def test_a_frame_of_several_chunks_is_not_diffed_again_by_later_cells(pshell):
    """After `pl.concat` a column has several chunks; later cells that leave the frame alone
    must not see it as changed in place (each would diff the whole frame again)."""
    from cellsync.extension import current_tracker

    make(pshell, n=300)
    run(pshell, "df = pl.concat([df, df.head(7)])")
    assert pshell.user_ns["df"].get_column("age").n_chunks() > 1
    stage = current_tracker().worker.pipeline.versions
    recorded(pshell)
    seen = dict(stage.redirect)
    run(pshell, "x = 1")
    run(pshell, "y = 2")
    recorded(pshell)
    assert stage.redirect == seen  # nothing was diffed and found equal
    run(pshell, 'df[3, "income"] = -5.0')
    vs = _versions(recorded(pshell), "df")
    assert [v.change for v in vs] == ["new", "rebound", "mutated"] and vs[-1].diff.values_changed == {"income": 1}


def test_group_by_is_a_reshape_and_del_is_recorded(pshell):
    make(pshell)
    run(pshell, 'by_region = df.group_by("region").agg(pl.col("income").mean())')
    run(pshell, "del by_region")
    vs = _versions(recorded(pshell), "by_region")
    assert vs[0].diff.row_identity == "reshape" and vs[0].diff.rows_removed == 0 and vs[0].n_rows == 4
    assert vs[-1].change == "deleted"


def test_lazy_frame_is_a_plan_not_collected(pshell, tmp_path):
    make(pshell)
    run(pshell, 'lf = df.lazy().filter(pl.col("age") >= 18).select("age", "region")')
    v = _versions(recorded(pshell), "lf")[-1]
    assert v.n_rows is None and v.n_cols == 2 and v.data.kind == "none"
    assert "FILTER" in v.note and "not collected" in v.note


def test_failing_lazy_plan_is_one_status_line(pshell, tmp_path, capsys):
    from cellsync.extension import current_tracker

    missing = tmp_path / "nope.parquet"
    result = run(pshell, f'bad = pl.scan_parquet("{missing}").filter(pl.col("a") > 1)')
    assert result.success
    st = recorded(pshell)
    v = _versions(st, "bad")[-1]
    assert v.note.startswith("not profiled:") and "\n" not in v.note
    problems = current_tracker().status()["problem_messages"]
    assert any(k.startswith("engine.polars") for k in problems)
    assert all("\n" not in m for m in problems.values())


def test_snapgrid_over_polars_versions(pshell):
    df = make(pshell)
    run(pshell, 'df = df.filter(pl.col("region") != "north")')
    from cellsync.snapgrid import snapgrid

    grid = snapgrid(recorded(pshell), "df", "age >= 80")
    assert [c.segment_rows for c in grid.cells] == [
        df.filter(pl.col("age") >= 80).height,
        df.filter((pl.col("age") >= 80) & (pl.col("region") != "north")).height,
    ]


def test_a_column_of_python_objects_is_noted_not_fatal(pshell):
    run(pshell, 'odd = pl.DataFrame({"a": [1, 2, 3], "o": pl.Series([{1}, None, {2}], dtype=pl.Object)})')
    v = _versions(recorded(pshell), "odd")[-1]
    assert v.n_rows == 3 and v.profile.column("a").mean == 2.0
    assert v.profile.column("o").note.startswith("not profiled:")


@pytest.mark.kernel
def test_polars_in_a_real_kernel_and_nothing_under_any_cell(tmp_path, monkeypatch):
    """nbclient runs a notebook on a real kernel: polars frames are recorded with the numbers
    polars gives, and a lazy plan that fails when resolved leaves no output under any cell
    (the problem is one line in `%cellsync status`)."""
    import nbformat
    from nbclient import NotebookClient

    import cellsync

    monkeypatch.setenv("CELLSYNC_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "import polars as pl",
        "%load_ext cellsync",
        "df = pl.DataFrame({'age': list(range(100)), 'x': [i * 0.5 for i in range(100)]})",
        "df = df.filter(pl.col('age') >= 18)",
        "bad = pl.scan_parquet('does-not-exist.parquet')",
        "import cellsync; _ = cellsync.flush(60)",
        "%cellsync status",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [[o for o in c.outputs] for c in nb.cells]
    assert [o.output_type for out in outputs for o in out if o.output_type == "error"] == []
    for i in (0, 2, 3, 4):  # the user's cells: nothing under them
        assert outputs[i] == [], (i, outputs[i])
    status = "".join(o.get("text", "") for o in outputs[6])
    line = [ln for ln in status.splitlines() if "engine.polars" in ln]
    assert len(line) == 1 and "does-not-exist" in line[0]
    st = cellsync.open_store(tmp_path / "store")
    v = st.versions(frame="df")[-1]
    assert (v.n_rows, v.diff.rows_removed) == (82, 18)


def test_head_and_chained_filters_record_without_a_problem(pshell, capsys):
    """`head` and `drop(...).filter(...)` on a polars frame: the operation model read the pandas
    parent's columns, which an engine's change does not hold, and the cell showed "CellSync
    could not record everything". The counts come from polars, the cell shows nothing."""
    run(pshell, "p = pl.DataFrame({'a': list(range(100)), 'b': [float(i) for i in range(100)]})")
    run(pshell, "p = p.head(10)")
    run(pshell, "p = p.drop('b').filter(pl.col('a') > 3)")
    store = recorded(pshell)
    assert "could not record" not in capsys.readouterr().out
    assert store.summary()["problems"] == []
    expected = pl.DataFrame({"a": list(range(100))}).head(10).filter(pl.col("a") > 3)
    head, chained = store.timeline()[-2:]
    assert "90 of" in head.summary and "100" in head.summary
    assert f"{10 - expected.height} of" in chained.summary and '"b"' in chained.summary

"""polars row identity and segment impacts on the fast paths (a filter's semi join on row
hashes, hashes reused down a chain, impacts as polars sums) and where they must give way to
the exact join: repeated rows, a sort, added rows, changed values. Every count is checked
against polars computing it independently, in a real IPython shell with the extension."""

import numpy as np
import pytest

pl = pytest.importorskip("polars")

import cellsync.engines.polars as engine  # noqa: E402
from helpers import recorded, run  # noqa: E402


@pytest.fixture
def pshell(shell, monkeypatch):
    """The shell, and which way each content match went: an array (the filter shortcut) or
    None (the join)."""
    taken = []
    real = engine._kept_in_order

    def spy(a, b):
        out = real(a, b)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(engine, "_kept_in_order", spy)
    run(shell, "import polars as pl\nimport cellsync")
    shell.taken = taken
    return shell


def repeated(ip, n=3_000):
    """Few distinct rows, each many times over."""
    run(ip, f"""
rng = np.random.default_rng(11)
df = pl.DataFrame({{"a": rng.integers(0, 4, {n}), "b": rng.integers(0, 3, {n}), "s": rng.choice(["x", "y"], {n})}})
cellsync.segment("b high", "b >= 1")""")
    return ip.user_ns["df"]


def last(ip, frame="df"):
    st = recorded(ip)
    v = st.versions(frame=frame)[-1]
    imps = {i["segment"]: i for i in st.impacts(frame=frame) if i["version_id"] == v.id}
    return st, v, imps


def combos(frame) -> dict:
    """How many times each (a, b, s) row occurs."""
    return {tuple(r[:3]): r[3] for r in frame.group_by(["a", "b", "s"]).len().iter_rows()}


def test_filter_over_repeated_rows_takes_the_shortcut_and_counts_every_copy(pshell):
    df = repeated(pshell)
    run(pshell, 'df = df.filter(pl.col("a") != 1)')
    after = pshell.user_ns["df"]
    st, v, imps = last(pshell)
    assert pshell.taken == [True]  # every copy of a kept row is kept, in order: no join needed
    gone = df.filter(pl.col("a") == 1)
    assert (v.diff.rows_removed, v.diff.rows_added, v.diff.rows_kept) == (gone.height, 0, after.height)
    assert v.diff.row_identity == "content" and not v.diff.reordered
    back = pl.from_pandas(st.removed_rows(v.id)[["a", "b", "s"]])
    assert combos(back) == combos(gone)
    imp = imps["b >= 1"]
    high = df.filter(pl.col("b") >= 1)
    assert (imp["rows_before"], imp["rows_after"], imp["rows_removed"]) == (
        high.height, after.filter(pl.col("b") >= 1).height, high.filter(pl.col("a") == 1).height)
    assert (imp["rows_added"], imp["rows_left"], imp["rows_entered"]) == (0, 0, 0)
    assert st.load_frame(v.id)["a"].tolist() == after["a"].to_list()


def test_dropping_one_of_two_equal_rows_takes_the_exact_join(pshell):
    df = repeated(pshell)
    run(pshell, "df = df.filter(pl.int_range(pl.len()) != 5)")  # row 5 has copies elsewhere
    st, v, imps = last(pshell)
    assert pshell.taken == [False]
    assert (v.diff.rows_removed, v.diff.rows_kept) == (1, df.height - 1)
    assert combos(pl.from_pandas(st.removed_rows(v.id)[["a", "b", "s"]])) == combos(df[5])
    assert imps["b >= 1"]["rows_removed"] == int(df["b"][5] >= 1)
    run(pshell, "df = df.unique(maintain_order=True)")
    _, v, imps = last(pshell)
    assert pshell.taken == [False, False]
    kept = pshell.user_ns["df"]
    assert v.diff.rows_removed == df.height - 1 - kept.height and kept.height == df.unique().height
    assert imps["b >= 1"]["rows_after"] == kept.filter(pl.col("b") >= 1).height


def test_sort_and_added_rows_take_the_join(pshell):
    df = repeated(pshell)
    run(pshell, 'df = df.sort("a", "b")')
    _, v, imps = last(pshell)
    assert pshell.taken == [False]
    assert v.diff.reordered and (v.diff.rows_removed, v.diff.rows_added) == (0, 0)
    assert (imps["b >= 1"]["rows_removed"], imps["b >= 1"]["rows_left"], imps["b >= 1"]["rows_entered"]) == (0, 0, 0)
    run(pshell, 'extra = pl.DataFrame({"a": [9, 9, 0], "b": [2, 0, 1], "s": ["x", "x", "y"]})\ndf = pl.concat([df, extra, df.head(4)])')
    _, v, imps = last(pshell)
    assert pshell.taken[-1] is False
    assert (v.diff.rows_removed, v.diff.rows_added) == (0, 7)
    added = pl.concat([pshell.user_ns["extra"], df.sort("a", "b").head(4)])
    assert imps["b >= 1"]["rows_added"] == added.filter(pl.col("b") >= 1).height


def test_a_chain_of_filters_hashes_each_version_once(pshell, monkeypatch):
    calls = []
    real = pl.DataFrame.hash_rows

    def counted(self, *a, **kw):
        calls.append(self.height)
        return real(self, *a, **kw)

    monkeypatch.setattr(pl.DataFrame, "hash_rows", counted)
    df = repeated(pshell)
    frames = [df]
    for cond in ('pl.col("a") != 1', 'pl.col("s") == "x"', 'pl.col("b") < 2'):
        run(pshell, f"df = df.filter({cond})")
        frames.append(pshell.user_ns["df"])
    st = recorded(pshell)
    vs = st.versions(frame="df")
    assert pshell.taken == [True, True, True]
    assert sorted(calls) == sorted(f.height for f in frames)  # four versions, four hashes (not six)
    assert [v.diff.rows_removed for v in vs[1:]] == [a.height - b.height for a, b in zip(frames, frames[1:])]


def test_changed_values_and_segments_that_fit_one_side(pshell):
    """Changed values take `segments.impacts` (values changed inside each segment); a type
    change (no values compared), a segment of a new column and of a dropped one take the
    polars sums."""
    run(pshell, """
rng = np.random.default_rng(5)
df = pl.DataFrame({"age": rng.integers(60, 100, 4_000), "w": rng.random(4_000)})
cellsync.segment("old", "age >= 80")
cellsync.segment("tagged", "tag == 1")""")
    df = pshell.user_ns["df"]
    run(pshell, 'df = df.with_columns(pl.when(pl.col("age") > 95).then(95).otherwise(pl.col("age")).alias("age"))')
    after = pshell.user_ns["df"]
    _, v, imps = last(pshell)
    changed = int(df["age"].ne_missing(after["age"]).sum())
    assert v.diff.values_changed == {"age": changed} and changed > 0
    assert imps["age >= 80"]["values_changed"] == {"age": changed}  # every changed age was >= 80
    run(pshell, 'df = df.with_columns((pl.col("age").cast(pl.Float64) - 0.5).alias("age"), pl.lit(1).alias("tag"))')
    _, v, imps = last(pshell)
    assert not v.diff.values_changed and "age" in v.diff.dtype_changes
    old = imps["age >= 80"]
    assert (old["rows_left"], old["rows_entered"]) == (after.filter(pl.col("age") == 80).height, 0)
    assert old["rows_after"] == after.filter(pl.col("age") > 80).height
    tagged = imps["tag == 1"]
    assert tagged["rows_before"] is None and tagged["rows_after"] == after.height and "not in the parent" in tagged["note"]
    run(pshell, 'df = df.drop("tag").filter(pl.col("w") > 0.5)')
    _, v, imps = last(pshell)
    now = pshell.user_ns["df"]
    assert pshell.taken[-1] is True
    assert imps["tag == 1"]["rows_after"] == now.height and "gone after" in imps["tag == 1"]["note"]
    assert imps["tag == 1"]["rows_removed"] == after.height - now.height == v.diff.rows_removed


def test_a_segment_that_fits_only_the_new_version(pshell):
    """No segment fits the parent (one text column of distinct values: nothing suggested)."""
    run(pshell, 'names = pl.DataFrame({"s": [f"n{i}" for i in range(500)]})\ncellsync.segment("tagged", "tag == 1")')
    run(pshell, 'names = names.with_columns(pl.lit(1).alias("tag")).filter(pl.col("s") != "n3")')
    _, v, imps = last(pshell, "names")
    assert pshell.taken == [True] and v.diff.rows_removed == 1
    assert set(imps) == {"tag == 1"}
    assert (imps["tag == 1"]["rows_before"], imps["tag == 1"]["rows_after"], imps["tag == 1"]["rows_added"]) == (None, 499, 0)


def test_a_large_profile_runs_columns_in_threads_with_the_same_result(pshell):
    """From 100,000 rows the columns' histograms and top values run in `profile_threads`
    threads: the profile equals the one-thread profile, and the counts are numpy's on
    polars' values (NaN and infinities left out of the histogram)."""
    import cellsync
    from cellsync.config import Settings

    run(pshell, """
rng = np.random.default_rng(2)
n = 150_000
x = rng.normal(0, 1, n); x[:50] = np.nan; x[50:60] = np.inf
big = pl.DataFrame({"x": x, "k": rng.integers(0, 7, n), "r": rng.choice(["a", "b", "c"], n), "w": rng.random(n)})""")
    big = pshell.user_ns["big"]
    v = recorded(pshell).versions(frame="big")[-1]
    assert cellsync.settings.profile_threads > 1
    one_thread = engine.profile(big, Settings(profile_threads=1))
    assert v.profile.to_dict() == one_thread.to_dict()
    finite = big.get_column("x").filter(big.get_column("x").is_finite()).to_numpy()
    hist = v.profile.column("x").histogram
    assert list(hist.counts) == np.histogram(finite, bins=np.array(hist.edges))[0].tolist()
    assert sum(hist.counts) == big.height - 60
    assert {t.value: t.count for t in v.profile.column("r").top_values} == dict(big["r"].value_counts().iter_rows())

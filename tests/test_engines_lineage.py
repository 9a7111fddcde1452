"""Lineage across engines, in a real IPython shell with the extension loaded: a polars frame made
from a pandas frame (and back) has that frame as its parent, with net counts checked against
the frames themselves, and a name that changes engine keeps one history (no "deleted")."""

import pytest

pl = pytest.importorskip("polars")

from helpers import entries, recorded, run  # noqa: E402


@pytest.fixture
def pshell(shell):
    run(shell, "import polars as pl\nimport cellsync")
    run(shell, "people = pd.DataFrame({'age': np.arange(600) % 90, 'region': np.where(np.arange(600) % 3, 'north', 'south')})")
    return shell


def _summaries(store) -> list[str]:
    return [e["summary"] or "" for e in entries(store)]


def test_polars_from_pandas_and_back_keeps_the_parent(pshell):
    run(pshell, "pl_people = pl.from_pandas(people)")
    run(pshell, "pl_people = pl_people.filter(pl.col('age') >= 18)")
    run(pshell, "adults = pl_people.to_pandas()")
    st = recorded(pshell)
    people = st.versions(frame="people")[-1]
    made, kept = st.versions(frame="pl_people")
    assert (made.parent_frame, made.parent_id) == ("people", people.id)
    d = made.diff
    assert d.row_identity == "none" and d.rows_before == len(pshell.user_ns["people"]) == made.n_rows
    assert d.columns_added == () == d.columns_removed
    # the filter after it is diffed by polars as before: rows matched, exact
    filtered = pshell.user_ns["pl_people"]
    assert kept.parent_id == made.id and kept.diff.rows_removed == 600 - filtered.height
    adults = st.versions(frame="adults")[-1]
    assert (adults.parent_frame, adults.parent_id) == ("pl_people", kept.id)
    assert adults.diff.row_identity == "none" and adults.diff.rows_before == filtered.height == adults.n_rows
    said = _summaries(st)
    made_text = next(t for t in said if "pl_people" in t and "could not be matched" in t)
    assert "(from people) has 600 rows (600 before" in made_text
    adults_text = next(t for t in said if "adults" in t)
    assert f"(from pl_people) has {filtered.height} rows ({filtered.height} before" in adults_text
    for text in (made_text, adults_text):  # a conversion is not a new table, nor rows removed or added
        assert not any(word in text for word in ("Created", "Removed", "lost", "gained", "added"))


def test_a_name_that_changes_engine_keeps_one_history(pshell):
    run(pshell, "df = people.copy()")
    run(pshell, "df = pl.from_pandas(df)")
    run(pshell, "df = df.with_columns(older=pl.col('age') + 1)")
    run(pshell, "df = df.to_pandas()")
    st = recorded(pshell)
    vs = st.versions(frame="df")
    assert [v.change for v in vs] == ["new", "rebound", "rebound", "rebound"]
    assert [v.parent_id for v in vs[1:]] == [v.id for v in vs[:-1]]
    assert vs[1].diff.row_identity == "none" and vs[1].diff.rows_before == 600 == vs[1].n_rows
    assert vs[3].diff.row_identity == "none" and vs[3].diff.columns_added == () and vs[3].n_cols == 3
    assert vs[2].diff.columns_added == ("older",)
    said = _summaries(st)
    assert not any("eleted" in t for t in said)
    assert sum("The table df has 600 rows (600 before; its rows could not be matched" in t for t in said) == 2


def test_only_a_conversion_is_linked_and_an_uncounted_frame_says_so(pshell):
    """A pandas frame that merely reads a polars frame (`pd.DataFrame({"n": [big.height]})`) is
    not made from its rows: no parent, no "10 before". A lazy frame's rows are never counted:
    its sentence says that, not "None rows"."""
    run(pshell, "big = pl.DataFrame({'a': list(range(10))})")
    run(pshell, "small = pd.DataFrame({'n': [big.height]})")
    run(pshell, "lazy = pl.LazyFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})")
    st = recorded(pshell)
    small = st.versions(frame="small")[-1]
    assert small.parent_id is None and small.diff.row_identity == "new"
    said = _summaries(st)
    assert "Created the table small: 1 row and 1 column." in said
    lazy = next(t for t in said if "lazy" in t)
    assert lazy.startswith("Created the table lazy with 2 columns; its rows were not counted")
    assert not any("None" in t for t in said)


def test_a_rebound_lazy_frame_says_its_rows_were_not_counted(pshell):
    run(pshell, "lazy = pl.LazyFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})")
    run(pshell, "lazy = lazy.filter(pl.col('a') > 1)")
    said = _summaries(recorded(pshell))
    assert any(t.startswith("The table lazy changed; it has 2 columns; its rows were not counted (lazy polars frame")
               for t in said), said
    assert not any("None" in t for t in said)

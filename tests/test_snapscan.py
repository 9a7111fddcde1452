"""SnapGrid through DuckDB over the store's Parquet files gives the very grid the pandas path
gives, on stores with deltas, bitmasks, sorts, renames and rewrites as `versions.persist` writes
them; counts also checked against pandas on the notebook's own frames."""

import numpy as np
import pytest

import cellsync
from cellsync.segments import Segment
from cellsync.snapgrid import snapgrid
from helpers import recorded, run, run_cells

pytest.importorskip("duckdb")
pytest.importorskip("polars")

CELLS = [
    "rng = np.random.default_rng(21)\n"
    "n = 6000\n"
    "df = pd.DataFrame({'age': rng.integers(0, 100, n), 'income': rng.normal(40, 9, n),"
    " 'region': rng.choice(['north', 'south', 'east'], n), 'smoker': rng.random(n) < 0.3,"
    " 'visits': pd.array(rng.integers(0, 5, n), dtype='Int64'),"
    " 'note': np.where(rng.random(n) < 0.1, None, rng.choice(['a', 'b'], n)).astype(object),"
    " 'kind': pd.Categorical(rng.choice(['x', 'y'], n))})\n"
    "df.loc[rng.random(n) < 0.05, 'income'] = np.nan\n"
    "df.loc[rng.random(n) < 0.05, 'visits'] = pd.NA",
    "df = df[df.age > 5]",                                  # a filter: bitmask delta
    "df = df.sort_values('income', kind='stable')",         # a sort: int32 positions
    "df['income'] = df['income'].fillna(0) * 1.1",          # a rewrite of a segment column
    "df = df.rename(columns={'region': 'area'})",           # a rename: masks follow positions
    "df = df[df.visits.fillna(0) < 4]",                     # a filter after the rename
    "df['extra'] = 1",                                      # a column added elsewhere
    "df = df.reset_index(drop=True)",
    "df = df[df.smoker | (df.age > 50)]",
]

SEGMENTS = [
    "age >= 80",
    'area == "north"',
    'age >= 60 and area in ["north", "east"]',
    "income > 45 or age < 10",
    "not income > 40",
    "income is missing",
    "visits >= 2",
    "visits != 3",
    "smoker",
    'note == "a"',
    "note is missing",
    "age > income",
    'kind == "x"',          # a categorical: that column goes through pandas, same answer
]


@pytest.fixture
def history(shell, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "full_version_every", 4)  # whole versions in between, too
    frames = run_cells(shell, CELLS)
    return recorded(shell), frames


@pytest.mark.parametrize("text", SEGMENTS)
def test_duckdb_and_pandas_give_the_same_grid(history, text):
    store, frames = history
    columns = ["income", "age"]
    by_pandas = snapgrid(store, "df", text, columns, engine="pandas")
    by_duckdb = snapgrid(store, "df", text, columns, engine="duckdb")
    assert by_duckdb == by_pandas
    # and both are right: pandas on the notebook's frames, under the segment's own rules
    seg = Segment.from_text(text)
    for cell, frame in zip(by_duckdb.cells, frames):
        if cell.status == "column gone":
            assert any(c not in frame.columns for c in seg.columns)
            continue
        assert cell.status == "exact"
        assert cell.segment_rows == int(seg.mask(frame).sum()), (text, cell)
    assert sum(c.status == "exact" for c in by_duckdb.cells) >= 4


def test_duckdb_reads_only_what_it_must(history, monkeypatch):
    """The segment is evaluated by DuckDB on versions that wrote its columns and carried down
    the deltas; pandas evaluates nothing (Segment.mask sees only the empty frame of the check)."""
    store, frames = history
    seen = []
    original = Segment.mask
    monkeypatch.setattr(Segment, "mask", lambda self, frame: seen.append(len(frame)) or original(self, frame))
    grid = snapgrid(store, "df", "income > 45", engine="duckdb")
    assert [c.segment_rows for c in grid.cells] == [int(((f.income > 45) & f.income.notna()).sum()) for f in frames]
    assert set(seen) == {0}
    seen.clear()
    snapgrid(store, "df", 'kind == "x"', engine="duckdb")
    assert seen and max(seen) > 0  # categorical: pandas evaluates it


def test_the_condition_is_pushed_into_the_parquet_scan(history):
    from cellsync.snapscan import ScanMasks

    store, _ = history
    versions = store.versions(frame="df", profiles=False)
    masks = ScanMasks(store, Segment.from_text("age >= 80"), versions)
    plan = store.plan(versions[0].id)
    position = next(j for j, ref in enumerate(plan.columns) if ref.label == "age")
    text = masks.explain(versions[0].id, (position,))
    scan = text[text.index("READ_PARQUET"):]
    assert "Filters" in scan and "80" in scan
    masks.close()


def test_the_choice_by_size(history, monkeypatch):
    store, _ = history
    monkeypatch.setattr(cellsync.settings, "snapgrid_duckdb_rows", 10_000_000)
    small = store.snapgrid("df", "age > 3")
    monkeypatch.setattr(cellsync.settings, "snapgrid_duckdb_rows", 1000)
    large = store.snapgrid("df", "age > 3")
    assert (small.engine, large.engine) == ("pandas", "duckdb")
    assert [c.segment_rows for c in small.cells] == [c.segment_rows for c in large.cells]


def test_a_damaged_file_is_that_version_only(history):
    store, frames = history
    versions = store.versions(frame="df", profiles=False)
    ref = next(r for r in versions[0].data.columns if r.label == "age")
    store.files.parquet_path(ref.key).write_bytes(b"PAR1 not really")
    grid = snapgrid(store, "df", "age >= 80", engine="duckdb")
    assert grid.cells[0].status == "data unreadable" and versions[0].id in grid.cells[0].note
    by_pandas = snapgrid(store, "df", "age >= 80", engine="pandas")
    assert [(c.status, c.segment_rows) for c in grid.cells] == [(c.status, c.segment_rows) for c in by_pandas.cells]


def test_whole_versions_that_kept_the_columns_carry_the_mask_too(history, monkeypatch):
    """A version written whole only because its chain was long (`full_version_every`) keeps
    `same_as` for the columns it did not change: neither path evaluates the segment there."""
    store, frames = history
    versions = store.versions(frame="df", profiles=False)
    whole = [i for i, v in enumerate(versions) if i and v.data.kind == "full"]
    assert whole  # the fixture's full_version_every=4 made some
    age = [next(j for j, r in enumerate(versions[i].data.columns) if r.label == "age") for i in whole]
    assert all(versions[i].data.columns[j].same_as is not None for i, j in zip(whole, age))
    seen = []
    original = Segment.mask
    monkeypatch.setattr(Segment, "mask", lambda self, frame: seen.append(len(frame)) or original(self, frame))
    grid = snapgrid(store, "df", "age >= 80", engine="pandas")
    assert seen == [len(frames[0])]  # only the first version's column is read and evaluated
    assert [c.segment_rows for c in grid.cells] == [int((f.age >= 80).sum()) for f in frames]

"""SnapGrid from the store alone, each count checked against pandas on the same versions."""

import json

import pytest
from click.testing import CliRunner

import cellsync
from cellsync.cli import main
from cellsync.segments import SegmentError
from helpers import recorded, run, run_cells

CELLS = [
    "rng = np.random.default_rng(3)\n"
    "df = pd.DataFrame({'age': rng.integers(0, 100, 5000), 'income': rng.normal(40, 9, 5000),"
    " 'region': rng.choice(['n', 's'], 5000)})",
    "df = df[df.income > 30]",
    "df.loc[df.age > 90, 'income'] = 0.0",
    "df = df.sort_values('income').reset_index(drop=True)",
    "df = df.drop(columns=['age'])",
]


@pytest.fixture
def grid_store(shell):
    versions = run_cells(shell, CELLS)
    return recorded(shell), versions


def test_a_segment_defined_after_the_fact(grid_store):
    store, versions = grid_store
    grid = store.snapgrid("df", "age >= 80 and region == \"n\"", columns=["income"])
    assert len(grid.cells) == len(CELLS)
    for cell, frame in zip(grid.cells[:-1], versions[:-1]):
        inside = frame[(frame.age >= 80) & (frame.region == "n")]
        assert cell.status == "exact"
        assert (cell.segment_rows, cell.frame_rows) == (len(inside), len(frame))
        assert cell.share == pytest.approx(len(inside) / len(frame))
        assert cell.distributions["income"].mean == pytest.approx(inside.income.mean())
        assert cell.distributions["income"].count == inside.income.count()
    last = grid.cells[-1]
    assert last.status == "column gone" and "age" in last.note and last.segment_rows is None


def test_json_and_text_from_the_cli(grid_store):
    store, versions = grid_store
    res = CliRunner().invoke(main, ["snapgrid", str(store.path), "--frame", "df", "--segment", "region == \"s\"", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [c["segment_rows"] for c in data["cells"]] == [int((v.region == "s").sum()) for v in versions]
    text = CliRunner().invoke(main, ["snapgrid", str(store.path), "--frame", "df", "--segment", "region == \"s\"", "--column", "income"])
    assert text.exit_code == 0 and "income: mean" in text.output
    bad = CliRunner().invoke(main, ["snapgrid", str(store.path), "--frame", "df", "--segment", "regoin == 1"])
    assert bad.exit_code == 1 and bad.output.strip() == "Error: no column 'regoin' in this frame; did you mean 'region'? (in 'regoin == 1')"
    typo = CliRunner().invoke(main, ["snapgrid", str(store.path), "--frame", "dff", "--segment", "age > 1"])
    assert typo.exit_code == 1 and "did you mean 'df'" in typo.output


def test_a_segment_that_matches_nothing_is_zero_not_an_error(grid_store):
    store, _ = grid_store
    grid = store.snapgrid("df", "age > 1000")
    assert [c.segment_rows for c in grid.cells[:-1]] == [0] * (len(CELLS) - 1)


def test_sampled_versions_are_estimates_and_say_so(shell, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "max_persist_rows", 1000)
    run(shell, "big = pd.DataFrame({'v': np.arange(10_000) % 10})")
    grid = recorded(shell).snapgrid("big", "v == 3")
    (cell,) = grid.cells
    assert cell.status == "estimated from sample"
    assert cell.segment_rows == pytest.approx(1000, rel=0.15)
    assert cell.share == pytest.approx(0.1, abs=0.03)


def test_versions_without_data_say_so(shell, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "persist_data", False)
    run(shell, "small = pd.DataFrame({'v': range(10)})")
    (cell,) = recorded(shell).snapgrid("small", "v > 5").cells
    assert cell.status == "not persisted" and cell.segment_rows is None


def test_flagged_cells_are_marked(shell):
    run(shell, "import cellsync\ncellsync.segment('old', 'age >= 80')")
    run(shell, "people = pd.DataFrame({'age': np.arange(100), 'x': np.where(np.arange(100) >= 80, np.arange(100) % 3, 0)})")
    # a filter on x that hits the old hardest: a finding (a filter on age itself would hit
    # them by construction, and is never flagged: tests/test_operations.py)
    run(shell, "people = people[people.x != 1]")
    run(shell, "people = people[people.age != 5]")
    grid = recorded(shell).snapgrid("people", "age >= 80")
    assert [c.flagged for c in grid.cells] == [False, True, False]
    with pytest.raises(SegmentError):
        recorded(shell).snapgrid("people", "agee >= 80")


def test_masks_are_carried_down_the_delta_chain_through_a_rename(shell, monkeypatch):
    """Versions that keep the segment's column take their parent's mask at their kept rows
    (the column is neither rebuilt nor evaluated again), even across a rename; a version
    that rewrites the column evaluates the segment anew. Counts checked against pandas."""
    from cellsync.segments import Segment

    cells = [
        "rng = np.random.default_rng(5)\n"
        "df = pd.DataFrame({'age': rng.integers(0, 100, 4000), 'region': rng.choice(['n', 's'], 4000)})",
        "df = df[df.age > 10]",
        "df = df.rename(columns={'region': 'area'})",
        "df = df.sort_values('age', kind='stable')",
        "df = df[df.age < 95]",
        "df['area'] = df['area'].str.upper()",
    ]
    versions = []
    for code in cells:
        run(shell, code)
        versions.append(shell.user_ns["df"].copy())
    store = recorded(shell)
    evaluated = []
    original = Segment.mask
    monkeypatch.setattr(Segment, "mask", lambda self, frame: evaluated.append(len(frame)) or original(self, frame))
    grid = store.snapgrid("df", 'area == "n"')
    assert [c.status for c in grid.cells] == ["column gone"] * 2 + ["exact"] * 4
    for cell, frame in zip(grid.cells[2:], versions[2:]):
        assert (cell.segment_rows, cell.frame_rows) == (int((frame.area == "n").sum()), len(frame))
    assert grid.cells[-1].segment_rows == 0
    # once on the first version's region column (where the renamed column's values were
    # written), once on the rewrite
    assert evaluated == [len(versions[0]), len(versions[5])]


def test_the_dashboard_draws_a_column_inside_the_segment_version_by_version(grid_store):
    """The Segments tab's distribution chart: per version, the median and the quartiles of
    the column among the segment's rows, equal to pandas' on the same versions."""
    import numpy as np

    from cellsync.ui import distribution_chart

    store, versions = grid_store
    grid = store.snapgrid("df", 'region == "n"', columns=["income"])
    chart = distribution_chart(grid, "income")
    outer, inner, median = list(chart)
    for i, frame in enumerate(versions):
        inside = frame[frame.region == "n"].income.dropna().to_numpy()
        assert median.dimension_values("value")[i] == pytest.approx(float(np.quantile(inside, 0.5)))
        assert inner.dimension_values("value")[i] == pytest.approx(float(np.quantile(inside, 0.25)))
        assert inner.dimension_values("upper")[i] == pytest.approx(float(np.quantile(inside, 0.75)))
        assert outer.dimension_values("value")[i] == pytest.approx(float(np.quantile(inside, 0.05)))
        assert outer.dimension_values("upper")[i] == pytest.approx(float(np.quantile(inside, 0.95)))
    assert distribution_chart(store.snapgrid("df", 'region == "n"', columns=["region"]), "region") is None

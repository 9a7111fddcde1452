"""Odd frames through the real extension: each is profiled or labelled, none breaks a cell."""

import numpy as np
import pandas as pd
import pytest

from helpers import frames_of, recorded, run

ODD = {
    "multi_rows": "pd.DataFrame({'v': [1, 2]}, index=pd.MultiIndex.from_tuples([('a', 1), ('b', 2)]))",
    "multi_cols": "pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([('a', 'x'), ('a', 'y')]))",
    "dup_labels": "pd.DataFrame([[1, 'x']], columns=['d', 'd'])",
    "lists_dicts": "pd.DataFrame({'o': [[1, 2], {'k': 1}, b'raw', 3, None]})",
    "tz": "pd.DataFrame({'t': pd.date_range('2024-03-30', periods=48, freq='h', tz='Europe/Berlin')})",
    "cats": "pd.DataFrame({'c': pd.Categorical(['a', 'b', None], categories=['a', 'b', 'z'])})",
    "periods": "pd.DataFrame({'p': pd.period_range('2024-01', periods=3, freq='M')})",
    "intervals": "pd.DataFrame({'i': pd.interval_range(0, 3)})",
    "zero_rows": "pd.DataFrame({'a': pd.Series([], dtype='float64')})",
    "zero_cols": "pd.DataFrame(index=range(3))",
    "complex": "pd.DataFrame({'z': [1 + 2j, 3 - 1j]})",
    "all_missing": "pd.DataFrame({'n': [np.nan, np.nan], 's': pd.Series([None, None], dtype='string')})",
}


def test_odd_frames_are_recorded_without_problems(shell, capsys):
    code = "\n".join(f"{name} = {expr}" for name, expr in ODD.items())
    result = run(shell, code)
    assert result.success
    store = recorded(shell)
    frames = frames_of(store, -1)
    assert set(frames) == set(ODD)
    assert store.problems() == []
    for name in ODD:
        v = store.version(frames[name]["version"])
        assert v.profile is not None, name
        assert v.profile.n_rows == frames[name]["rows_after"]
        for col in v.profile.columns:
            assert col.note is None or col.note.startswith("not profiled"), (name, col)
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_odd_frames_change_and_round_trip(shell):
    run(shell, "tz = pd.DataFrame({'t': pd.date_range('2024-03-30', periods=48, freq='h', tz='Europe/Berlin'), 'v': range(48)})")
    run(shell, "tz = tz[tz.v % 2 == 0]")
    run(shell, "mi = pd.DataFrame({'v': [1, 2, 3]}, index=pd.MultiIndex.from_tuples([('a', 1), ('b', 2), ('c', 3)], names=['k', 'n']))")
    run(shell, "mi = mi.drop(index=('b', 2))")
    store = recorded(shell)
    tz = store.versions(frame="tz")[-1]
    assert tz.diff.rows_removed == 24
    mi = store.versions(frame="mi")[-1]
    assert mi.diff.rows_removed == 1 and mi.diff.row_identity == "index"
    ns = shell.user_ns
    pd.testing.assert_frame_equal(store.load_frame(tz.id), ns["tz"])
    pd.testing.assert_frame_equal(store.load_frame(mi.id), ns["mi"])


def test_wide_frame_of_3000_columns(shell):
    run(shell, "wide = pd.DataFrame(np.random.default_rng(0).random((50, 3000)))")
    run(shell, "wide[3000] = 1.0")
    store = recorded(shell)
    versions = store.versions(frame="wide")
    assert [v.n_cols for v in versions] == [3000, 3001]
    assert versions[1].diff.columns_added == ("3000",)
    assert versions[1].profile.note is None or "not profiled" in versions[1].profile.note
    pd.testing.assert_frame_equal(store.load_frame(versions[1].id), shell.user_ns["wide"])


@pytest.mark.slow
def test_two_million_rows_are_sampled_when_persisted(shell, monkeypatch):
    import cellsync

    monkeypatch.setattr(cellsync.settings, "max_persist_rows", 500_000)
    run(shell, "big = pd.DataFrame({'a': np.arange(2_000_000), 'b': np.arange(2_000_000) % 7})")
    run(shell, "big = big[big.b != 3]")
    store = recorded(shell)
    first, second = store.versions(frame="big")
    assert first.data.sampled and first.data.sample_of == 2_000_000 and first.data.rows == 500_000
    assert first.profile.n_rows == 2_000_000  # profiles always cover every row
    assert second.diff.rows_removed == int((np.arange(2_000_000) % 7 == 3).sum())
    sample = store.load_frame(first.id)
    assert len(sample) == 500_000 and sample["a"].is_monotonic_increasing

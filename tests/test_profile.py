"""Profiles checked against pandas and numpy computed independently."""

import json

import numpy as np
import pandas as pd
import pytest

from cellsync.config import Settings
from cellsync.profile import FrameProfile, profile_frame


@pytest.fixture
def frame():
    rng = np.random.default_rng(7)
    n = 5000
    return pd.DataFrame(
        {
            "x": np.where(rng.random(n) < 0.1, np.nan, rng.normal(10, 3, n)),
            "i": rng.integers(0, 12, n),
            "s": pd.Series(rng.choice(["ant", "bee", "cicada", None], n), dtype="string"),
            "c": pd.Categorical(rng.choice(["lo", "mid", "hi"], n)),
            "b": rng.random(n) > 0.3,
            "t": pd.Timestamp("2024-01-01", tz="Europe/Paris")
            + pd.to_timedelta(rng.integers(0, 10_000, n), unit="min"),
            "d": pd.to_timedelta(rng.integers(0, 100, n), unit="s"),
        }
    )


def test_numeric_column_matches_pandas(frame):
    p = profile_frame(frame).column("x")
    x = frame["x"]
    assert (p.count, p.missing, p.unique) == (x.count(), x.isna().sum(), x.nunique())
    assert not p.unique_approx
    assert p.min == pytest.approx(x.min()) and p.max == pytest.approx(x.max())
    assert p.mean == pytest.approx(x.mean()) and p.std == pytest.approx(x.std())
    for q, v in p.quantiles.items():
        assert v == pytest.approx(x.quantile(float(q)))
    counts, edges = np.histogram(x.dropna(), bins=30)
    assert list(p.histogram.counts) == counts.tolist()
    assert len(p.histogram.edges) == 31 and sum(p.histogram.counts) == x.count()


def test_small_integer_range_gets_one_bar_per_value(frame):
    p = profile_frame(frame).column("i")
    assert len(p.histogram.counts) == frame["i"].nunique()
    assert list(p.histogram.counts) == frame["i"].value_counts().sort_index().tolist()
    assert isinstance(p.min, int) and p.max == frame["i"].max()


def test_categorical_string_bool_top_values(frame):
    prof = profile_frame(frame)
    for name in ("s", "c", "b"):
        p = prof.column(name)
        expected = frame[name].value_counts().head(20)
        assert [v.count for v in p.top_values] == expected.tolist()
        assert [v.value for v in p.top_values] == [
            bool(k) if isinstance(k, (bool, np.bool_)) else str(k) for k in expected.index
        ]
    s = prof.column("s")
    lengths = frame["s"].dropna().str.len()
    assert (s.length.min, s.length.max) == (lengths.min(), lengths.max())
    assert s.length.mean == pytest.approx(lengths.mean())
    assert s.kind == "string" and prof.column("c").kind == "categorical"


def test_datetime_and_timedelta(frame):
    prof = profile_frame(frame)
    t = prof.column("t")
    assert t.kind == "datetime"
    assert pd.Timestamp(t.min) == frame["t"].min() and pd.Timestamp(t.max) == frame["t"].max()
    assert pd.Timestamp(t.quantiles["0.5"]) == frame["t"].quantile(0.5)
    assert sum(t.histogram.counts) == frame["t"].count() and len(t.histogram.counts) <= 30
    assert pd.Timestamp(t.histogram.edges[0]) == frame["t"].min()
    assert pd.Timestamp(t.histogram.edges[-1]) == frame["t"].max()
    d = prof.column("d")
    assert d.kind == "timedelta" and d.mean == pytest.approx(frame["d"].dt.total_seconds().mean())


def test_large_columns_get_a_labelled_approximate_distinct_count():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"v": rng.integers(0, 50_000, 300_000)})
    cfg = Settings(exact_unique_max_rows=100_000)
    p = profile_frame(df, cfg).column("v")
    assert p.unique_approx
    assert p.unique == pytest.approx(df["v"].nunique(), rel=0.03)
    exact = profile_frame(df, Settings(exact_unique_max_rows=1_000_000)).column("v")
    assert not exact.unique_approx and exact.unique == df["v"].nunique()


def test_json_round_trip(frame):
    prof = profile_frame(frame)
    text = prof.to_json()
    json.loads(text)  # plain JSON, no NaN
    assert "NaN" not in text
    assert FrameProfile.from_json(text) == FrameProfile.from_dict(json.loads(text))
    assert FrameProfile.from_json(text).column("x").histogram == prof.column("x").histogram


def test_column_that_cannot_be_profiled_is_labelled_not_raised():
    class Weird:
        def __eq__(self, other):
            raise RuntimeError("no comparing me")

        __hash__ = None

    df = pd.DataFrame({"w": [Weird(), Weird()], "ok": [1, 2]})
    prof = profile_frame(df)
    assert prof.column("ok").note is None
    assert prof.column("w").note is None or prof.column("w").note.startswith("not profiled")


def test_too_many_columns_are_recorded_as_not_profiled():
    df = pd.DataFrame(np.zeros((3, 50)))
    prof = profile_frame(df, Settings(max_profile_columns=10))
    assert len(prof.columns) == 10 and prof.n_cols == 50
    assert prof.note.startswith("not profiled: columns 11-50")

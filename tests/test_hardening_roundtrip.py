"""Every stored version comes back exactly: `load_frame(v)` equals what the notebook had, or a
column says "not persisted: <reason>" (in `frame.attrs`) and the rest is still exact."""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

import cellsync
from cellsync.store import Store
from cellsync.versions import NOT_PERSISTED, ColumnFiles, persist, rebuild
from helpers import recorded, run


def same(back: pd.DataFrame, original: pd.DataFrame) -> None:
    """Exactly equal: values, dtypes, labels, index (with its freq), and for object columns
    each element's type (None stays None, NaN stays NaN, a tuple stays a tuple)."""
    assert back.equals(original)
    pd.testing.assert_frame_equal(back, original, check_exact=True, check_freq=True, check_flags=True)
    for j in range(original.shape[1]):
        if original.dtypes.iloc[j] == object:
            assert [type(x) for x in back.iloc[:, j]] == [type(x) for x in original.iloc[:, j]]
            assert [repr(x) for x in back.iloc[:, j]] == [repr(x) for x in original.iloc[:, j]]


def roundtrip(tmp_path, frame, **kw):
    files = ColumnFiles(tmp_path / "data")
    plan = persist(files, frame, cellsync.settings, **kw)
    return rebuild(files, plan, None), plan


# --- one column of every kind pandas has ------------------------------------------------------

def _objects(n, draw):
    pool = st.one_of(
        st.none(), st.just(float("nan")), st.text(max_size=5), st.integers(-2**70, 2**70),
        st.floats(allow_nan=False), st.booleans(), st.just(pd.NA), st.just(pd.NaT),
        st.dictionaries(st.text(max_size=3), st.integers(-5, 5), max_size=3),
        st.lists(st.integers(-5, 5), max_size=3), st.tuples(st.integers(), st.text(max_size=2)),
        st.frozensets(st.integers(0, 9), max_size=3),
        st.builds(lambda s, tz: pd.Timestamp(s * 10**9, tz=tz), st.integers(0, 2**31),
                  st.sampled_from([None, "UTC", "US/Eastern", "Asia/Kolkata"])),
        st.builds(lambda d: dt.date(2000, 1, 1) + dt.timedelta(days=d), st.integers(0, 9000)),
        st.builds(decimal.Decimal, st.decimals(allow_nan=False, allow_infinity=False, places=3)),
        st.binary(max_size=4), st.complex_numbers(allow_nan=False, allow_infinity=False),
        st.builds(lambda a, w: pd.Interval(a, a + w), st.integers(-9, 9), st.integers(1, 5)),
    )
    return draw(st.lists(pool, min_size=n, max_size=n))


@st.composite
def column(draw, n):
    kind = draw(st.sampled_from([
        "int64", "int8", "uint32", "float64", "float32", "float16", "bool", "Int64", "Float64", "boolean",
        "string", "str", "object-text", "objects", "datetime-ns", "datetime-s", "datetime-tz", "timedelta",
        "category", "ordered-category", "cut", "interval", "period", "sparse", "complex", "arrow-list",
        "arrow-int",
    ]))
    ints = draw(st.lists(st.integers(-1000, 1000), min_size=n, max_size=n))
    floats = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=n, max_size=n))
    holes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    texts = draw(st.lists(st.text(max_size=6), min_size=n, max_size=n))
    if kind in ("int64", "int8", "uint32"):
        return pd.Series(np.abs(ints) % 100 if kind != "int64" else ints, dtype=kind)
    if kind in ("float64", "float32", "float16"):
        return pd.Series(floats, dtype=kind)
    if kind == "bool":
        return pd.Series(holes, dtype=bool)
    if kind in ("Int64", "Float64", "boolean"):
        values = [None if h else (i if kind == "Int64" else (i > 0 if kind == "boolean" else i / 7)) for i, h in zip(ints, holes)]
        return pd.Series(values, dtype=kind)
    if kind in ("string", "str"):
        return pd.Series([None if h else t for t, h in zip(texts, holes)], dtype=kind)
    if kind == "object-text":
        missing = draw(st.sampled_from([None, float("nan"), pd.NA]))
        return pd.Series([missing if h else t for t, h in zip(texts, holes)], dtype=object)
    if kind == "objects":
        return pd.Series(_objects(n, draw), dtype=object)
    if kind.startswith("datetime"):
        values = pd.to_datetime([None if h else i * 86_400_000_000_123 for i, h in zip(ints, holes)])
        if kind == "datetime-s":
            values = pd.to_datetime([None if h else i * 86_400 for i, h in zip(ints, holes)], unit="s").as_unit("s")
        if kind == "datetime-tz":
            values = values.tz_localize("UTC").tz_convert("Europe/Paris")
        return pd.Series(values)
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta([None if h else i for i, h in zip(ints, holes)], unit="ms"))
    if kind in ("category", "ordered-category"):
        return pd.Series(pd.Categorical([None if h else t[:1] for t, h in zip(texts, holes)],
                                        ordered=kind == "ordered-category"))
    if kind == "cut":
        return pd.Series(pd.cut(pd.Series(ints, dtype="float64"), 3) if n else pd.Categorical([]))
    if kind == "interval":
        return pd.Series(pd.arrays.IntervalArray.from_arrays(ints, [i + 1 for i in ints]))
    if kind == "period":
        return pd.Series(pd.PeriodIndex([pd.Period("2020-01", "M") + abs(i) for i in ints], freq="M"))
    if kind == "sparse":
        return pd.Series(pd.arrays.SparseArray([i if h else 0 for i, h in zip(ints, holes)], fill_value=0))
    if kind == "complex":
        return pd.Series([complex(i, j) for i, j in zip(ints, reversed(ints))])
    if kind == "arrow-list":
        return pd.Series([None if h else [i, i + 1][: abs(i) % 3] for i, h in zip(ints, holes)],
                         dtype=pd.ArrowDtype(pa.list_(pa.int64())))
    return pd.Series([None if h else i for i, h in zip(ints, holes)], dtype=pd.ArrowDtype(pa.int64()))


@st.composite
def frames(draw):
    n = draw(st.integers(0, 12))
    k = draw(st.integers(1, 5))
    cols = [draw(column(n)) for _ in range(k)]
    labels = draw(st.lists(st.one_of(st.text(min_size=1, max_size=4), st.integers(0, 99)),
                           min_size=k, max_size=k, unique_by=str))
    frame = pd.DataFrame({i: c.reset_index(drop=True) for i, c in enumerate(cols)})
    frame.columns = pd.Index(labels, dtype=object)
    index = draw(st.sampled_from(["range", "dates", "text", "ints"]))
    if index == "dates":
        frame.index = pd.date_range("2021-03-01", periods=n, freq=draw(st.sampled_from(["D", "h", "W-MON"])), name="when")
    elif index == "text":
        frame.index = pd.Index([f"r{i}" for i in range(n)], dtype=object)
    elif index == "ints":
        frame.index = pd.Index(draw(st.lists(st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n)), dtype="int64")
    return frame


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(frame=frames())
def test_every_dtype_comes_back_exactly(tmp_path_factory, frame):
    back, plan = roundtrip(tmp_path_factory.mktemp("rt"), frame)
    # everything here can be kept exactly: nothing may be marked "not persisted"
    assert NOT_PERSISTED not in back.attrs, back.attrs
    same(back, frame)


@hsettings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(frame=frames(), keep=st.lists(st.booleans(), min_size=12, max_size=12), data=st.data())
def test_a_filtered_and_rewritten_delta_comes_back_exactly(tmp_path_factory, frame, keep, data):
    files = ColumnFiles(tmp_path_factory.mktemp("rt") / "data")
    parent = persist(files, frame, cellsync.settings)
    rows = np.flatnonzero(np.array(keep[: len(frame)], dtype=bool))
    child = frame.iloc[rows].copy()
    rewrite = data.draw(st.integers(0, frame.shape[1] - 1))
    child.isetitem(rewrite, data.draw(column(len(child))).set_axis(child.index))
    same_columns = {j: j for j in range(frame.shape[1]) if j != rewrite}
    plans = {"p": parent}
    plan = persist(files, child, cellsync.settings, parent=parent, parent_id="p", parent_positions=rows,
                   same_columns=same_columns, same_index=True)
    assert plan.kind == "delta"
    same(rebuild(files, plan, plans.__getitem__), child)


def test_objects_only_pickle_could_keep_are_marked_and_the_rest_is_kept(tmp_path):
    class Patient:  # a user's own class: storing it would need pickle, which a store never holds
        pass

    frame = pd.DataFrame({"who": [Patient(), Patient()], "age": [81, 40]})
    back, plan = roundtrip(tmp_path, frame)
    assert back.attrs[NOT_PERSISTED] == {"who": "not persisted: objects of type Patient cannot be stored without pickle"}
    assert back["who"].isna().all()
    same(back[["age"]], frame[["age"]])
    assert not any(p.suffix == ".pkl" for p in (tmp_path / "data").rglob("*"))


def test_a_series_comes_back_as_a_series(tmp_path):
    s = pd.Series([1.5, None, 3.0], index=pd.date_range("2020-01-01", periods=3, freq="D"), name="bmi")
    store = Store(tmp_path / "store")
    plan = persist(store.files, s.to_frame(), cellsync.settings, series=True)
    assert plan.series
    back = rebuild(store.files, plan, None).iloc[:, 0]
    pd.testing.assert_series_equal(back, s, check_exact=True, check_freq=True)


def test_the_issues_frames_come_back_exactly_through_a_real_shell(shell):
    """The cases the issue found lossy, recorded by a real IPython shell with the extension."""
    run(shell, "import pyarrow as pa\n"
               "df = pd.DataFrame({'d': [{'a': 1}, {'b': 2}, None],\n"
               "                   'tz': pd.Series([pd.Timestamp('2020-01-01', tz='UTC'),\n"
               "                                    pd.Timestamp('2020-06-01', tz='US/Eastern'), None], dtype=object),\n"
               "                   'sp': pd.arrays.SparseArray([0, 0, 1]),\n"
               "                   'bins': pd.cut([1.0, 5.0, 9.0], 2),\n"
               "                   'q': pd.qcut([1.0, 5.0, 9.0], 3),\n"
               "                   'per': pd.period_range('2020-01', periods=3, freq='M'),\n"
               "                   'c': [1 + 2j, 3j, 0j]},\n"
               "                  index=pd.date_range('2024-01-01', periods=3, freq='D'))")
    st_ = recorded(shell)
    (v,) = st_.versions(frame="df")
    assert v.data is not None and v.data.kind == "full", v.note
    back = st_.load_frame(v.id)
    assert NOT_PERSISTED not in back.attrs
    same(back, shell.user_ns["df"])


def test_values_too_long_are_not_suggested_as_segments(shell, monkeypatch):
    """A 10 MB string must not become a segment (nor an impact row, nor show --json output)."""
    run(shell, "df = pd.DataFrame({'kind': ['a', 'b', 'x' * 5_000_000, 'a'] * 10, 'v': range(40)})")
    run(shell, "df = df[df.v > 3]")
    st_ = recorded(shell)
    assert max(len(s.text) for s in st_.segments()) <= 2000
    assert max(len(i["segment"]) for i in st_.impacts()) <= 2000
    assert {s.text for s in st_.segments("df")} >= {'kind == "a"', 'kind == "b"'}
    assert st_.summary()["size_bytes"] < 2_000_000 + 6_000_000  # the value itself, once, in the data
    (v,) = [v for v in st_.versions(frame="df") if v.parent_id is None]
    kind = next(c for c in v.profile.columns if c.name == "kind")
    assert max(len(str(t.value)) for t in kind.top_values) == cellsync.settings.max_value_chars
    assert any(str(t.value).endswith("…") for t in kind.top_values)

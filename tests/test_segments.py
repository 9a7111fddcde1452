"""Segment grammar, evaluation, suggestions and impacts, checked against pandas."""

import json

import numpy as np
import pandas as pd
import pytest

from cellsync.diff import diff_frames
from cellsync.profile import profile_frame
from cellsync.segments import Segment, SegmentError, impacts, parse, suggest, to_text


@pytest.fixture
def df():
    rng = np.random.default_rng(11)
    n = 3000
    return pd.DataFrame(
        {
            "age": rng.integers(0, 100, n),
            "sex": rng.choice(["F", "M"], n),
            "smoker": rng.random(n) < 0.3,
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(40, 10, n)),
            "region": pd.Categorical(rng.choice(["north", "south", "east", "west"], n)),
            "bmi": rng.normal(27, 5, n).round(1),
            "status": rng.choice(["active", "inactive"], n),
            "seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "my col": rng.integers(0, 3, n),
        }
    )


EXPECTED = {
    "age >= 80": lambda d: d.age >= 80,
    'sex == "F" and smoker': lambda d: (d.sex == "F") & d.smoker,
    "income is missing": lambda d: d.income.isna(),
    "income is not missing": lambda d: d.income.notna(),
    'region in ["north", "east"]': lambda d: d.region.isin(["north", "east"]),
    "10 <= bmi < 30": lambda d: (d.bmi >= 10) & (d.bmi < 30),
    'not (status == "inactive")': lambda d: ~(d.status == "inactive"),
    "income > 50 or age < 5": lambda d: (d.income > 50) | (d.age < 5),
    "not smoker": lambda d: ~d.smoker,
    "`my col` = 2": lambda d: d["my col"] == 2,
    'seen >= "2024-07-01"': lambda d: d.seen >= pd.Timestamp("2024-07-01"),
    "age not in [1, 2, 3]": lambda d: ~d.age.isin([1, 2, 3]),
    "income != 40": lambda d: d.income.notna() & (d.income != 40),
    "age > bmi": lambda d: d.age > d.bmi,
}


@pytest.mark.parametrize("text", list(EXPECTED))
def test_masks_match_pandas(df, text):
    seg = Segment.from_text(text)
    expected = EXPECTED[text](df).to_numpy(dtype=bool)
    assert np.array_equal(seg.mask(df), expected)


@pytest.mark.parametrize("text", list(EXPECTED))
def test_round_trip_through_text_and_json(df, text):
    seg = Segment.from_text(text, name="x")
    again = Segment.from_spec(json.loads(json.dumps(seg.to_spec())))
    assert again == seg
    assert parse(to_text(seg.spec)) == seg.spec


@pytest.mark.parametrize(
    "text",
    [
        '__import__("os").system("echo pwned")',
        "age >= 80; import os",
        "lambda: 1",
        "age.__class__",
        "age >= @limit",
        "f'{age}' == 1",
        "age >= 80 and",
        "(age >= 80",
        "1 == 1",
        "80",
        "",
        "age >= [1, 2]",
        "age in (1, 2)",
        "age in [income]",
        "exec('x') or age > 1",
    ],
)
def test_text_that_is_not_a_segment_is_refused(df, text, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SegmentError):
        Segment.from_text(text).mask(df)
    assert not marker.exists()


def test_unknown_column_suggests_the_closest():
    with pytest.raises(SegmentError, match=r"no column 'agee' in this frame; did you mean 'age'\?"):
        Segment.from_text("agee >= 80").mask(pd.DataFrame({"age": [1], "sex": ["F"]}))
    with pytest.raises(SegmentError, match="did you mean 'Region'"):
        Segment.from_text('region == "x"').mask(pd.DataFrame({"Region": ["x"]}))


@pytest.mark.parametrize(
    "text, message",
    [
        ('age == "old"', "holds numbers, but 'old' is not a number"),
        ("sex > 3", "holds text; compare it with text"),
        ("sex == 3", "holds text, but 3 is a number"),
        ("age", "not true/false"),
        ('seen > "not a date"', "is not a date"),
        ("smoker == 1", "holds true/false"),
    ],
)
def test_type_mismatch_is_an_error_not_an_empty_segment(df, text, message):
    with pytest.raises(SegmentError, match=message):
        Segment.from_text(text).mask(df)


def test_bad_specs_from_json_are_refused():
    for spec in [{"op": "eval", "code": "1"}, {"op": "cmp", "column": "a"}, {"op": "cmp", "column": "a", "cmp": "in", "value": 1},
                 {"op": "cmp", "column": "a", "cmp": "==", "value": {"x": 1}}]:
        with pytest.raises(SegmentError):
            Segment.from_spec({"name": "x", "spec": spec})


def test_suggestions_are_small_and_readable(df):
    df = df.assign(patient_id=np.arange(len(df)))
    segs = suggest(df, profile_frame(df), limit=40)
    names = [s.name for s in segs]
    assert len(segs) <= 40
    assert "sex = F" in names and "region = north" in names and "smoker = True" in names
    assert "age: top 25%" in names and "income missing" in names
    assert not any(n.startswith("patient_id") for n in names)  # identifiers make no segments
    q75 = df.age.quantile(0.75)
    top = next(s for s in segs if s.name == "age: top 25%")
    assert np.array_equal(top.mask(df), (df.age > q75).to_numpy())
    for s in segs:  # every suggestion parses back from its own text
        assert Segment.from_text(s.text).spec == s.spec


def _independent_impact(before, after, member, kept_ids):
    """Removed/added/rate for one segment, by a patient key, without cellsync.diff."""
    in_before = before[member(before)]
    removed = (~in_before["id"].isin(kept_ids)).sum()
    added_rows = after[~after["id"].isin(before["id"])]
    added = member(added_rows).sum()
    return len(in_before), int(member(after).sum()), int(removed), int(added)


def test_impacts_match_pandas_and_flag_only_disproportionate_removals(df):
    df = df.assign(id=np.arange(len(df)))
    # a cleaning step that drops most of the over-80s (and with them, everyone's missing income)
    after = df[~((df.age >= 80) & (df.income.isna() | (df.bmi > 25))) & ~(df.income.isna() & (df.age > 70))]
    segs = [Segment.from_text(t) for t in ("age >= 80", 'sex == "F"', "income is missing", "bmi > 30")]
    diff, match = diff_frames(df, after)
    result = {i.segment: i for i in impacts(segs, df, after, diff, match)}
    overall = diff.rows_removed / len(df)
    assert overall == pytest.approx(1 - len(after) / len(df))
    for seg in segs:
        member = lambda d, s=seg: pd.Series(s.mask(d), index=d.index)
        n_before, n_after, removed, added = _independent_impact(df, after, member, after["id"])
        imp = result[seg.text]
        assert (imp.rows_before, imp.rows_after, imp.rows_removed, imp.rows_added) == (n_before, n_after, removed, added)
        rate = removed / n_before
        assert imp.removal_rate == pytest.approx(rate)
        assert imp.flagged == (rate >= 2 * overall and rate - overall >= 0.05 and n_before >= 20)
    assert result["age >= 80"].flagged and result["income is missing"].flagged
    assert not result['sex == "F"'].flagged and not result["bmi > 30"].flagged


def test_values_moving_rows_between_segments(df):
    after = df.assign(income=df.income.fillna(0))
    diff, match = diff_frames(df, after)
    (imp,) = impacts([Segment.from_text("income is missing")], df, after, diff, match)
    n_missing = int(df.income.isna().sum())
    assert (imp.rows_before, imp.rows_after, imp.rows_removed, imp.rows_left) == (n_missing, 0, 0, n_missing)
    assert imp.values_changed == {"income": n_missing} and not imp.flagged


def test_a_segment_whose_column_is_dropped_follows_the_kept_rows(df):
    after = df[df.age < 90].drop(columns=["age"])
    diff, match = diff_frames(df, after)
    (imp,) = impacts([Segment.from_text("age >= 80")], df, after, diff, match)
    assert imp.rows_before == (df.age >= 80).sum()
    assert imp.rows_removed == (df.age >= 90).sum()
    assert imp.rows_after == ((df.age >= 80) & (df.age < 90)).sum()
    assert "columns gone" in imp.note


def test_tiny_segments_are_never_flagged():
    df = pd.DataFrame({"a": range(100)})
    after = df[df.a > 3]
    diff, match = diff_frames(df, after)
    tiny, big = impacts([Segment.from_text("a == 0"), Segment.from_text("a < 30")], df, after, diff, match)
    assert tiny.removal_rate == 1.0 and not tiny.flagged  # 1 row is no finding
    assert big.rows_before == 30 and big.flagged

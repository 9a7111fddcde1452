"""Diffs, each number checked against pandas computed independently of cellsync.diff."""

import numpy as np
import pandas as pd
import pytest

from cellsync.diff import diff_frames, ks_statistic


@pytest.fixture
def df():
    rng = np.random.default_rng(3)
    n = 400
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(0, 100, n),
            "income": np.where(rng.random(n) < 0.2, np.nan, rng.normal(40, 10, n)),
            "region": rng.choice(["n", "s", "e", "w"], n),
        }
    )


def changed_by_key(before, after, key, column):
    """Values of `column` that differ between rows with the same key (NaN == NaN)."""
    m = before[[key, column]].merge(after[[key, column]], on=key, suffixes=("_b", "_a"))
    b, a = m[f"{column}_b"], m[f"{column}_a"]
    return int((~((b == a) | (b.isna() & a.isna()))).sum())


def test_dropna_removes_exactly_the_missing_rows(df):
    after = df.dropna(subset=["income"])
    d, m = diff_frames(df, after)
    assert d.rows_removed == df["income"].isna().sum()
    assert d.rows_added == 0 and d.rows_kept == len(after)
    assert d.row_identity == "index" and d.values_changed == {}
    assert {c.column: c.missing_after for c in d.columns}["income"] == 0
    assert {c.column: c.missing_before for c in d.columns}["income"] == df["income"].isna().sum()
    removed_ids = set(df["id"]) - set(after["id"])
    assert set(df["id"].to_numpy()[np.setdiff1d(np.arange(len(df)), m.old_pos)]) == removed_ids


def test_filter_then_reset_index_follows_rows_by_content(df):
    after = df[df["age"] >= 30].reset_index(drop=True)
    d, _ = diff_frames(df, after)
    assert d.row_identity == "content"
    assert d.rows_removed == (df["age"] < 30).sum() and d.rows_added == 0
    assert d.values_changed == {}


def test_sort_then_reset_is_a_reorder_not_a_rewrite(df):
    after = df.sort_values("income").reset_index(drop=True)
    d, _ = diff_frames(df, after)
    assert (d.rows_removed, d.rows_added, d.values_changed) == (0, 0, {})
    assert d.reordered


def test_loc_assignment_counts_changed_values(df):
    after = df.copy()
    after.loc[after["age"] > 90, "income"] = 0.0
    d, _ = diff_frames(df, after)
    assert d.values_changed == {"income": changed_by_key(df, after, "id", "income")}
    assert d.rows_removed == 0 and not d.reordered


def test_fillna_counts_filled_values(df):
    after = df.assign(income=df["income"].fillna(df["income"].median()))
    d, _ = diff_frames(df, after)
    assert d.values_changed == {"income": int(df["income"].isna().sum())}


def test_rename_drop_add_and_retype(df):
    after = df.rename(columns={"region": "area"}).drop(columns=["age"])
    after["flag"] = after["income"] > 40
    after = after.astype({"id": "int32"})
    d, _ = diff_frames(df, after)
    assert d.columns_renamed == {"region": "area"}
    assert d.columns_removed == ("age",)
    assert d.columns_added == ("flag",)
    assert {k: (v.before, v.after) for k, v in d.dtype_changes.items()} == {"id": ("int64", "int32")}
    assert d.values_changed == {}  # same numbers, new type


def test_astype_to_text_changes_the_type_not_the_values(df):
    """Ages written as text read the same: a change of type, said as one, not 400 changed values;
    a conversion that alters what a value reads (1.7 -> 1) is a changed value."""
    after = df.astype({"age": str})
    d, _ = diff_frames(df, after)
    assert d.values_changed == {} and d.dtype_changes["age"].after == str(after["age"].dtype)
    rounded = df.assign(income=df["income"].fillna(0).astype(int))
    d, _ = diff_frames(df, rounded)
    reads_differently = (df["income"].astype(str) != rounded["income"].astype(str)) & ~(df["income"].isna() & rounded["income"].isna())
    assert d.values_changed == {"income": int(reads_differently.sum())}


def test_drop_duplicates_with_non_unique_index():
    base = pd.DataFrame({"k": [1, 1, 2, 3, 3, 3], "v": list("aabccc")}, index=[0, 0, 1, 1, 2, 2])
    after = base.drop_duplicates()
    d, _ = diff_frames(base, after)
    assert d.row_identity == "content"
    assert d.rows_removed == base.duplicated().sum() == 3
    assert d.rows_kept == len(after)


def test_concat_adds_rows(df):
    extra = df.sample(15, random_state=2).assign(id=lambda x: x["id"] + 10_000)
    after = pd.concat([df, extra], ignore_index=True)
    d, _ = diff_frames(df, after)
    assert (d.rows_removed, d.rows_added) == (0, 15)


def test_merge_adds_columns_keeps_rows(df):
    lookup = pd.DataFrame({"region": ["n", "s", "e", "w"], "beds": [1, 2, 3, 4]})
    after = df.merge(lookup, on="region", how="left")
    d, _ = diff_frames(df, after)
    assert (d.rows_removed, d.rows_added) == (0, 0)
    assert d.columns_added == ("beds",)
    assert d.values_changed == {}


def test_set_index_moves_a_column_into_the_index(df):
    after = df.set_index("id")
    d, _ = diff_frames(df, after)
    assert d.columns_removed == ("id",)
    assert (d.rows_removed, d.rows_added, d.values_changed) == (0, 0, {})
    assert d.index_changed


def test_duplicate_column_labels_pair_by_occurrence():
    a = pd.DataFrame([[1, 2, 3], [4, 5, 6]], columns=["x", "x", "y"])
    b = a.copy()
    b.iloc[0, 1] = 50
    d, _ = diff_frames(a, b)
    assert d.values_changed == {"x": 1}
    assert [c.column for c in d.columns] == ["x", "x", "y"]


def test_reshape_reports_columns_but_no_row_counts(df):
    agg = df.groupby("region", as_index=False)["income"].mean()
    d, _ = diff_frames(df, agg, follow_rows=False)
    assert d.row_identity == "reshape"
    assert (d.rows_before, d.rows_after, d.rows_removed, d.rows_added) == (len(df), 4, 0, 0)
    assert set(d.columns_removed) == {"id", "age"}


def test_no_change_is_no_change(df):
    d, m = diff_frames(df, df.copy())
    assert not d.changed and m.same_columns == {i: i for i in range(df.shape[1])}


def test_distribution_shift_figures(df):
    after = df[df["age"] >= 50]
    d, _ = diff_frames(df, after)
    shift = {c.column: c for c in d.columns}
    x, y = df["age"].to_numpy(float), after["age"].to_numpy(float)
    grid = np.sort(np.concatenate([x, y]))
    expected_ks = np.max(
        np.abs(
            np.searchsorted(np.sort(x), grid, "right") / len(x)
            - np.searchsorted(np.sort(y), grid, "right") / len(y)
        )
    )
    assert shift["age"].shift_metric == "ks" and shift["age"].shift == pytest.approx(expected_ks)
    p = df["region"].value_counts(normalize=True)
    q = after["region"].value_counts(normalize=True).reindex(p.index, fill_value=0)
    assert shift["region"].shift_metric == "tv"
    assert shift["region"].shift == pytest.approx(0.5 * (p - q).abs().sum())


def test_ks_statistic_bounds():
    x = np.arange(100.0)
    assert ks_statistic(x, x) == 0
    assert ks_statistic(x, x + 1000) == 1


def test_object_columns_with_lists_compare_by_value():
    a = pd.DataFrame({"tags": [["a"], ["b", "c"], []], "n": [1, 2, 3]})
    b = a.copy()
    b.at[1, "tags"] = ["b"]
    d, _ = diff_frames(a, b)
    assert d.values_changed == {"tags": 1}

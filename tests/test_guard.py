"""The number guard: fabricated numbers are caught, true ones (rounded, as percentages) pass."""

import pytest

from cellsync.explain.facts import FactSheet, unverified_numbers


@pytest.fixture
def facts():
    return FactSheet.from_dict(dict(
        cell=1, execution_count=8, code='patients = patients.dropna(subset=["income"])\nx = patients[patients.age >= 80]',
        status="ok",
        frames=({"name": "patients", "version": "v2", "change": "rebound", "parent": "patients", "rows_before": 13204,
                 "rows_after": 12000, "rows_removed": 1204, "rows_added": 0, "n_cols": 9,
                 "columns_added": [], "columns_removed": [], "columns_renamed": {}, "dtype_changes": {},
                 "values_changed": {}},),
        segments=({"frame": "patients", "segment": "age >= 80", "name": "80 and over", "rows_before": 1300,
                   "rows_after": 897, "rows_removed": 403, "rows_added": 0, "removal_rate": 0.31,
                   "overall_removal_rate": 0.0912, "flagged": True},),
        metrics=({"name": "val_auc", "value": 0.9438, "previous": 0.91, "segment": None},),
    ))


@pytest.mark.parametrize(
    "text",
    [
        "Removed the 1,204 patients whose income was not recorded.",
        "Removed 1204 of 13,204 rows (9% of all patients, but 31% of patients over 80 - flagged).",
        "That is 9.1% overall.",
        "Roughly 1,200 rows went.",
        "AUC rose from 0.91 to 0.94 (+0.0338).",
        "AUC is now 94.4%.",
        "403 of the 1,300 patients aged 80 or more were removed, 3.4 times the overall rate.",
        "12,000 rows remain in [cell 8].",
        "It has 9 columns.",
    ],
)
def test_true_numbers_pass(facts, text):
    assert unverified_numbers(text, facts) == []


@pytest.mark.parametrize(
    "text, bad",
    [
        ("Removed 1,240 patients.", ["1,240"]),
        ("This affected 37% of patients.", ["37%"]),
        ("AUC rose to 0.97.", ["0.97"]),
        ("Roughly 1,000 rows went.", ["1,000"]),
        ("About 500 elderly patients were removed, 14.2% overall.", ["500", "14.2%"]),
        ("It has 19 columns.", ["19"]),
    ],
)
def test_fabricated_numbers_are_caught(facts, text, bad):
    assert unverified_numbers(text, facts) == bad


def test_numbers_inside_words_are_not_numbers(facts):
    assert unverified_numbers("Columns x2 and bmi_30 were kept; see [cell 99].", facts) == []

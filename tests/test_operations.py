"""The operation model on the idioms that made false sentences (issue 11), in a real IPython
shell with the extension loaded: each test checks the recorded kind, parent and numbers
against pandas / scikit-learn computed here, and the sentence an expert reads."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cellsync
from cellsync.cli import main
from helpers import entries, frames_of, recorded, run


def cell(shell, index=-1) -> dict:
    return entries(recorded(shell))[index]


def op(frame: dict) -> dict:
    return frame["operation"] or {}


def test_rewriting_every_value_is_a_rewrite_not_rows_removed_and_added(shell):
    run(shell, "h = pd.Series(np.where(np.arange(500) % 5 == 0, np.nan, np.arange(500.0)), name='h')")
    run(shell, "X = pd.DataFrame({'a': np.arange(20.0), 'b': np.arange(20) % 3})")
    before_h, before_x = shell.user_ns["h"].copy(), shell.user_ns["X"].copy()
    run(shell, "h = h + 1\nX = X * 2")
    after_h, after_x = shell.user_ns["h"], shell.user_ns["X"]
    st = recorded(shell)
    frames = frames_of(st)
    h, x = frames["h"], frames["X"]
    expected_h = int((before_h.notna() & (before_h != after_h)).sum())
    assert (h["rows_removed"], h["rows_added"], h["values_changed"]) == (0, 0, {"h": expected_h})
    assert x["values_changed"] == {c: int((before_x[c] != after_x[c]).sum()) for c in "ab" if (before_x[c] != after_x[c]).any()}
    assert (x["rows_removed"], x["rows_added"]) == (0, 0)
    assert op(h)["kind"] == op(x)["kind"] == "columns"
    assert len(st.removed_rows(h["version"])) == 0  # no row was dropped, so none is returned
    summary = entries(st)[-1]["summary"]
    assert f"changed {expected_h} values" in summary and "removed" not in summary and "added" not in summary


def test_a_row_taken_out_as_a_series_is_an_extraction(shell):
    run(shell, "grid = pd.DataFrame(np.arange(15).reshape(3, 5), index=list('abc'), columns=list('PQRST'))")
    run(shell, "first = grid.iloc[0, ::2]")
    e = cell(shell)
    f = frames_of(recorded(shell))["first"]
    assert (op(f)["kind"], op(f)["verb"], f["parent"]) == ("extract", "row", "grid")
    assert f["rows_removed"] == 0 and f["rows_added"] == 0
    expected = shell.user_ns["grid"].iloc[0, ::2]
    assert e["summary"] == f'first is the row "{expected.name}" of the table grid, taken out as a series of {len(expected)} values.'


def test_a_column_taken_out_and_a_series_computed_from_one(shell):
    run(shell, "people = pd.DataFrame({'age': [31, 45, 52, 38], 'city': ['Oslo', 'Rome', 'Oslo', 'Lima']})")
    run(shell, "ages = people['age']\nmeans = people.groupby('city')['age'].transform('mean')")
    frames = frames_of(recorded(shell))
    assert (op(frames["ages"])["kind"], op(frames["ages"])["verb"]) == ("extract", "column")
    means = frames["means"]
    assert (op(means)["kind"], op(means)["verb"]) == ("extract", "derived")
    people = shell.user_ns["people"]
    differ = int((people["age"] != shell.user_ns["means"]).sum())
    assert op(means)["detail"]["changed"] == differ
    summary = cell(shell)["summary"]
    assert 'ages is the column "age" of the table people, as a series of 4 values.' in summary
    assert f'means is computed from the column "age" of the table people: 4 values; {differ} of them differ' in summary


def test_reset_index_of_a_series_moves_labels_into_columns(shell):
    run(shell, "s = pd.Series(range(6), index=pd.MultiIndex.from_product([['x', 'y'], [1, 2, 3]]), name='v')")
    run(shell, "flat = s.reset_index(name='n')")
    f = frames_of(recorded(shell))["flat"]
    assert (op(f)["kind"], op(f)["verb"], f["parent"]) == ("relabel", "reset_index", "s")
    assert f["rows_removed"] == f["rows_added"] == 0
    summary = cell(shell)["summary"]
    assert "removed" not in summary and 'moved the row labels into the columns "level_0" and "level_1"' in summary


def test_train_test_split_is_a_split_with_its_sizes_and_parents_by_position(shell):
    run(shell, "from sklearn.datasets import load_iris\nfrom sklearn.model_selection import train_test_split\n"
               "X, y = load_iris(return_X_y=True, as_frame=True)")
    run(shell, "Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=1)")
    frames = frames_of(recorded(shell))
    ns = shell.user_ns
    assert {n: (f["parent"], op(f)["kind"], f["rows_after"]) for n, f in frames.items()} == {
        "Xtr": ("X", "split", len(ns["Xtr"])), "Xte": ("X", "split", len(ns["Xte"])),
        "ytr": ("y", "split", len(ns["ytr"])), "yte": ("y", "split", len(ns["yte"])),
    }
    summary = cell(shell)["summary"]
    n, tr, te = len(ns["X"]), len(ns["Xtr"]), len(ns["Xte"])
    assert summary.count("Split ") == 2 and "removed" not in summary
    assert f"Split the table X ({n} rows) into Xtr ({tr} rows, {100 * tr / n:.1f}%) and Xte ({te} rows, {100 * te / n:.1f}%)" in summary
    assert f"Split the series y ({n} values) into ytr ({tr} values" in summary
    # the same split of NumPy arrays: the names hold arrays now, which is not "deleted"
    run(shell, "Xtr, Xte, ytr, yte = train_test_split(X.to_numpy(), y.to_numpy(), test_size=0.3, random_state=1)")
    e = cell(shell)
    assert {f["name"]: op(f)["kind"] for f in e["frames"]} == dict.fromkeys(["Xtr", "Xte", "ytr", "yte"], "not_table")
    assert f"Xtr now holds a NumPy array of {tr} × 4" in e["summary"] and "deleted" not in e["summary"]


def test_dropna_of_columns_drops_columns_not_rows(shell):
    run(shell, "m = pd.DataFrame({'a': [1, None, 3], 'b': [1, 2, 3], 'c': [None, None, 1.0]})")
    run(shell, "m2 = m.dropna(axis='columns')")
    f = frames_of(recorded(shell))["m2"]
    m = shell.user_ns["m"]
    assert f["columns_removed"] == [c for c in m.columns if m[c].isna().any()]
    assert op(f)["kind"] == "columns" and f["rows_removed"] == 0
    summary = cell(shell)["summary"]
    assert 'dropped the columns "a" and "c", which had missing values' in summary and "rows with missing" not in summary


def test_an_index_replaced_is_said_everywhere(shell):
    run(shell, "m = pd.DataFrame({'a': [1, 2, 3]})")
    run(shell, "m.index = pd.to_datetime(['2020-01-01', '2020-01-02', '2020-01-03'])")
    st = recorded(shell)
    f = frames_of(st)["m"]
    assert f["index_changed"] is True and op(f)["kind"] == "relabel"
    assert f["index"]["before"]["kind"] == "positions" and f["index"]["after"]["kind"] == "dates"
    assert "dates 2020-01-01 to 2020-01-03 now" in cell(shell)["summary"]
    shown = CliRunner().invoke(main, ["show", str(st.path)])
    assert "row labels: positions 0 to 2 -> dates 2020-01-01 to 2020-01-03" in shown.output
    as_json = json.loads(CliRunner().invoke(main, ["show", str(st.path), "--json"]).output)
    assert as_json["cells"][-1]["frames"][0]["index_changed"] is True


def test_a_value_added_to_a_series_is_a_value_not_a_column(shell):
    run(shell, "data = pd.Series([1.0, 2.0, 3.0, 4.0], index=list('abcd'))")
    run(shell, "data['e'] = 1.25")
    f = frames_of(recorded(shell))["data"]
    assert (op(f)["kind"], f["rows_added"]) == ("add_rows", 1)
    assert cell(shell)["summary"] == "Added 1 value to the series data (now 5 values)."


def test_an_expression_not_assigned_changes_nothing(shell):
    run(shell, "t = pd.Series(['A', 'B'])")
    run(shell, "t.str.lower()")
    e = cell(shell)
    assert e["frames"] == [] and e["summary"] == "Showed t.str.lower() without saving it. No data changed."


def test_a_model_transform_names_the_estimator_not_dropped_columns(shell):
    run(shell, "from sklearn.datasets import load_iris\nX = load_iris(as_frame=True).data")
    run(shell, "from sklearn.decomposition import PCA\ncomp = pd.DataFrame(PCA(2).fit_transform(X), columns=['pc1', 'pc2'])")
    f = frames_of(recorded(shell))["comp"]
    assert (op(f)["kind"], op(f)["detail"]["estimator"], f["parent"]) == ("model_transform", "PCA", "X")
    assert cell(shell)["summary"] == "comp is the output of PCA (fit_transform) on X: 150 rows and 2 columns."


def test_a_cell_that_stops_says_only_what_the_data_shows(shell):
    run(shell, "df = pd.DataFrame({'a': [1.0, None, 3.0]})")
    run(shell, "df = df.dropna()\nraise ValueError('boom')\ndf['predicted'] = 1")
    summary = cell(shell)["summary"]
    assert summary.startswith("This cell stopped with an error (ValueError: boom). Before it stopped, removed 1 of the 3 rows")
    assert "predicted" not in summary


def test_rebinding_to_unrelated_data_records_no_wrong_parent(shell):
    run(shell, "events = pd.DataFrame({'t': np.arange(400), 'a': [None] * 20 + ['ok'] * 380})")
    run(shell, "words = pd.Series([v for v in events['a'].dropna()])")
    f = frames_of(recorded(shell))["words"]
    # positions 0..n-1 on both sides, no column in common: not "the last 20 rows removed"
    assert f["parent"] is None and op(f)["kind"] == "create"


def test_ambiguous_unpacking_takes_the_parent_that_shares_the_data(shell):
    run(shell, "left = pd.DataFrame({'k': range(10), 'v': range(10)}, index=range(100, 110))\n"
               "right = pd.Series(range(10), index=range(100, 110), name='target')")
    run(shell, "def halves(a, b):\n    return a.iloc[:5], b.iloc[:5]\n\nl5, r5 = halves(left, right)")
    frames = frames_of(recorded(shell))
    assert frames["l5"]["parent"] == "left" and frames["r5"]["parent"] == "right"


def test_filter_on_a_segments_own_column_is_by_construction_not_a_flag(shell, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "flag_min_rows", 5)
    rng = np.random.default_rng(0)
    n = 400
    shell.user_ns["raw"] = pd.DataFrame({
        "age": rng.integers(20, 95, n),
        "income": np.where(rng.random(n) < 0.15, np.nan, rng.normal(40, 8, n)),
        "site": rng.choice(["north", "south"], n),
    })
    run(shell, "patients = raw.copy()")
    run(shell, "patients = patients.dropna(subset=['income'])")
    st = recorded(shell)
    impacts = {s["segment"]: s for s in entries(st)[-1]["segments"]}
    missing = impacts["income is missing"]
    assert missing["removal_rate"] == 1.0 and missing["by_construction"] and not missing["flagged"]
    assert not any(s["flagged"] for s in impacts.values() if s["by_construction"])
    assert "Flagged" not in entries(st)[-1]["summary"]


def test_a_filter_on_another_column_is_still_a_finding(shell, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "flag_min_rows", 5)
    shell.user_ns["raw"] = pd.DataFrame({"age": np.arange(100), "x": np.where(np.arange(100) >= 80, np.arange(100) % 3, 0)})
    run(shell, "import cellsync\ncellsync.segment('old', 'age >= 80')\npeople = raw.copy()")
    run(shell, "people = people[people.x != 1]")
    impact = next(s for s in cell(shell)["segments"] if s["segment"] == "age >= 80")
    raw = shell.user_ns["raw"]
    old = raw[raw.age >= 80]
    assert impact["rows_removed"] == int((old.x == 1).sum()) and impact["flagged"] and not impact["by_construction"]


def test_suggested_value_segments_follow_a_rewritten_column(shell):
    run(shell, "iris = pd.DataFrame({'species': ['Iris setosa', 'Iris virginica', 'Iris versicolor'] * 20, 'w': np.arange(60.0)})")
    before = {s.text for s in recorded(shell).segments() if "species" in s.columns}
    assert 'species == "Iris setosa"' in before
    run(shell, "iris['species'] = iris['species'].str.split(' ').str[1]")
    st = recorded(shell)
    now = {s.text for s in st.segments() if "species" in s.columns}
    assert now == {f'species == "{v}"' for v in ("setosa", "virginica", "versicolor")}
    assert before <= {s.text for s in st.segments(retired=True)}  # kept for history, not offered
    # every value segment now matches rows of the current version
    frame = shell.user_ns["iris"]
    assert all(s.mask(frame).any() for s in st.segments() if "species" in s.columns)


def test_no_segments_on_a_models_target_or_an_id(shell):
    shell.user_ns["raw"] = pd.DataFrame({
        "patient_id": np.arange(300) % 150, "age": np.arange(300) % 90,
        "readmitted": np.arange(300) % 2, "ward": np.arange(300) % 3,
    })
    run(shell, "from sklearn.tree import DecisionTreeClassifier\n"
               "model = DecisionTreeClassifier(max_depth=2).fit(raw[['age', 'ward']], raw['readmitted'])\n"
               "train = raw.copy()")
    columns = {c for s in recorded(shell).segments("train") for c in s.columns}
    assert "ward" in columns and "readmitted" not in columns and "patient_id" not in columns


@pytest.mark.parametrize("code, name", [
    ("accuracy_score(yte, clf.predict(Xte))", "accuracy_score"),
    ("clf.score(Xte, yte)", "clf.score"),
])
def test_a_metric_the_cell_displays_is_captured(shell, code, name):
    run(shell, "from sklearn.datasets import load_iris\nfrom sklearn.model_selection import train_test_split\n"
               "from sklearn.linear_model import LogisticRegression\nfrom sklearn.metrics import accuracy_score\n"
               "X, y = load_iris(return_X_y=True, as_frame=True)\n"
               "Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)\n"
               "clf = LogisticRegression(max_iter=500).fit(Xtr, ytr)")
    run(shell, code)
    ns = shell.user_ns
    expected = float((clf := ns["clf"]).score(ns["Xte"], ns["yte"]))
    assert expected == pytest.approx(float((clf.predict(ns["Xte"]) == ns["yte"]).mean()))
    metrics = {m["name"]: m for m in cell(shell)["metrics"]}
    assert metrics[name]["value"] == pytest.approx(expected) and metrics[name]["source"] == "displayed"


def test_cross_val_score_is_captured_as_its_mean(shell):
    run(shell, "from sklearn.datasets import load_iris\nfrom sklearn.model_selection import cross_val_score\n"
               "from sklearn.tree import DecisionTreeClassifier\nX, y = load_iris(return_X_y=True)")
    run(shell, "cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5)")
    from sklearn.datasets import load_iris
    from sklearn.model_selection import cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_iris(return_X_y=True)
    expected = cross_val_score(DecisionTreeClassifier(random_state=0), X, y, cv=5).mean()
    (m,) = [m for m in cell(shell)["metrics"] if m["segment"] is None]
    assert m["name"] == "cross_val_score (mean of 5)" and m["value"] == pytest.approx(expected)


def test_integer_tuple_and_none_column_labels_work_everywhere(shell):
    from cellsync.extension import current_tracker

    run(shell, "a = pd.DataFrame(np.random.default_rng(0).integers(0, 4, size=(60, 3)))")
    run(shell, "a = a[a[0] > 0]")
    run(shell, "mi = pd.DataFrame(np.arange(24).reshape(6, 4) % 3, "
               "columns=pd.MultiIndex.from_product([['Ohio', 'Texas'], ['Green', 'Red']]))")
    run(shell, "mi = mi[mi[('Ohio', 'Green')] > 0]")
    run(shell, "nn = pd.DataFrame({None: [1, 2, 3] * 10, 'b': list('xyz') * 10})\nnn = nn[nn['b'] != 'x']")
    st = recorded(shell)
    assert current_tracker().problems == {}
    a = frames_of(st, 1)["a"]
    before = shell.user_ns["a"]
    assert a["rows_after"] == len(before)
    assert any(s.columns == ["0"] for s in st.segments("a"))  # suggestions on an integer label


@pytest.mark.parametrize("how", ["left", "inner"])
def test_a_join_says_its_keys_and_how_many_rows_found_a_match(shell, how):
    run(shell, "left = pd.DataFrame({'k': [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'v': range(10)})\n"
               "right = pd.DataFrame({'k': [2, 4, 6, 8, 10, 12], 'w': list('abcdef')})")
    run(shell, f"m = left.merge(right, on='k', how='{how}')")
    f = frames_of(recorded(shell))["m"]
    left, right, m = shell.user_ns["left"], shell.user_ns["right"], shell.user_ns["m"]
    matched = int(left["k"].isin(right["k"]).sum())
    assert (op(f)["kind"], f["parent"], op(f)["detail"]["with"]) == ("combine", "left", "right")
    assert (op(f)["detail"]["matched"], op(f)["detail"]["on"], f["rows_after"]) == (matched, ["k"], len(m))
    assert cell(shell)["summary"] == (
        f'The table m joins right to left on "k" ({how} join): {len(m)} rows (left had {len(left)}); '
        f'{matched} of the {len(left)} rows of left found a match; it added the column "w".')


def test_second_audit_idioms(shell):
    """Classes the corpus audit found after the operation model landed: windows keep rows, a
    name rebound to unrelated data has no parent, reindex into a new name, a file written, index
    names set, categories changed, a rename with a new type, np.where, an assigned metric."""
    run(shell, "prices = pd.Series([1.0, 2, 3, 4, 5, 6], index=pd.date_range('2024-01-01', periods=6))")
    run(shell, "avg3 = prices.rolling(3).mean()")
    f = frames_of(recorded(shell))["avg3"]
    expected = int((shell.user_ns["avg3"] != shell.user_ns["prices"]).sum())  # NaN != x counts
    assert (op(f)["kind"], op(f)["verb"], f["rows_removed"], f["rows_added"]) == ("columns", "rolling", 0, 0)
    differ = "all of them" if expected == 6 else f"{expected} of them"
    assert cell(shell)["summary"] == ("The series avg3 comes from prices (computed a rolling window): 6 values with "
                                      f"the same labels; {differ} differ from prices.")
    run(shell, "data = pd.DataFrame({'a': [1, 2]})")
    run(shell, "data = {'x': [1, 2, 3]}\ndata = pd.DataFrame(data)")
    f = frames_of(recorded(shell))["data"]
    assert f["parent"] is None and op(f)["kind"] == "create"
    run(shell, "grid = pd.DataFrame({'v': [1, 2, 3]}, index=list('xyz'))")
    run(shell, "wider = grid.reindex(['w', 'x', 'y', 'z'])")
    assert cell(shell)["summary"].startswith("The table wider has the 3 rows of grid and 1 new label (reindex): 4 rows")
    run(shell, "pop = pd.Series([1, 2], index=['Oslo', 'Rome'])")
    run(shell, "pop.index.name = 'city'")
    assert cell(shell)["summary"] == 'In the series pop, named the row labels "city"; all 2 values are unchanged.'
    run(shell, "cat = pd.Series(list('abca')).astype('category')")
    run(shell, "cat2 = cat.cat.set_categories(['a', 'b', 'c', 'd'])")
    assert "its type is category (4 categories) (in cat: category (3 categories))" in cell(shell)["summary"]
    run(shell, "mixed = pd.DataFrame({'k': [1, 2, 3], 'w': [1.5, 2.5, 3.5]})")
    run(shell, "both = pd.DataFrame(mixed.to_numpy(), columns=['one', 'two'])")
    f = frames_of(recorded(shell))["both"]
    assert f["columns_renamed"] == {"k": "one", "w": "two"} and f["columns_added"] == [] and f["values_changed"] == {}
    run(shell, "people = pd.DataFrame({'age': [30, 50, 70]})")
    run(shell, "people['band'] = np.where(people['age'] > 40, 'over 40', '40 or under')")
    assert cell(shell)["summary"].startswith('Chose values by a condition in the table people: added the column "band"')
    run(shell, "grid.to_csv(__import__('os').devnull)")
    assert cell(shell)["summary"].startswith("Exported grid (grid.to_csv(") and "without saving" not in cell(shell)["summary"]
    run(shell, "people.head()\npeople.tail()")
    assert cell(shell)["summary"] == ("Evaluated people.head() without keeping the result. "
                                      "Showed people.tail() without saving it. No data changed.")
    run(shell, "from sklearn.datasets import load_iris\nfrom sklearn.model_selection import cross_val_score\n"
               "from sklearn.tree import DecisionTreeClassifier\nXi, yi = load_iris(return_X_y=True)\n"
               "scores = cross_val_score(DecisionTreeClassifier(random_state=0), Xi, yi, cv=5)")
    (m,) = [m for m in cell(shell)["metrics"] if m["segment"] is None]
    assert (m["name"], m["source"]) == ("cross_val_score (mean of 5)", "assigned")
    assert m["value"] == pytest.approx(float(shell.user_ns["scores"].mean()))


def test_a_type_verb_is_said_only_where_a_type_changed_and_periods_are_not_dates(shell):
    run(shell, "train = pd.DataFrame({'Sex': ['female', 'male', 'female']})")
    run(shell, "train['IsFemale'] = (train['Sex'] == 'female').astype(int)")
    assert cell(shell)["summary"] == 'In the table train, added the column "IsFemale" (all 3 rows kept).'
    run(shell, "ts = pd.Series([1.0, 2.0], index=pd.to_datetime(['2000-01-31', '2000-02-29']))")
    run(shell, "pts = ts.to_period('M')")
    summary = cell(shell)["summary"]
    assert "dates 2000-01-31 to 2000-02-29 before, periods 2000-01 to 2000-02 now" in summary


def test_a_split_in_two_statements_and_one_kept_under_the_parents_name(shell):
    run(shell, "df = pd.DataFrame({'v': range(100)}, index=[f'r{i}' for i in range(100)])")
    run(shell, "train = df.sample(frac=0.8, random_state=0)\ntest = df.drop(train.index)")
    assert cell(shell)["summary"].startswith("Split the table df (100 rows) into train (80 rows, 80.0%) and test (20 rows, 20.0%)")
    run(shell, "from sklearn.model_selection import train_test_split\ndf, holdout = train_test_split(df, test_size=0.25, random_state=0)")
    frames = frames_of(recorded(shell))
    assert {n: op(f)["kind"] for n, f in frames.items()} == {"df": "split", "holdout": "split"}
    assert cell(shell)["summary"].startswith("Split the table df (100 rows) into df (75 rows, 75.0%) and holdout (25 rows, 25.0%)")


def test_an_update_on_repeated_labels_is_an_edit(shell):
    run(shell, "df = pd.concat([pd.DataFrame({'v': [1.0, None, 3.0]}), pd.DataFrame({'v': [4.0]})])\ndf = df.dropna()")
    run(shell, "df.update(pd.DataFrame({'v': [10.0]}, index=[0]))")
    f = frames_of(recorded(shell))["df"]
    assert (f["rows_removed"], f["rows_added"], f["values_changed"]) == (0, 0, {"v": 2})  # both rows labelled 0
    assert cell(shell)["summary"] == 'In the table df, changed 2 values in "v" (all 3 rows kept).'


def test_odd_columns_neither_break_nor_invent_changes(shell, capsys):
    """Duplicate labels, objects whose repr raises, Arrow list columns, inf and all-missing
    columns: no problem recorded, nothing printed, and a filter changes no value."""
    from cellsync.extension import current_tracker

    run(shell, "import pyarrow as pa\n"
               "class Bad:\n    def __repr__(self):\n        raise RuntimeError('no repr')\n"
               "dup = pd.DataFrame([[1, 2, 3], [4, 5, 6], [1, 2, 9]], columns=['a', 'a', 'b'])\n"
               "objs = pd.DataFrame({'o': [Bad(), Bad(), 1], 'v': [1, 2, 3]})\n"
               "lists = pd.DataFrame({'l': pd.array([[1, 2], [3], None], dtype=pd.ArrowDtype(pa.list_(pa.int64()))), 'v': [1, 2, 3]})\n"
               "weird = pd.DataFrame({'x': [np.inf, -np.inf, np.nan], 'y': [np.nan] * 3, 'v': [1, 2, 3]})")
    run(shell, "dup = dup[dup['b'] > 3]\nobjs = objs[objs.v > 1]\nlists = lists[lists.v > 1]\nweird = weird[weird.v > 1]")
    frames = frames_of(recorded(shell))
    out = capsys.readouterr()
    assert current_tracker().problems == {}
    assert "Traceback" not in out.out + out.err and "Warning" not in out.out + out.err
    for name in ("dup", "objs", "lists", "weird"):
        f = frames[name]
        assert (op(f)["kind"], f["rows_removed"], f["values_changed"]) == ("filter", 1, {}), (name, f)


def test_review_findings(shell):
    """A review's reproductions: each sentence must be true."""
    run(shell, "from sklearn.linear_model import LinearRegression\n"
               "rng = np.random.default_rng(0)\n"
               "people = pd.DataFrame({'country': ['US'] * 40, 'sex': rng.choice(['F', 'M'], 40), 'age': rng.integers(1, 90, 40)})\n"
               "people = people.sort_values('age').reset_index(drop=True)")
    run(shell, "adults = people[people.age >= 18].reset_index(drop=True)")
    f = frames_of(recorded(shell))["adults"]
    young = int((shell.user_ns["people"].age < 18).sum())
    assert (op(f)["kind"], f["rows_removed"], f["values_changed"]) == ("filter", young, {})
    run(shell, "sorted_ = people.sort_values('sex', kind='stable').reset_index(drop=True)")
    f = frames_of(recorded(shell))["sorted_"]
    assert f["values_changed"] == {} and f["rows_removed"] == f["rows_added"] == 0
    run(shell, "df = pd.DataFrame({'a': np.arange(8.0), 'b': np.arange(8.0) * 2})\n"
               "model = LinearRegression().fit(df[['a']], df['b'])")
    run(shell, "df['pred'] = model.predict(df[['a']])")
    assert cell(shell)["summary"] == 'In the table df, added the column "pred" (all 8 rows kept).'
    run(shell, "m = pd.DataFrame({'a': [1, None, None], 'b': [None, None, 3]})")
    run(shell, "m2 = m.dropna(how='all')\nm3 = m.dropna(thresh=2)")
    summary = cell(shell)["summary"]
    assert "without a missing value" not in summary
    assert "The table m2 holds 2 of the 3 rows of m (66.7%) that are not missing every value" in summary
    run(shell, "d = pd.DataFrame({'k': [1, 1, 2, 3, 3]})")
    run(shell, "d.drop_duplicates(keep=False, inplace=True)")
    assert "that occurred more than once (every copy)" in cell(shell)["summary"]
    run(shell, "cust = pd.DataFrame({'tags': [['a', 'b'], ['c']]})")
    run(shell, "cust['tag'] = cust['tags'].str.join(',')")
    f = frames_of(recorded(shell))["cust"]
    assert op(f)["kind"] == "columns" and "Joined" not in cell(shell)["summary"]
    run(shell, "units = pd.DataFrame({'city': ['a', 'b', 'c'], 'beds': [1, 2, 3]})\n"
               "vis = pd.DataFrame({'city': ['a', 'a', 'b', 'b', 'z'], 'age': [1, 2, 3, 4, 5]})")
    run(shell, "m4 = pd.merge(units, vis, on='city')")
    assert "changed" not in cell(shell)["summary"]


def test_review_findings_second_batch(shell):
    run(shell, "df = pd.DataFrame({'id': range(6), 'city': list('abcabc'), 'age': range(20, 26)})")
    run(shell, "ex = df.assign(tags=[[1, 2]] * 6).explode('tags')")
    summary = cell(shell)["summary"]
    assert "new labels" not in summary and "12 rows" in summary
    run(shell, "side = pd.concat([df[['id']], df[['age']]], axis=1)")
    assert cell(shell)["summary"].startswith("The table side puts the columns of df")
    run(shell, "twice = pd.concat([df, df])")
    assert "other tables" not in cell(shell)["summary"]
    run(shell, "ga = df.groupby('city').apply(lambda x: x.head(1))")
    f = frames_of(recorded(shell))["ga"]
    assert op(f)["kind"] == "changed" and "its rows are not rows of" not in cell(shell)["summary"]

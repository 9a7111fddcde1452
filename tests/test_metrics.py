"""Metrics captured from the namespace and logged explicitly, checked against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from helpers import entries, recorded, run


def metrics_of(store, cell=-1):
    return entries(store)[cell]["metrics"]


def test_metric_like_variables_are_captured_with_their_change(shell):
    run(shell, "val_f1 = 0.81\ntest_accuracy = 0.9\nn_rows = 10\nlearning_rate = 0.1")
    run(shell, "val_f1 = 0.84")
    run(shell, "x = 1")  # nothing changed: nothing recorded
    run(shell, "val_f1 = float('nan')")
    store = recorded(shell)
    first = {m["name"]: m for m in metrics_of(store, 0)}
    assert set(first) == {"val_f1", "test_accuracy"}  # n_rows, learning_rate are not metrics
    second = metrics_of(store, 1)
    assert [(m["name"], m["value"], m["previous"]) for m in second] == [("val_f1", 0.84, 0.81)]
    assert metrics_of(store, 2) == []
    (nan,) = metrics_of(store, 3)
    assert nan["value"] is None and "NaN" in nan["note"] and nan["previous"] == 0.84


def test_dicts_and_classification_reports(shell):
    run(shell, "from sklearn.metrics import classification_report\n"
               "scores = {'accuracy': 0.7, 'f1': 0.6, 'notes': 'x'}\n"
               "report = classification_report([0, 1, 1, 0], [0, 1, 0, 0], output_dict=True)")
    names = {m["name"]: m["value"] for m in metrics_of(recorded(shell))}
    report = skm.classification_report([0, 1, 1, 0], [0, 1, 0, 0], output_dict=True)
    assert names["scores.accuracy"] == 0.7 and names["scores.f1"] == 0.6 and "scores.notes" not in names
    assert names["report.accuracy"] == report["accuracy"]
    assert names["report.macro avg.f1-score"] == pytest.approx(report["macro avg"]["f1-score"])
    assert names["report.1.recall"] == pytest.approx(report["1"]["recall"])


def test_fitted_estimators_are_recorded_once_per_fit(shell):
    run(shell, "from sklearn.linear_model import LogisticRegression\nclf = LogisticRegression(C=0.5)")
    run(shell, "clf.fit(np.array([[0.0, 1], [1, 0], [0, 0], [1, 1]]), [0, 1, 0, 1])")
    run(shell, "y = 1")
    run(shell, "clf.fit(np.array([[0.0, 1], [1, 0], [0, 0], [1, 1]]), [1, 1, 0, 0])")
    store = recorded(shell)
    models = store.models()
    assert [(m["name"], m["fitted"]) for m in models] == [("clf", False), ("clf", True), ("clf", True)]
    assert models[1]["cls"] == "sklearn.LogisticRegression" and models[1]["params"]["C"] == 0.5
    assert models[1]["n_features"] == 2 and models[0]["n_features"] is None


def test_log_metrics(shell, capsys):
    run(shell, "import cellsync\ncellsync.log_metrics(val_auc=0.91, loss=np.float32(0.25))")
    run(shell, "cellsync.log_metrics({'val_auc': 0.93})")
    run(shell, "cellsync.log_metrics(val_auc='high')")
    store = recorded(shell)
    assert [(m["name"], m["value"]) for m in metrics_of(store, 0)] == [("val_auc", 0.91), ("loss", 0.25)]
    assert [(m["name"], m["value"], m["previous"]) for m in metrics_of(store, 1)] == [("val_auc", 0.93, 0.91)]
    err = capsys.readouterr().err
    assert "cellsync: metric 'val_auc' must be a number, not str" in err and "Traceback" not in err


@pytest.fixture
def scored(shell):
    run(shell, "import cellsync\n"
               "rng = np.random.default_rng(5)\n"
               "X = pd.DataFrame({'age': rng.integers(18, 95, 600), 'sex': rng.choice(['F', 'M'], 600)})\n"
               "y = (rng.random(600) < 0.4).astype(int)\n"
               "pred = np.where(X.age >= 80, 1 - y, y)\n"  # the model is wrong for the oldest
               "pred[:30] = 1 - pred[:30]\n"
               "proba = np.clip(pred * 0.7 + rng.random(600) * 0.3, 0, 1)")
    run(shell, "cellsync.segment('elderly', 'age >= 80')")
    run(shell, "cellsync.log_predictions(y, pred, data=X, proba=proba, name='clf')")
    return recorded(shell), shell.user_ns


def test_log_predictions_overall_and_per_segment_match_sklearn(scored):
    store, ns = scored
    X, y, pred, proba = ns["X"], ns["y"], ns["pred"], ns["proba"]
    rows = {(m["name"], m["segment"]): m for m in metrics_of(store) if m["model"] == "clf"}
    assert rows[("accuracy", None)]["value"] == pytest.approx(skm.accuracy_score(y, pred))
    assert rows[("f1", None)]["value"] == pytest.approx(skm.f1_score(y, pred))
    assert rows[("roc_auc", None)]["value"] == pytest.approx(skm.roc_auc_score(y, proba))
    old = (X.age >= 80).to_numpy()
    assert rows[("accuracy", "age >= 80")]["value"] == pytest.approx(skm.accuracy_score(y[old], pred[old]))
    assert rows[("recall", "age >= 80")]["value"] == pytest.approx(skm.recall_score(y[old], pred[old]))
    assert rows[("accuracy", "age >= 80")]["n"] == old.sum()
    women = (X.sex == "F").to_numpy()
    assert rows[("precision", 'sex == "F"')]["value"] == pytest.approx(skm.precision_score(y[women], pred[women]))
    assert rows[("accuracy", "age >= 80")]["value"] < 0.2 < 0.8 < rows[("accuracy", 'sex == "F"')]["value"]


def test_regression_is_detected(shell):
    run(shell, "import cellsync\nyt = np.linspace(0, 10, 50)\nyp = yt + np.sin(yt)\n"
               "cellsync.log_predictions(yt, yp, data=pd.DataFrame({'g': ['a', 'b'] * 25}), name='reg')")
    rows = {(m["name"], m["segment"]): m["value"] for m in metrics_of(recorded(shell))}
    yt = np.linspace(0, 10, 50)
    yp = yt + np.sin(yt)
    assert rows[("mae", None)] == pytest.approx(skm.mean_absolute_error(yt, yp))
    assert rows[("rmse", None)] == pytest.approx(math.sqrt(skm.mean_squared_error(yt, yp)))
    assert rows[("r2", 'g == "a"')] == pytest.approx(skm.r2_score(yt[::2], yp[::2]))


@pytest.mark.parametrize(
    "call, message",
    [
        ("cellsync.log_predictions([1, 0, 1], [1, 0])", "y_true has 3 values but y_pred has 2"),
        ("cellsync.log_predictions([1, '1', 0], [1, 0, 0])", "labels mix number and text"),
        ("cellsync.log_predictions([1, 0], [1, 0], data=pd.DataFrame({'a': [1]}))", "data has 1 rows but there are 2"),
        ("cellsync.log_predictions([], [])", "no predictions to score"),
    ],
)
def test_bad_predictions_are_one_line(shell, capsys, call, message):
    run(shell, "import cellsync")
    capsys.readouterr()
    result = run(shell, call)
    err = capsys.readouterr().err
    assert result.success and message in err and "Traceback" not in err
    assert [m for m in metrics_of(recorded(shell)) if m["source"] == "log_predictions"] == []


def test_a_segment_with_one_class_gets_a_labelled_undefined_auc(shell):
    run(shell, "import cellsync\ncellsync.log_predictions([0, 0, 1, 1], [0, 1, 1, 1], proba=[0.1, 0.6, 0.8, 0.9], "
               "data=pd.DataFrame({'g': ['a', 'a', 'b', 'b']}), name='m')")
    rows = {(m["name"], m["segment"]): m for m in metrics_of(recorded(shell))}
    assert rows[("roc_auc", 'g == "a"')]["value"] is None and rows[("roc_auc", 'g == "a"')]["note"]
    assert rows[("roc_auc", None)]["value"] == pytest.approx(skm.roc_auc_score([0, 0, 1, 1], [0.1, 0.6, 0.8, 0.9]))


def test_calls_without_tracking_warn_and_do_nothing():
    import cellsync

    with pytest.warns(cellsync.CellsyncWarning, match="not tracking"):
        assert cellsync.log_metrics(val_f1=0.5) is None
    with pytest.warns(cellsync.CellsyncWarning):
        assert cellsync.log_predictions([1, 0], [1, 1]) is None

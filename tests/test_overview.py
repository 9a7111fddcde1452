"""The expert's overview of the replayed demo: the flow's numbers equal pandas' counts at each
step, flags are ordered by excess removal, the per-segment scores equal scikit-learn's, and the
CLI prints it (issue 14, the data behind the overview page)."""

import json
import os

import nbformat
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score

import cellsync
from cellsync.cli import main
from cellsync.overview import overview
from helpers import DEMO, entries, make_entry

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def demo_ns():
    """The demo's cells run here, in plain Python: the namespace at the end."""
    ns: dict = {}
    cwd = os.getcwd()
    os.chdir(DEMO.parent)
    try:
        for cell in nbformat.read(DEMO, as_version=4).cells:
            if cell.cell_type != "code" or "fails on purpose" in cell.source:
                continue
            exec(compile(cell.source, "<cell>", "exec"), ns)
    finally:
        os.chdir(cwd)
    return ns


def test_the_flow_follows_the_rows_to_the_split(demo_store, demo_ns):
    ov = overview(cellsync.open_store(demo_store))
    assert ov.frame == "combined" and ov.frames[0] == "combined"
    raw = pd.read_csv(DEMO.parent / "data" / "patients.csv")
    cleaned = raw.rename(columns={"bmi_value": "bmi"}).drop(columns=["notes"]).drop_duplicates()
    kept = cleaned.dropna(subset=["income"])
    adults = kept[kept["age"] >= 18]
    combined, train, test = demo_ns["combined"], demo_ns["train"], demo_ns["test"]
    expected = [
        ("patients", "create", len(raw)),
        ("patients", "filter", len(cleaned)),
        ("patients", "filter", len(kept)),
        ("adults", "filter", len(adults)),
        ("merged", "combine", len(adults)),  # a left join on a key every row has
        ("combined", "combine", len(combined)),
    ]
    assert [(s.frame, s.kind, s.rows_after) for s in ov.steps[:-1]] == expected
    split = ov.steps[-1]
    assert split.kind == "split" and [(b.frame, b.rows) for b in split.branches] == [("train", len(train)), ("test", len(test))]
    assert split.text.startswith(f"Split the table combined ({len(combined):,} rows) into train ({len(train)} rows")
    # the flags each step raised: the dropna hit the 80 and over, the others not by construction
    dropna = ov.steps[2]
    assert "80 and over" in dropna.flags


def test_findings_rank_flags_by_excess_and_match_pandas(demo_store):
    ov = overview(cellsync.open_store(demo_store))
    flags = [f for f in ov.findings if f.kind == "flag"]
    assert flags and [f.excess for f in flags] == sorted((f.excess for f in flags), reverse=True)
    raw = pd.read_csv(DEMO.parent / "data" / "patients.csv")
    before = raw.rename(columns={"bmi_value": "bmi"}).drop(columns=["notes"]).drop_duplicates()
    after = before.dropna(subset=["income"])
    old_before, old_after = int((before.age >= 80).sum()), int((after.age >= 80).sum())
    removed = old_before - old_after
    rate, overall = removed / old_before, (len(before) - len(after)) / len(before)
    top = flags[0]
    assert top.text == (f"80 and over in patients: {removed} of {old_before} removed "
                        f"({100 * rate:.1f}%, against {100 * overall:.1f}% overall)")
    assert top.excess == pytest.approx(rate - overall, abs=1e-6)


def test_model_by_segment_is_worst_first_and_matches_scikit_learn(demo_store, demo_ns):
    ov = overview(cellsync.open_store(demo_store))
    scores = ov.by_segment
    assert scores and [s.value for s in scores] == sorted(s.value for s in scores)
    test, model = demo_ns["test"], demo_ns["model"]
    y, pred = test["readmitted"].to_numpy(), model.predict(test[demo_ns["features"]])
    old = (test["age"] >= 80).to_numpy()
    by_text = {s.segment: s for s in scores}
    assert by_text["age >= 80"].value == pytest.approx(accuracy_score(y[old], pred[old]))
    assert by_text["age >= 80"].rows == int(old.sum())
    assert scores[0].overall == pytest.approx(accuracy_score(y, pred))
    assert not any("readmitted" in s.segment for s in scores)  # never the target itself


def test_open_questions_and_the_cli(demo_store, tmp_path):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(demo_store, store)
    st = cellsync.open_store(store)
    count = next(e["execution_count"] for e in entries(st) if "dropna" in (e["code"] or ""))
    from cellsync import chat
    from cellsync.store import Store

    with Store(store) as writer:  # an expert's question, as the dashboard writes it
        tid = chat.start_thread(writer, "Why were the oldest patients dropped?", "dr. lee", "expert",
                                execution_count=count).id
    ov = overview(cellsync.open_store(store))
    assert [(q.thread, q.execution_count, q.author) for q in ov.questions] == [(tid, count, "dr. lee")]
    cellsync.reply(tid, "Income was missing for them; I'll impute instead.", store=store)
    assert overview(cellsync.open_store(store)).questions == ()  # answered: not open any more
    out = CliRunner().invoke(main, ["overview", str(store)])
    assert out.exit_code == 0 and "Where the rows of combined came from:" in out.output
    assert "⚑ 80 and over in patients" in out.output
    data = json.loads(CliRunner().invoke(main, ["overview", str(store), "--json"]).output)
    assert data["frame"] == "combined" and data["steps"][0]["kind"] == "create"
    bad = CliRunner().invoke(main, ["overview", str(store), "--frame", "nope"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "no table 'nope'" in bad.output


def test_cells_carry_the_notebooks_own_headings(tmp_path):
    """The Markdown heading above each code cell is recorded with it (replay on a real kernel),
    and `cellsync show` groups the timeline under the notebook's headings."""
    from cellsync.replay import replay_notebook

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Cohort study\nSome words."),
        nbformat.v4.new_code_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1, None, 3]})"),
        nbformat.v4.new_markdown_cell("## Cleaning *the* data"),
        nbformat.v4.new_code_cell("df = df.dropna()"),
        nbformat.v4.new_code_cell("df['b'] = df['a'] * 2"),
        nbformat.v4.new_markdown_cell("## Model"),
        nbformat.v4.new_code_cell("n = len(df)"),
    ]
    path = tmp_path / "study.ipynb"
    nbformat.write(nb, path)
    replay_notebook(path, tmp_path / "store")
    st = cellsync.open_store(tmp_path / "store")
    assert [c["section"] for c in entries(st)] == ["Cohort study", "Cleaning the data", "Cleaning the data", "Model"]
    shown = CliRunner().invoke(main, ["show", str(tmp_path / "store")]).output
    assert shown.index("## Cohort study") < shown.index("## Cleaning the data") < shown.index("df = df.dropna()") < shown.index("## Model")


def test_worst_first_means_the_highest_error_for_an_error_metric():
    from cellsync.overview import segment_scores

    def m(name, value, segment=None):
        return {"name": name, "value": value, "segment": segment, "model": "reg", "n": 10, "previous": None}

    timeline = [make_entry(metrics=[m("mae", 5.0), m("mae", 0.1, "grp == 'good'"), m("mae", 14.7, "grp == 'bad'")])]
    assert [s.segment for s in segment_scores(timeline)] == ["grp == 'bad'", "grp == 'good'"]
    timeline = [make_entry(metrics=[m("accuracy", 0.8), m("accuracy", 0.9, "a"), m("accuracy", 0.6, "b")])]
    assert [s.segment for s in segment_scores(timeline)] == ["b", "a"]


def test_a_step_whose_rows_were_not_followed_says_only_the_net_change():
    """A flow box never calls a net loss "excluded" where the rows could not be matched one by
    one (a Spark frame without a key, a rewrite of every row): it says "N fewer rows"."""
    from cellsync import phrasing
    from cellsync.overview import FlowStep

    def step(**kw):
        base = dict(cell=1, execution_count=1, frame="t", version="v", kind="changed", rows_before=500,
                    rows_after=294, rows_removed=206, rows_added=0, text="")
        return FlowStep(**{**base, **kw})

    assert phrasing.step_change(step()) == "206 rows excluded"
    assert phrasing.step_change(step(rows_matched=False)) == "206 fewer rows"
    assert phrasing.step_change(step(rows_matched=False, rows_after=700, rows_removed=0, rows_added=200)) == "200 more rows"

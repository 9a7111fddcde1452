"""The offline explainer, idiom by idiom, on a real kernel: each cell's stored summary names
the operation and states the exact numbers, computed here with pandas on the same data."""

import json
import os

import nbformat
import pandas as pd
import pytest
from click.testing import CliRunner

from cellsync.cli import main
from cellsync.replay import replay_notebook
from helpers import make_entry

pytestmark = pytest.mark.kernel

SETUP = """import numpy as np, pandas as pd
rng = np.random.default_rng(7)
n = 600
raw = pd.DataFrame({
    "id": np.arange(n),
    "species": rng.choice(["Adelie", "Gentoo", "Chinstrap"], n),
    "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
    "mass": np.where(rng.random(n) < 0.08, np.nan, rng.normal(4200, 800, n).round()),
    "bill": np.where(rng.random(n) < 0.1, np.nan, rng.normal(44, 5, n).round(1)),
    "flipper": rng.integers(170, 230, n),
    "sex": rng.choice(["m", "f"], n),
    "seen": rng.choice(["2023-01-05", "2023-02-11", "2023-03-20"], n),
    "note": "",
})
raw = pd.concat([raw, raw.iloc[:12]])
raw.to_csv("penguins.csv", index=False)
islands = pd.DataFrame({"island": ["Biscoe", "Dream", "Torgersen"], "area_km2": [12.1, 8.4, 1.3]})"""

# (code, checks): each check is f(before, after) -> list of texts the summary must contain
def rows(before, after, name, parent=None):
    b = before[parent or name]
    a = after[name]
    return b, a


def kinds(**expected):
    """The operation each frame must be recorded with."""
    return expected


# (code, texts the summary must contain given the frames before/after, {frame: operation kind})
IDIOMS = [
    ("pen = pd.read_csv('penguins.csv')", lambda b, a: ["Loaded the table pen from penguins.csv", f"{len(a['pen']):,} rows and 9 columns"], kinds(pen="create")),
    ("pen = pen.rename(columns={'flipper': 'flipper_mm'})", lambda b, a: ['renamed "flipper" to "flipper_mm"', "rows and their values are unchanged"], kinds(pen="relabel")),
    ("pen = pen.drop(columns=['note'])", lambda b, a: ['dropped the column "note"', f"all {len(a['pen']):,} rows kept"], kinds(pen="columns")),
    ("pen = pen.drop_duplicates()", lambda b, a: [f"Removed {b['pen'].duplicated().sum()} of the {len(b['pen'])} rows of the table pen", "that repeated an earlier row"], kinds(pen="filter")),
    ("pen = pen.dropna(subset=['mass'])", lambda b, a: [f"Removed {b['pen'].mass.isna().sum()} of the {len(b['pen'])} rows of the table pen", 'with a missing value in "mass"'], kinds(pen="filter")),
    ("pen['bill'] = pen['bill'].fillna(pen['bill'].mean())", lambda b, a: ["Filled in missing values in the table pen", f'changed {b["pen"].bill.isna().sum()} values in "bill"'], kinds(pen="columns")),
    ("big = pen[pen.mass > 4000]", lambda b, a: [f"The table big holds {len(a['big'])} of the {len(b['pen'])} rows of pen", "where mass > 4000"], kinds(big="filter")),
    ("gentoo = pen.query('species == \"Gentoo\"')", lambda b, a: [f"The table gentoo holds {len(a['gentoo'])} of the {len(b['pen'])} rows of pen", 'where species == "Gentoo"'], kinds(gentoo="filter")),
    ("pen = pen.merge(islands, on='island', how='left')", lambda b, a: ['Joined islands to the table pen on "island" (left join)', f"all {len(b['pen'])} rows of pen found a match", 'it added the column "area_km2"'], kinds(pen="combine")),
    ("both = pd.concat([big, gentoo])", lambda b, a: [f"The table both stacks big and gentoo (concat): {len(a['both'])} rows (big had {len(a['big'])})"], kinds(both="combine")),
    ("by_species = pen.groupby('species', as_index=False).agg(mass=('mass', 'mean'))", lambda b, a: [f"The table by_species summarises pen ({len(b['pen'])} rows) by \"species\"", f"{len(a['by_species'])} rows and 2 columns", "its rows are not rows of pen"], kinds(by_species="reshape")),
    ("table = pen.pivot_table(index='island', columns='sex', values='mass', aggfunc='mean')", lambda b, a: ["pivoted into a summary table", "3 rows and 2 columns"], kinds(table="reshape")),
    ("long = table.reset_index().melt(id_vars='island', value_name='mass')", lambda b, a: ["reshaped from wide to long", "6 rows and 3 columns"], kinds(long="reshape")),
    ("pen = pen.astype({'flipper_mm': 'float64'})", lambda b, a: ["Changed column types in the table pen", 'changed the type of "flipper_mm" from int64 to float64'], kinds(pen="columns")),
    ("pen['seen'] = pd.to_datetime(pen['seen'])", lambda b, a: ["Converted values to dates in the table pen", f'"seen" from {b["pen"].seen.dtype} to {a["pen"].seen.dtype}'], kinds(pen="columns")),
    ("pen['species'] = pen['species'].str.upper()", lambda b, a: ["Applied the text method upper in the table pen", f'changed {len(b["pen"])} values in "species"'], kinds(pen="columns")),
    ("pen['mass_kg'] = pen['mass'].apply(lambda m: m / 1000)", lambda b, a: ["Recomputed values with a custom function", 'added the column "mass_kg"'], kinds(pen="columns")),
    ("pen['sex'] = pen['sex'].map({'m': 'male', 'f': 'female'})", lambda b, a: ["Translated values through a mapping", f'changed {len(b["pen"])} values in "sex"'], kinds(pen="columns")),
    ("pen = pen.sort_values('mass')", lambda b, a: ['Sorted the rows of the table pen by "mass"', "no values changed"], kinds(pen="reorder")),
    ("pen = pen.reset_index(drop=True)", lambda b, a: ["In the table pen, replaced the row labels", f"all {len(a['pen'])} rows and their values are unchanged"], kinds(pen="relabel")),
    ("few = pen.sample(20, random_state=0)", lambda b, a: [f"The table few holds 20 of the {len(b['pen'])} rows of pen", "a random sample"], kinds(few="filter")),
    ("dummies = pd.get_dummies(pen, columns=['island'])", lambda b, a: ["indicator (0/1) columns", 'added the columns "island_Biscoe", "island_Dream" and "island_Torgersen"'], kinds(dummies="columns")),
    ("from sklearn.model_selection import train_test_split\ntrain, test = train_test_split(pen, test_size=0.25, random_state=0)",
     lambda b, a: [f"Split the table pen ({len(b['pen'])} rows) into train ({len(a['train'])} rows", f"test ({len(a['test'])} rows", "every row is in exactly one part"], kinds(train="split", test="split")),
    ("from sklearn.preprocessing import StandardScaler\nscaled = StandardScaler().fit_transform(train[['mass']])", lambda b, a: ["Fitted a transformation and applied it"], kinds()),
    ("from sklearn.linear_model import LogisticRegression\nclf = LogisticRegression(max_iter=300).fit(train[['mass', 'bill']], train['species'])", lambda b, a: ["Trained a LogisticRegression model"], kinds()),
    ("pred = clf.predict(test[['mass', 'bill']])", lambda b, a: ["Made predictions with clf"], kinds()),
    ("from sklearn.metrics import accuracy_score\naccuracy = accuracy_score(test['species'], pred)", lambda b, a: ["Measured accuracy", f"accuracy is {a['__accuracy']:.4g}"], kinds()),
    ("pen.loc[pen.mass > 5500, 'mass'] = 5500", lambda b, a: [f'changed {(b["pen"].mass > 5500).sum()} values in "mass"'], kinds(pen="columns")),
    ("pen['bill'] = pen['bill'].clip(upper=50)", lambda b, a: ["Capped values to a range", f'changed {(b["pen"].bill > 50).sum()} values in "bill"'], kinds(pen="columns")),
    ("pen['island'] = pen['island'].replace({'Torgersen': 'Torg'})", lambda b, a: ["Replaced values", f'changed {(b["pen"].island == "Torgersen").sum()} values in "island"'], kinds(pen="columns")),
    ("by_id = pen.set_index('id')", lambda b, a: ['made "id" the row labels'], kinds(by_id="relabel")),
    ("top = pen.head(10)", lambda b, a: [f"The table top holds 10 of the {len(b['pen'])} rows of pen", "the first 10"], kinds(top="filter")),
    ("heavy = pen.nlargest(5, 'mass')", lambda b, a: [f"The table heavy holds 5 of the {len(b['pen'])} rows of pen", 'those with the largest "mass"'], kinds(heavy="filter")),
    ("pen['band'] = pd.cut(pen['mass'], 3, labels=['light', 'mid', 'heavy'])", lambda b, a: ["Grouped values into bins", 'added the column "band"'], kinds(pen="columns")),
    ("pen = pen.assign(ratio=pen.bill / pen.mass)", lambda b, a: ['added the column "ratio"'], kinds(pen="columns")),
    ("small = pen[['id', 'mass']]", lambda b, a: [f"The table small has the {len(b['pen'])} rows of pen", 'dropped the columns "species"'], kinds(small="columns")),
    ("pen['bill'] = pen['bill'].round(0)", lambda b, a: ["Rounded values", f'changed {int((b["pen"].bill != b["pen"].bill.round(0)).sum())} values in "bill"'], kinds(pen="columns")),
    ("def halve(frame):\n    frame['mass'] = frame['mass'] / 2\n\nhalve(pen)", lambda b, a: [f'changed {b["pen"].mass.notna().sum()} values in "mass"'], kinds(pen="columns")),
    ("pen['nope'] = pen['missing']", lambda b, a: ["This cell stopped with an error (KeyError", "No data changed"], kinds()),
    ("import math", lambda b, a: ["Imported math", "No data changed"], kinds()),
    ("del heavy", lambda b, a: ["Deleted the table heavy"], kinds(heavy="delete")),
    ("pen['flipper_mm'] += 1", lambda b, a: ["Updated values in place in the table pen", f'changed {len(b["pen"])} values in "flipper_mm"'], kinds(pen="columns")),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("idioms")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(code) for code, _, _ in IDIOMS]
    path = work / "idioms.ipynb"
    nbformat.write(nb, path)
    replay_notebook(path, work / "store", allow_errors=True)
    cells = json.loads(CliRunner().invoke(main, ["show", str(work / "store"), "--json"]).output)["cells"]
    # the same cells, here, to compute what the summaries must say
    ns: dict = {}
    states = []
    cwd = os.getcwd()
    os.chdir(work)
    try:
        for code in [SETUP] + [c for c, _, _ in IDIOMS]:
            before = {k: v.copy() for k, v in ns.items() if isinstance(v, pd.DataFrame)}
            try:
                exec(code, ns)
            except KeyError:
                pass
            after = {k: v.copy() for k, v in ns.items() if isinstance(v, pd.DataFrame)}
            after["__accuracy"] = ns.get("accuracy")
            states.append((before, after))
    finally:
        os.chdir(cwd)
    return cells, states


@pytest.mark.parametrize("i", range(len(IDIOMS)), ids=[c.split("\n")[-1][:40] for c, _, _ in IDIOMS])
def test_idiom_summary(run, i):
    cells, states = run
    cell = cells[i + 1]
    before, after = states[i + 1]
    assert cell["summary_model"] == "offline"
    for text in IDIOMS[i][1](before, after):
        assert text in cell["summary"], f"{text!r} not in {cell['summary']!r}"
    assert cell["unverified_numbers"] == []
    recorded = {f["name"]: (f["operation"] or {}).get("kind") for f in cell["frames"]}
    assert recorded == IDIOMS[i][2], (recorded, cell["summary"])


def test_there_are_at_least_forty_idioms():
    assert len(IDIOMS) >= 40


def test_many_flags_in_one_cell_are_counted_not_listed():
    """Columns missing on the same rows flag together; the summary names the three largest
    excess removals and counts the rest, with every number traceable."""
    from cellsync.explain import build_facts, explain

    segs = [{"frame": "df", "segment": f"c{i} is missing", "name": f"c{i} missing", "rows_before": 100,
             "rows_after": 100 - 40 - i, "rows_removed": 40 + i, "rows_added": 0, "removal_rate": (40 + i) / 100,
             "overall_removal_rate": 0.1, "flagged": True} for i in range(9)]
    entry = make_entry(**{"id": 1, "execution_count": 1, "code": "df = df[df.a.notna()]", "status": "ok", "frames": [{
        "name": "df", "change": "rebound", "parent": "df", "rows_before": 1000, "rows_after": 900,
        "rows_removed": 100, "rows_added": 0, "row_identity": "index", "columns_added": [], "columns_removed": [],
        "columns_renamed": {}, "dtype_changes": {}, "values_changed": {}, "n_cols": 10,
        "operation": {"kind": "filter", "verb": "mask", "detail": {"condition": "a.notna()", "columns": ["a"]}}}],
        "segments": segs, "metrics": []})
    ex = explain(build_facts(entry))
    assert ex.summary.count("Flagged:") == 3 and "c8 missing" in ex.summary.split("Flagged:")[1]
    assert "6 more segments were flagged too: c5 missing, c4 missing, c3 missing, c2 missing and 2 more." in ex.summary
    assert ex.unverified_numbers == ()

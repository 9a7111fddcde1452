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


IDIOMS = [
    ("pen = pd.read_csv('penguins.csv')", lambda b, a: ["Loaded pen from 'penguins.csv'", f"{len(a['pen']):,} rows and 9 columns"]),
    ("pen = pen.rename(columns={'flipper': 'flipper_mm'})", lambda b, a: ["Renamed columns", "renamed flipper to flipper_mm"]),
    ("pen = pen.drop(columns=['note'])", lambda b, a: ["Dropped the column(s) 'note'", "dropped note"]),
    ("pen = pen.drop_duplicates()", lambda b, a: ["Removed duplicate rows", f"removed {b['pen'].duplicated().sum()} of {len(b['pen'])} rows"]),
    ("pen = pen.dropna(subset=['mass'])", lambda b, a: ["Removed rows with missing values in 'mass'", f"removed {b['pen'].mass.isna().sum()} of {len(b['pen'])} rows"]),
    ("pen['bill'] = pen['bill'].fillna(pen['bill'].mean())", lambda b, a: ["Filled in missing values in bill", f"changed {b['pen'].bill.isna().sum()} values in bill"]),
    ("big = pen[pen.mass > 4000]", lambda b, a: ["Kept only the rows where mass > 4000", f"removed {(b['pen'].mass <= 4000).sum()} of {len(b['pen'])} rows"]),
    ("gentoo = pen.query('species == \"Gentoo\"')", lambda b, a: ["Kept only the rows where species == \"Gentoo\"", f"removed {(b['pen'].species != 'Gentoo').sum()} of {len(b['pen'])} rows"]),
    ("pen = pen.merge(islands, on='island', how='left')", lambda b, a: ["Joined in islands on 'island'", "added the column area_km2"]),
    ("both = pd.concat([big, gentoo])", lambda b, a: ["Stacked tables together", f"added {len(a['gentoo'])} rows"]),
    ("by_species = pen.groupby('species', as_index=False).agg(mass=('mass', 'mean'))", lambda b, a: ["Summarised the data by 'species'", f"has {len(a['by_species'])} rows and 2 columns"]),
    ("table = pen.pivot_table(index='island', columns='sex', values='mass', aggfunc='mean')", lambda b, a: ["Turned the data into a summary table", "has 3 rows and 2 columns"]),
    ("long = table.reset_index().melt(id_vars='island', value_name='mass')", lambda b, a: ["reshaped the table from wide to long", "has 6 rows and 3 columns"]),
    ("pen = pen.astype({'flipper_mm': 'float64'})", lambda b, a: ["Changed column types", "flipper_mm (int64 to float64)"]),
    ("pen['seen'] = pd.to_datetime(pen['seen'])", lambda b, a: ["Converted values to dates", f"seen ({b['pen'].seen.dtype} to {a['pen'].seen.dtype})"]),
    ("pen['species'] = pen['species'].str.upper()", lambda b, a: ["Changed the text of species (upper)", f"changed {len(b['pen'])} values in species"]),
    ("pen['mass_kg'] = pen['mass'].apply(lambda m: m / 1000)", lambda b, a: ["Recomputed values with a custom function", "added the column mass_kg"]),
    ("pen['sex'] = pen['sex'].map({'m': 'male', 'f': 'female'})", lambda b, a: ["Translated values through a mapping", f"changed {len(b['pen'])} values in sex"]),
    ("pen = pen.sort_values('mass')", lambda b, a: ["Sorted the rows by 'mass'", "changed their order"]),
    ("pen = pen.reset_index(drop=True)", lambda b, a: ["Renumbered the rows", f"kept all {len(a['pen'])} rows"]),
    ("few = pen.sample(20, random_state=0)", lambda b, a: ["Drew a random sample of rows", f"removed {len(b['pen']) - 20} of {len(b['pen'])} rows"]),
    ("dummies = pd.get_dummies(pen, columns=['island'])", lambda b, a: ["indicator (0/1) columns", "added the columns island_Biscoe, island_Dream, island_Torgersen"]),
    ("from sklearn.model_selection import train_test_split\ntrain, test = train_test_split(pen, test_size=0.25, random_state=0)",
     lambda b, a: ["Split the data into training and test sets", f"removed {len(a['test'])} of {len(b['pen'])} rows", f"removed {len(a['train'])} of {len(b['pen'])} rows"]),
    ("from sklearn.preprocessing import StandardScaler\nscaled = StandardScaler().fit_transform(train[['mass']])", lambda b, a: ["Fitted a transformation and applied it"]),
    ("from sklearn.linear_model import LogisticRegression\nclf = LogisticRegression(max_iter=300).fit(train[['mass', 'bill']], train['species'])", lambda b, a: ["Trained a LogisticRegression model"]),
    ("pred = clf.predict(test[['mass', 'bill']])", lambda b, a: ["Made predictions with clf"]),
    ("from sklearn.metrics import accuracy_score\naccuracy = accuracy_score(test['species'], pred)", lambda b, a: ["Measured accuracy", f"accuracy is {a['__accuracy']:.4g}"]),
    ("pen.loc[pen.mass > 5500, 'mass'] = 5500", lambda b, a: ["Set 'mass' where mass > 5500", f"changed {(b['pen'].mass > 5500).sum()} values in mass"]),
    ("pen['bill'] = pen['bill'].clip(upper=50)", lambda b, a: ["Capped values to a range", f"changed {(b['pen'].bill > 50).sum()} values in bill"]),
    ("pen['island'] = pen['island'].replace({'Torgersen': 'Torg'})", lambda b, a: ["Replaced values", f"changed {(b['pen'].island == 'Torgersen').sum()} values in island"]),
    ("by_id = pen.set_index('id')", lambda b, a: ["Made 'id' the row label", "dropped id"]),
    ("top = pen.head(10)", lambda b, a: ["Kept the first rows", f"removed {len(b['pen']) - 10} of {len(b['pen'])} rows"]),
    ("heavy = pen.nlargest(5, 'mass')", lambda b, a: ["Kept the rows with the largest 'mass'", f"removed {len(b['pen']) - 5} of {len(b['pen'])} rows"]),
    ("pen['band'] = pd.cut(pen['mass'], 3, labels=['light', 'mid', 'heavy'])", lambda b, a: ["Grouped values into bins", "added the column band"]),
    ("pen = pen.assign(ratio=pen.bill / pen.mass)", lambda b, a: ["Added or recomputed columns", "added the column ratio"]),
    ("small = pen[['id', 'mass']]", lambda b, a: ["Kept the columns 'id', 'mass'", "dropped species"]),
    ("pen['bill'] = pen['bill'].round(0)", lambda b, a: ["Rounded values", f"changed {int((b['pen'].bill != b['pen'].bill.round(0)).sum())} values in bill"]),
    ("def halve(frame):\n    frame['mass'] = frame['mass'] / 2\n\nhalve(pen)", lambda b, a: ["Ran halve(pen)", f"changed {b['pen'].mass.notna().sum()} values in mass"]),
    ("pen['nope'] = pen['missing']", lambda b, a: ["This cell stopped with an error (KeyError", "No data changed"]),
    ("import math", lambda b, a: ["Imported math", "No data changed"]),
    ("del heavy", lambda b, a: ["heavy was deleted"]),
    ("pen['flipper_mm'] += 1", lambda b, a: ["Updated flipper_mm in place", f"changed {len(b['pen'])} values in flipper_mm"]),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("idioms")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(code) for code, _ in IDIOMS]
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
        for code in [SETUP] + [c for c, _ in IDIOMS]:
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


@pytest.mark.parametrize("i", range(len(IDIOMS)), ids=[c.split("\n")[-1][:40] for c, _ in IDIOMS])
def test_idiom_summary(run, i):
    cells, states = run
    cell = cells[i + 1]
    before, after = states[i + 1]
    assert cell["summary_model"] == "offline"
    for text in IDIOMS[i][1](before, after):
        assert text in cell["summary"], f"{text!r} not in {cell['summary']!r}"
    assert cell["unverified_numbers"] == []


def test_there_are_at_least_forty_idioms():
    assert len(IDIOMS) >= 40

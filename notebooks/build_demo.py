"""Regenerate the demo data and notebook (deterministic): python notebooks/build_demo.py"""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

HERE = Path(__file__).parent


def make_data() -> None:
    rng = np.random.default_rng(2024)
    n = 2000
    regions = np.array(["north", "south", "east", "west"])
    age = rng.integers(1, 96, n)
    income = rng.normal(42000, 15000, n).round(0)
    # income is more often missing for the oldest patients: the kind of thing experts notice
    missing = rng.random(n) < np.where(age >= 80, 0.35, 0.07)
    income[missing] = np.nan
    income[rng.random(n) < 0.01] = -1  # a data-entry code for "refused"
    df = pd.DataFrame(
        {
            "patient_id": np.arange(1, n + 1),
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "region": rng.choice(regions, n, p=[0.4, 0.3, 0.2, 0.1]),
            "bmi_value": np.where(rng.random(n) < 0.05, np.nan, rng.normal(26, 5, n).round(1)),
            "smoker": rng.choice(["yes", "no"], n, p=[0.2, 0.8]),
            "income": income,
            "visits": rng.poisson(4, n),
            "admitted": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "notes": rng.choice(["", "follow-up", "referred"], n),
        }
    )
    dupes = df.sample(25, random_state=1)
    df = pd.concat([df, dupes]).sort_values("patient_id", kind="stable")
    df.to_csv(HERE / "data" / "patients.csv", index=False)
    pd.DataFrame(
        {"region": regions, "hospital_beds": [420, 310, 150, 95], "urban": [True, True, False, False]}
    ).to_csv(HERE / "data" / "regions.csv", index=False)


CELLS = [
    "import numpy as np\nimport pandas as pd",
    'patients = pd.read_csv("data/patients.csv", parse_dates=["admitted"])\npatients.shape',
    'regions = pd.read_csv("data/regions.csv")',
    "import cellsync\n\n# the group the clinicians asked about: tracked through every later cell\n"
    'cellsync.segment("80 and over", "age >= 80")',
    'patients = patients.rename(columns={"bmi_value": "bmi"})',
    'patients = patients.drop(columns=["notes"])',
    "patients = patients.drop_duplicates()",
    'patients = patients.dropna(subset=["income"])',
    'patients["bmi"] = patients["bmi"].fillna(patients["bmi"].median())',
    'patients = patients.astype({"visits": "int32", "smoker": "category"})',
    'adults = patients[patients["age"] >= 18]',
    'adults.loc[adults["income"] < 0, "income"] = 0',
    'def cap_visits(frame):\n    """Clip visit counts in place (a helper that mutates its argument)."""\n'
    '    frame["visits"] = frame["visits"].clip(upper=9)\n\ncap_visits(adults)',
    'merged = adults.merge(regions, on="region", how="left")',
    'late = merged.sample(10, random_state=1).assign(visits=0)\n'
    "combined = pd.concat([merged, late], ignore_index=True)",
    'by_region = combined.groupby("region", as_index=False).agg(\n'
    '    patients=("patient_id", "count"), mean_age=("age", "mean")\n)',
    'pivot = combined.pivot_table(index="region", columns="sex", values="income", aggfunc="mean")',
    'long = pivot.reset_index().melt(id_vars="region", var_name="sex", value_name="mean_income")',
    'combined = combined.sort_values("age", kind="stable").reset_index(drop=True)',
    '# this cell fails on purpose: CellSync records the error too\n'
    'combined["risk"] = combined["bmi"] / combined["weight"]',
    'combined["risk"] = (combined["bmi"] > 30) & (combined["smoker"] == "yes")',
    "from sklearn.linear_model import LogisticRegression\n\n"
    'features = ["age", "bmi", "visits", "hospital_beds"]\n'
    'train, test = combined.iloc[::2], combined.iloc[1::2]\n'
    "model = LogisticRegression(max_iter=500).fit(train[features], train[\"risk\"])\n"
    'test_accuracy = model.score(test[features], test["risk"])',
    'cellsync.log_predictions(test["risk"], model.predict(test[features]), data=test, name="risk model")',
]


def make_notebook() -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(
        nbformat.v4.new_markdown_cell(
            "# Patient cohort preparation\n\nA typical cleaning notebook. Run it with CellSync "
            "(`%load_ext cellsync`, or `cellsync replay`) to see what every cell did to the patients."
        )
    )
    for i, src in enumerate(CELLS):
        cell = nbformat.v4.new_code_cell(src)
        cell["id"] = f"cell-{i:02d}"
        if "fails on purpose" in src:
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    nb.cells[0]["id"] = "intro"
    nbformat.write(nb, HERE / "demo.ipynb")


if __name__ == "__main__":
    make_data()
    make_notebook()

"""The demo: a clinical-style dataset CellSync generates itself, and the notebooks that use it.

`cellsync demo` writes the data and notebooks into a folder, replays the main notebook into a
store and serves the dashboard. Nothing is downloaded: the patients are synthetic (seeded, with
documented columns and plausible relations), and the second notebook uses the diabetes data
that ships inside scikit-learn.

The story the data tells: income is missing far more often for the oldest patients, so the
cleaning step that drops rows without income removes a third of the over-80s against about a
tenth of everyone; and the readmission model is least accurate for them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

COLUMNS = {
    "patient_id": "unique id (1..n); 25 rows per 2,000 are exact duplicates, as from a double export",
    "age": "years, 18-97 mostly, some children; older patients visit more and are readmitted more",
    "sex": "F or M",
    "region": "north, south, east or west (40/30/20/10%)",
    "bmi_value": "body-mass index, rises a little with age; 5% missing (renamed to bmi in the notebook)",
    "smoker": "yes or no; more common among men and under 60",
    "income": "yearly (household) income; lower after 65; missing for ~35% of the over-80s and ~7% of "
              "others; 1% coded -1 (refused)",
    "visits": "clinic visits last year (Poisson, rate rising with age)",
    "admitted": "admission date in 2023",
    "readmitted": "readmitted within 30 days (True/False), more likely with age, BMI, smoking, visits",
    "notes": "free text, mostly empty (dropped in the notebook)",
}


def patients(n: int = 2000, seed: int = 2024) -> pd.DataFrame:
    """The synthetic patients table (see COLUMNS). Deterministic for a given n and seed."""
    rng = np.random.default_rng(seed)
    age = np.clip(np.where(rng.random(n) < 0.12, rng.integers(1, 18, n), rng.normal(58, 18, n)), 1, 97).round().astype(int)
    sex = rng.choice(["F", "M"], n)
    region = rng.choice(np.array(["north", "south", "east", "west"]), n, p=[0.4, 0.3, 0.2, 0.1])
    bmi = (24 + 0.05 * (age - 40) + rng.normal(0, 4.5, n)).round(1)
    bmi = np.where(rng.random(n) < 0.05, np.nan, bmi)
    smoker_p = np.where(sex == "M", 0.26, 0.16) * np.where(age < 60, 1.2, 0.6)
    smoker = np.where(rng.random(n) < smoker_p, "yes", "no")
    income = (np.where(age >= 65, 30000, 45000) + np.where(region == "north", 4000, 0) + rng.normal(0, 12000, n)).round(0)
    missing = rng.random(n) < np.where(age >= 80, 0.35, 0.07)
    income[missing] = np.nan
    income[(rng.random(n) < 0.01) & ~np.isnan(income)] = -1  # a data-entry code for "refused"
    visits = rng.poisson(np.clip(1.5 + 0.05 * age, 0.5, None))
    logit = -5.2 + 0.035 * age + 0.05 * np.nan_to_num(bmi, nan=26) + 0.5 * (smoker == "yes") + 0.08 * visits
    readmitted = rng.random(n) < 1 / (1 + np.exp(-logit))
    df = pd.DataFrame({
        "patient_id": np.arange(1, n + 1),
        "age": age,
        "sex": sex,
        "region": region,
        "bmi_value": bmi,
        "smoker": smoker,
        "income": income,
        "visits": visits,
        "admitted": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "readmitted": readmitted,
        "notes": rng.choice(["", "follow-up", "referred"], n, p=[0.8, 0.12, 0.08]),
    })
    dupes = df.sample(max(1, n // 80), random_state=seed)
    return pd.concat([df, dupes]).sort_values("patient_id", kind="stable").reset_index(drop=True)


def regions() -> pd.DataFrame:
    return pd.DataFrame({"region": ["north", "south", "east", "west"], "hospital_beds": [420, 310, 150, 95],
                         "urban": [True, True, False, False]})


DEMO_CELLS = [
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
    'model = LogisticRegression(max_iter=500).fit(train[features], train["readmitted"])\n'
    'test_accuracy = model.score(test[features], test["readmitted"])',
    'cellsync.log_predictions(test["readmitted"], model.predict(test[features]), data=test, name="readmission model")',
]

DIABETES_CELLS = [
    "import pandas as pd\nfrom sklearn.datasets import load_diabetes\nimport cellsync",
    "# scikit-learn ships this data set: no download\n"
    "diabetes = load_diabetes(as_frame=True, scaled=False).frame",
    'diabetes = diabetes.rename(columns={"s1": "cholesterol", "s5": "triglycerides", "bp": "blood_pressure"})',
    'cellsync.segment("over 60", "age > 60")',
    'diabetes["sex"] = diabetes["sex"].map({1.0: "F", 2.0: "M"})',
    'healthy_bp = diabetes[diabetes["blood_pressure"] < 110]',
    "from sklearn.linear_model import LinearRegression\n"
    'X = healthy_bp[["age", "bmi", "blood_pressure", "cholesterol", "triglycerides"]]\n'
    'reg = LinearRegression().fit(X, healthy_bp["target"])',
    'cellsync.log_predictions(healthy_bp["target"], reg.predict(X), data=healthy_bp, name="progression model")',
]


def _notebook(cells: list[str], title: str, prefix: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    intro = nbformat.v4.new_markdown_cell(title)
    intro["id"] = "intro"
    nb.cells.append(intro)
    for i, src in enumerate(cells):
        cell = nbformat.v4.new_code_cell(src)
        cell["id"] = f"{prefix}-{i:02d}"
        if "fails on purpose" in src:
            cell.metadata["tags"] = ["raises-exception"]
        nb.cells.append(cell)
    return nb


def build(folder: str | Path, rows: int = 2000) -> Path:
    """Write data/patients.csv, data/regions.csv, demo.ipynb and diabetes.ipynb into folder."""
    folder = Path(folder)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    patients(rows).to_csv(folder / "data" / "patients.csv", index=False)
    regions().to_csv(folder / "data" / "regions.csv", index=False)
    nbformat.write(_notebook(DEMO_CELLS, "# Patient cohort preparation\n\nA typical cleaning notebook. Run it with "
                             "CellSync (`%load_ext cellsync`, or `cellsync replay`) to see what every cell did to the "
                             "patients.", "cell"), folder / "demo.ipynb")
    nbformat.write(_notebook(DIABETES_CELLS, "# Diabetes progression\n\nscikit-learn's bundled diabetes data "
                             "(442 patients): a second, real data set for CellSync.", "diab"), folder / "diabetes.ipynb")
    return folder / "demo.ipynb"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write the CellSync demo data and notebooks.")
    parser.add_argument("folder", nargs="?", default="notebooks")
    parser.add_argument("--rows", type=int, default=2000, help="patients to generate (1,000,000+ for benchmarks)")
    args = parser.parse_args(argv)
    print(build(args.folder, args.rows))


if __name__ == "__main__":
    main()

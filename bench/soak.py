"""Soak test: a 500-cell notebook in a real kernel, `cellsync serve` on the same store, two
headless Chromium browsers clicking cells and reading the timeline, and a chat writer, for
10 minutes; then what was lost, how memory grew, how fast a click answered, and any CellSync
traceback or problem line.

    nice -n 5 .venv/bin/python bench/soak.py               # 500 cells over 10 minutes
    .venv/bin/python bench/soak.py --quick                 # 60 cells over 1 minute
    .venv/bin/python bench/soak.py --minutes 20 --cells 800

Processes (each its own, as in real use):
  kernel   a real IPython kernel (jupyter_client), `%load_ext cellsync` as its first cell, then
           the generated notebook (bench/soak.py makes it: four frames of 10k-100k rows, then
           filters, new columns, in-place edits, merges, groupbys, pivots, sorts, type
           changes, a model, displays, ~3% cells that raise on purpose, `%cellsync status`
           every 50 cells, and cells that answer the chat with `cellsync.reply`), paced so the
           cells spread over --minutes; the notebook is saved as soak.ipynb beside the store.
  server   `python -m cellsync.cli serve STORE --port 0` (its output is read and kept).
  browser  x2: each a separate Chromium (Playwright, Debian's /usr/bin/chromium, never a
           downloaded one); reads the timeline, turns pages, clicks a row and times the click
           until the cell view shows "Cell N" with the summary the store has for that cell;
           reloads the page every 150 s. At the end: waits for the header to show every
           recorded cell and opens every cell with a thread, expands all messages, and lists
           the chat tags it saw.
  chat     writes a message every 0.5-2.5 s until the notebook ends: new threads on recorded
           cells and replies, half as an expert through the store (`chat.start_thread` /
           `chat.post` on `Store(PATH)`, what the dashboard does), half through the notebook
           API (`cellsync.comment(..., store=PATH)`, `cellsync.reply(..., store=PATH)`), a
           few of them `@assistant` questions. Every message carries a unique tag.

Reported (bench/results/soak.json and a table on stdout):
  cells lost      cells the kernel executed (execute_reply) that are not in the store's
                  `cells` table with the same execution count, code and status
  messages lost   tags written (the write call returned) that are not in the store's
                  `messages`, and not seen in a browser at the end; doubled tags
  memory          RSS (psutil) of the kernel and the server: after setup / at the end, with a
                  series every 10 s
  click p95       both browsers' clicks
  problems        CellSync tracebacks or problem lines in any cell output, the problems of
                  `%cellsync status` and the store's `problems` table, tracebacks in the
                  server's output, `cellsync.log` lines, browser page errors
The machine this runs on is shared: numbers are noisy, losses are not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, log, stats  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
TAG = re.compile(r"soak-[ck]\d{4}")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")

# --------------------------------------------------------------------------------------------
# The notebook


DATA_CELL = '''\
def make_patients(n, seed):
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.3, 0.6, n).round(2)
    income[rng.random(n) < 0.03] = np.nan
    return pd.DataFrame({
        "patient_id": np.arange(n),
        "age": rng.integers(0, 100, n),
        "sex": rng.choice(["F", "M"], n),
        "region": pd.Categorical(rng.choice(["north", "south", "east", "west", "centre"], n, p=[.25, .2, .2, .2, .15])),
        "income": income,
        "bmi": rng.normal(26, 5, n).round(1),
        "smoker": rng.random(n) < 0.22,
        "diagnosis": rng.choice(["e11.9", "i10", "j45.909", "k21.0", "m54.5", "f32.9", "n39.0"], n),
        "admitted": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 5 * 365, n), unit="D"),
    })


def make_visits(n, seed, n_patients, n_items):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "visit_id": np.arange(n),
        "patient_id": rng.integers(0, n_patients, n),
        "item_id": rng.integers(0, n_items, n),
        "date": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D"),
        "department": rng.choice(["cardiology", "oncology", "er", "pediatrics", "surgery", "icu"], n),
        "cost": rng.gamma(2.0, 400.0, n).round(2),
        "los": rng.poisson(3, n),
    })


def make_labs(n, seed, n_patients):
    rng = np.random.default_rng(seed)
    tests = np.array(["hba1c", "ldl", "crp", "egfr", "alt"])
    test = rng.choice(tests, n)
    base = pd.Series(test).map({"hba1c": 6.0, "ldl": 120.0, "crp": 5.0, "egfr": 85.0, "alt": 30.0}).to_numpy()
    value = base * rng.lognormal(0, 0.25, n)
    value[rng.random(n) < 0.02] = np.nan
    return pd.DataFrame({"patient_id": rng.integers(0, n_patients, n), "test": test, "value": value.round(2),
                         "unit": pd.Series(test).map({"hba1c": "%", "ldl": "mg/dL", "crp": "mg/L", "egfr": "mL/min", "alt": "U/L"}),
                         "taken": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, n), unit="h")})


def make_prices(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"item_id": np.arange(n), "item": [f" Item {i:05d} " for i in range(n)],
                         "price": rng.gamma(2.0, 30.0, n).round(2), "vat": rng.choice([0.0, 0.07, 0.19], n)})
'''


class Workload:
    """Generates the notebook's cells (seeded): each is (code, kind, expects_error). It keeps
    track of which frames and columns exist so that only the cells meant to fail fail."""

    PAT_COLS = ["bmi_class", "log_income", "is_senior", "income_z", "dx_chapter"]
    VIS_COLS = ["cost_per_day", "month", "weekend"]

    def __init__(self, n_cells: int, sizes: dict, seed: int = 0):
        self.n = n_cells
        self.sizes = sizes
        self.rng = random.Random(seed)
        self.exists: set[str] = set()
        self.cols: dict[str, set[str]] = {"patients": set(), "visits": set(), "labs": set(), "prices": set()}
        self.reply_k = 0

    def setup(self) -> list[tuple[str, str, bool]]:
        s = self.sizes
        self.exists |= {"patients", "visits", "labs", "prices"}
        return [
            ("import numpy as np\nimport pandas as pd\nimport cellsync\nfrom sklearn.linear_model import LogisticRegression",
             "import", False),
            (DATA_CELL, "define", False),
            (f"patients = make_patients({s['patients']:_}, 1)", "load", False),
            (f"visits = make_visits({s['visits']:_}, 2, n_patients={s['patients']:_}, n_items={s['prices']:_})", "load", False),
            (f"labs = make_labs({s['labs']:_}, 3, n_patients={s['patients']:_})", "load", False),
            (f"prices = make_prices({s['prices']:_}, 4)", "load", False),
            ("patients.head()", "display", False),
        ]

    def cells(self) -> list[tuple[str, str, bool]]:
        out = self.setup()
        while len(out) < self.n:
            i = len(out)
            if i % 50 == 0:
                out.append(("%cellsync status", "status", False))
            elif i % 45 == 0:
                out.append(self._reply())
            elif i % 33 == 0:
                out.append(self._fail())
            else:
                out.append(self._op())
        return out[: self.n]

    # one cell of each kind -------------------------------------------------------------------

    def _reply(self):
        self.reply_k += 1
        tag = f"soak-k{self.reply_k:04d}"
        return (f'_open = cellsync.feedback()\n'
                f'if len(_open):\n'
                f'    print("REPLY", cellsync.reply(_open["thread"].iloc[0], "{tag}: thanks, I will check this cell **today**"))\n'
                f'else:\n'
                f'    print("REPLY none")', "chat-reply", False)

    def _fail(self):
        r = self.rng.randrange(7)
        if r == 0:
            return ('patients["weight_kg"].mean()', "fail", True)
        if r == 1:
            return ('visits.merge(prices, on="sku")', "fail", True)
        if r == 2:
            return ('labs["test"].astype(int)', "fail", True)
        if r == 3:
            return ('rate = len(visits) / (len(visits) - len(visits))', "fail", True)
        if r == 4:
            return ('assert patients["age"].max() < 50, "there are patients of 50 and over"', "fail", True)
        if r == 5:
            return ('cohort_2019.head()', "fail", True)
        # a change, then the cell fails: the change is real and must be recorded with the error
        self.cols["visits"].add("checked")
        return ('visits["checked"] = visits["cost"] > 0\nraise RuntimeError("stopped after flagging: review the flag first")',
                "fail-after-change", True)

    def _op(self):
        rng = self.rng
        r = rng.random()
        if r < 0.04:
            return self._reload()
        if r < 0.16:
            return self._filter()
        if r < 0.34:
            return self._new_column()
        if r < 0.42:
            return self._inplace()
        if r < 0.52:
            return self._merge()
        if r < 0.66:
            return self._groupby()
        if r < 0.72:
            return self._sort_or_dedupe()
        if r < 0.77:
            return self._astype()
        if r < 0.81:
            return self._drop()
        if r < 0.83:
            return self._model()
        return self._display()

    def _reload(self):
        s = self.sizes
        which = self.rng.choice(["patients", "visits", "labs", "prices"])
        self.cols[which] = set()
        if which == "patients":
            return (f"patients = make_patients({s['patients']:_}, 1)", "reload", False)
        if which == "visits":
            return (f"visits = make_visits({s['visits']:_}, 2, n_patients={s['patients']:_}, n_items={s['prices']:_})", "reload", False)
        if which == "labs":
            return (f"labs = make_labs({s['labs']:_}, 3, n_patients={s['patients']:_})", "reload", False)
        return (f"prices = make_prices({s['prices']:_}, 4)", "reload", False)

    def _filter(self):
        rng = self.rng
        c = rng.choice([
            f'patients = patients[patients["age"] >= {rng.randint(0, 4)}]',
            'patients = patients.dropna(subset=["income"])',
            f'patients = patients[patients["bmi"].between({rng.randint(8, 14)}, {rng.randint(45, 60)})]',
            f'visits = visits[visits["cost"] < visits["cost"].quantile({rng.choice(["0.999", "0.995", "0.99"])})]',
            f'visits = visits[visits["los"] <= {rng.randint(9, 14)}]',
            'labs = labs[labs["value"].notna()]',
            f'adults = patients[(patients["age"] >= 18) & (patients["region"] == "{rng.choice(["north", "south", "east", "west"])}")].copy()',
            f'recent = visits[visits["date"] >= "{rng.choice(["2022-06-01", "2023-01-01", "2023-06-01"])}"].copy()',
            f'smokers = patients[patients["smoker"] & (patients["age"] >= {rng.randint(30, 60)})].copy()',
        ])
        for name in ("adults", "recent", "smokers"):
            if c.startswith(name + " ="):
                self.exists.add(name)
        return (c, "filter", False)

    def _new_column(self):
        rng = self.rng
        frame = rng.choice(["patients", "patients", "visits", "visits", "labs", "prices"])
        if frame == "patients":
            col = rng.choice(self.PAT_COLS)
            code = {
                "bmi_class": 'patients["bmi_class"] = pd.cut(patients["bmi"], [0, 18.5, 25, 30, 100], labels=["under", "normal", "over", "obese"])',
                "log_income": 'patients["log_income"] = np.log1p(patients["income"])',
                "is_senior": f'patients["is_senior"] = patients["age"] >= {rng.randint(60, 80)}',
                "income_z": 'patients["income_z"] = (patients["income"] - patients["income"].mean()) / patients["income"].std()',
                "dx_chapter": 'patients["dx_chapter"] = patients["diagnosis"].str.upper().str[0]',
            }[col]
        elif frame == "visits":
            col = rng.choice(self.VIS_COLS)
            code = {
                "cost_per_day": 'visits["cost_per_day"] = visits["cost"] / visits["los"].clip(lower=1)',
                "month": 'visits["month"] = visits["date"].dt.to_period("M").astype(str)',
                "weekend": 'visits["weekend"] = visits["date"].dt.day_of_week >= 5',
            }[col]
        elif frame == "labs":
            col = rng.choice(["value_z", "high"])
            code = {
                "value_z": 'labs["value_z"] = labs.groupby("test")["value"].transform(lambda s: (s - s.mean()) / s.std())',
                "high": 'labs["high"] = labs["value"] > labs.groupby("test")["value"].transform("median") * 1.3',
            }[col]
        else:
            col = "price_net"
            code = f'prices["price_net"] = (prices["price"] / (1 + prices["vat"])).round({rng.randint(1, 3)})'
        self.cols[frame].add(col)
        return (code, "new column", False)

    def _inplace(self):
        rng = self.rng
        return (rng.choice([
            f'patients.loc[patients["bmi"] > {rng.randint(45, 55)}, "bmi"] = np.nan',
            f'visits.loc[visits["los"] > {rng.randint(8, 12)}, "los"] = {rng.randint(8, 12)}',
            'patients["income"] = patients["income"].fillna(patients["income"].median())',
            f'visits["cost"] = visits["cost"].round({rng.randint(0, 1)})',
            'prices["item"] = prices["item"].str.strip().str.lower()',
            f'labs.loc[labs["test"] == "crp", "value"] = labs.loc[labs["test"] == "crp", "value"].clip(upper={rng.randint(15, 30)})',
        ]), "edit", False)

    def _merge(self):
        rng = self.rng
        r = rng.randrange(3)
        if r == 0:
            self.exists.add("pv")
            how = rng.choice(["left", "inner"])
            return (f'pv = visits.merge(patients[["patient_id", "age", "sex", "region", "smoker"]], on="patient_id", how="{how}")',
                    "merge", False)
        if r == 1:
            self.exists.add("lab_pat")
            return ('lab_pat = labs.merge(patients[["patient_id", "age", "sex"]], on="patient_id", how="inner")', "merge", False)
        self.exists.add("vp")
        return ('vp = visits.merge(prices[["item_id", "price", "vat"]], on="item_id", how="left")\n'
                'vp["total"] = vp["cost"] + vp["price"] * (1 + vp["vat"])', "merge", False)

    def _groupby(self):
        rng = self.rng
        options = [
            ('monthly = visits.groupby(visits["date"].dt.to_period("M"))["cost"].sum()', "monthly"),
            ('dept_los = visits.groupby("department")["los"].describe()', "dept_los"),
            ('lab_wide = labs.pivot_table(index="patient_id", columns="test", values="value", aggfunc="mean")', "lab_wide"),
            ('age_groups = patients.groupby(pd.cut(patients["age"], [0, 18, 40, 65, 80, 100], right=False), observed=True)'
             '.agg(n=("patient_id", "size"), income=("income", "median"), bmi=("bmi", "mean"))', "age_groups"),
        ]
        if "pv" in self.exists:
            options.append(('by_region = pv.groupby(["region", "sex"], observed=True).agg(visits=("visit_id", "count"), '
                            'cost=("cost", "sum"), mean_age=("age", "mean")).reset_index()', "by_region"))
            options.append((f'top_cost = pv.nlargest({rng.choice([50, 100, 500])}, "cost")', "top_cost"))
        if "lab_pat" in self.exists:
            options.append(('lab_by_sex = lab_pat.groupby(["test", "sex"])["value"].agg(["mean", "std", "count"]).reset_index()',
                            "lab_by_sex"))
        code, name = rng.choice(options)
        self.exists.add(name)
        return (code, "groupby", False)

    def _sort_or_dedupe(self):
        return (self.rng.choice([
            'visits = visits.sort_values(["date", "visit_id"])',
            'patients = patients.sort_values("age", kind="stable")',
            'visits = visits.drop_duplicates(subset=["patient_id", "date"])',
            'labs = labs.sort_values(["patient_id", "taken"]).reset_index(drop=True)',
        ]), "sort", False)

    def _astype(self):
        return (self.rng.choice([
            'patients["sex"] = patients["sex"].astype("category")',
            'visits["department"] = visits["department"].astype("category")',
            'labs["unit"] = labs["unit"].astype("category")',
            'visits["los"] = visits["los"].astype("int32")',
            'prices["vat"] = prices["vat"].astype("float32")',
        ]), "astype", False)

    def _drop(self):
        frame = self.rng.choice(["patients", "visits", "labs", "prices"])
        self.cols[frame] = set()
        drop = {"patients": self.PAT_COLS, "visits": self.VIS_COLS + ["checked"], "labs": ["value_z", "high"],
                "prices": ["price_net"]}[frame]
        return (f"{frame} = {frame}.drop(columns=[c for c in {drop!r} if c in {frame}.columns])", "drop", False)

    def _model(self):
        self.exists.add("clf")
        return ('X = patients[["age", "bmi", "income"]].fillna(0).head(20_000)\n'
                'y = patients["smoker"].head(20_000).astype(int)\n'
                'clf = LogisticRegression(max_iter=200).fit(X, y)\n'
                'train_accuracy = clf.score(X, y)\n'
                'train_accuracy', "model", False)

    def _display(self):
        rng = self.rng
        options = ['patients.describe()', 'visits["department"].value_counts()', 'len(patients), len(visits), len(labs)',
                   'print(patients.shape, visits.shape)', 'labs.groupby("test")["value"].median()',
                   f'mean_cost = float(visits["cost"].mean())\nround(mean_cost, {rng.randint(1, 3)})',
                   'patients.sample(5, random_state=0)']
        for name in ("pv", "by_region", "top_cost", "lab_wide"):
            if name in self.exists:
                options.append(f"{name}.head()")
        return (rng.choice(options), "display", False)


def check_workload(cells) -> list[str]:
    """Run the cells here without CellSync (magics and chat cells skipped): the cells that
    fail must be exactly those meant to. Returns what does not match."""
    import numpy as np
    import pandas as pd

    ns: dict = {"np": np, "pd": pd}
    bad = []
    for i, (code, kind, expect) in enumerate(cells):
        if code.startswith("%") or "cellsync." in code or code.startswith("import"):
            if code.startswith("import"):
                exec("import numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import LogisticRegression", ns)
            continue
        try:
            exec(compile(code, f"<cell {i}>", "exec"), ns)
            failed = None
        except Exception as exc:
            failed = f"{type(exc).__name__}: {exc}"
        if bool(failed) != expect:
            bad.append(f"cell {i} ({kind}): expected {'an error' if expect else 'no error'}, got {failed!r}: {code[:120]!r}")
    return bad


def write_notebook(cells, path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext cellsync")] + [nbformat.v4.new_code_cell(c) for c, _, _ in cells]
    nbformat.write(nb, path)


# --------------------------------------------------------------------------------------------
# The kernel


class Kernel:
    """A real IPython kernel through jupyter_client; each cell executed as a notebook front end
    does (execute_request, store_history), its outputs collected."""

    def __init__(self, workdir: Path, store: Path):
        from jupyter_client import KernelManager

        env = dict(os.environ, CELLSYNC_STORE=str(store), CELLSYNC_NOTEBOOK=str(workdir / "soak.ipynb"),
                   PYTHONUNBUFFERED="1")
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, cwd=str(workdir))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        try:
            self.pid = self.km.provisioner.process.pid
        except Exception:
            self.pid = None
        reply = self.kc.execute_interactive("", silent=True, store_history=False, timeout=60,
                                            user_expressions={"pid": "__import__('os').getpid()"})
        pid = reply["content"].get("user_expressions", {}).get("pid", {}).get("data", {}).get("text/plain")
        if pid:
            self.pid = int(pid)

    def run(self, code: str, timeout: float = 900) -> dict:
        outputs: list[dict] = []

        def hook(msg):
            t, c = msg["msg_type"], msg["content"]
            if t == "stream":
                outputs.append({"type": "stream", "name": c["name"], "text": c["text"]})
            elif t == "error":
                outputs.append({"type": "error", "ename": c["ename"], "evalue": c["evalue"],
                                "traceback": ANSI.sub("", "\n".join(c["traceback"]))})
            elif t in ("execute_result", "display_data"):
                outputs.append({"type": t, "text": c.get("data", {}).get("text/plain", "")[:2000]})

        t0 = time.monotonic()
        reply = self.kc.execute_interactive(code, timeout=timeout, output_hook=hook, store_history=True)
        content = reply["content"]
        return {"execution_count": content.get("execution_count"), "status": content.get("status"),
                "ename": content.get("ename"), "seconds": time.monotonic() - t0, "outputs": outputs}

    def close(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=False)


def rss(pid: int | None, tree: bool = False) -> int | None:
    if pid is None:
        return None
    try:
        import psutil

        p = psutil.Process(pid)
        total = p.memory_info().rss
        if tree:
            for c in p.children(recursive=True):
                try:
                    total += c.memory_info().rss
                except psutil.Error:
                    pass
        return int(total)
    except Exception:
        return None


def problem_lines(result: dict, expects_error: bool) -> dict:
    """What in one cell's outputs comes from CellSync: a traceback through the cellsync package,
    a 'CellSync could not…' / 'cellsync: …' line, a warning raised in cellsync's code; and an
    error the cell was not meant to raise."""
    found = {"cellsync_tracebacks": [], "problem_lines": [], "unexpected_errors": [], "stderr": []}
    for o in result["outputs"]:
        if o["type"] == "error":
            if "/cellsync/" in o["traceback"] or "cellsync." in o["ename"]:
                found["cellsync_tracebacks"].append(o["traceback"][-3000:])
            if not expects_error:
                found["unexpected_errors"].append(f"{o['ename']}: {o['evalue']}"[:500])
            continue
        text = o.get("text", "")
        if "Traceback (most recent call last)" in text and ("/cellsync/" in text or "cellsync" in text.lower()):
            found["cellsync_tracebacks"].append(text[-3000:])
        for line in text.splitlines():
            s = line.strip()
            low = s.lower()
            if s == "cellsync: all recorded":
                continue
            if (low.startswith("cellsync could not") or low.startswith("cellsync: ") or "cellsyncwarning" in low
                    or "/cellsync/" in s or low.startswith("cellsync is not loaded")):
                found["problem_lines"].append(s[:500])
        if o["type"] == "stream" and o["name"] == "stderr" and text.strip():
            found["stderr"].append(text.strip()[:500])
    if expects_error and result["status"] != "error":
        found["unexpected_errors"].append("the cell was meant to fail and did not")
    return {k: v for k, v in found.items() if v}


def status_problems(text: str) -> dict:
    """Parse `%cellsync status`: queue and the problems it lists."""
    out = {"queue": None, "problems": [], "text": text}
    m = re.search(r"worker queue: (\d+)", text)
    if m:
        out["queue"] = int(m.group(1))
    if "problems seen:" in text and "problems seen: none" not in text:
        out["problems"] = [ln.strip() for ln in text.split("problems seen:", 1)[1].splitlines() if ln.strip()]
    return out


# --------------------------------------------------------------------------------------------
# The chat writer (its own process)


def chat_main(store: Path, out: Path, stop: Path, seed: int, max_threads: int) -> int:
    import cellsync
    from cellsync import chat
    from cellsync.store import Store

    rng = random.Random(seed)
    written: list[dict] = []
    errors: list[str] = []
    threads: list[dict] = []
    k = 0
    t_start = time.monotonic()
    while not stop.exists():
        time.sleep(rng.uniform(0.5, 2.5))
        try:
            st = cellsync.open_store(store)
            try:
                counts = [r["execution_count"] for r in st.db.query(
                    "select execution_count from cells where execution_count is not null order by id desc limit 100")]
            finally:
                st.close()
        except Exception as exc:
            errors.append(f"reading cells: {type(exc).__name__}: {exc}"[:300])
            continue
        if not counts:
            continue
        k += 1
        tag = f"soak-c{k:04d}"
        via_api = k % 2 == 0
        ask = k % 25 == 0
        new = not threads or (len(threads) < max_threads and rng.random() < 0.15)
        t0 = time.monotonic()
        try:
            if new:
                count = rng.choice(counts)
                text = f"{tag}: why does cell {count} change **these** rows? ({rng.randint(1, 99)}% look odd)"
                if via_api:
                    tid = cellsync.comment(text, cell=count, store=str(store))
                else:
                    w = Store(store)
                    try:
                        tid = chat.start_thread(w, text, "ann", "expert", execution_count=count).id
                    finally:
                        w.close()
                if not (isinstance(tid, str) and HEX_ID.fullmatch(tid)):
                    raise RuntimeError(f"comment returned {tid!r}")
                threads.append({"thread": tid, "count": count})
                written.append({"tag": tag, "thread": tid, "via": "cellsync.comment" if via_api else "chat.start_thread",
                                "t": t0 - t_start, "write_s": time.monotonic() - t0})
            else:
                th = rng.choice(threads)
                # `@assistant` must open the message for the assistant to answer: the tag goes last
                text = (f"@assistant which cell removed the most rows? ({tag})" if ask else
                        f"{tag}: checked again, {rng.randint(1, 500)} rows differ; see the *histogram*")
                if via_api:
                    mid = cellsync.reply(th["thread"], text, store=str(store))
                else:
                    w = Store(store)
                    try:
                        mid = chat.post(w, th["thread"], text, "ann", "expert").id
                    finally:
                        w.close()
                if not (isinstance(mid, str) and HEX_ID.fullmatch(mid)):
                    raise RuntimeError(f"reply returned {mid!r}")
                written.append({"tag": tag, "thread": th["thread"], "via": "cellsync.reply" if via_api else "chat.post",
                                "t": t0 - t_start, "write_s": time.monotonic() - t0, "assistant": ask and via_api})
        except Exception as exc:
            errors.append(f"{tag}: {type(exc).__name__}: {exc}"[:300])
    out.write_text(json.dumps({"written": written, "errors": errors, "threads": threads}, indent=1))
    return 0


# --------------------------------------------------------------------------------------------
# A browser (its own process)


class RowMoved(Exception):
    """The row chosen is no longer on the page shown (before any click: not timed)."""


def browser_main(url: str, store: Path, out: Path, stop: Path, final: Path, seed: int) -> int:
    import browser as bw
    import cellsync

    rng = random.Random(seed)
    b = bw.Browser()
    page = b.page()
    res: dict = {"loads": [], "clicks": [], "click_errors": [], "rows_moved": [], "timeline_reads": 0, "max_count_seen": 0}
    t_start = time.monotonic()

    first_after_load = [True]
    first_count = [None]  # the timeline's first row (execution count)
    doing = ["start"]  # what this reader was doing: kept with each page error
    res["page_error_log"] = []
    page.on("pageerror", lambda e: res["page_error_log"].append(
        {"t": round(time.monotonic() - t_start, 1), "doing": doing[0], "error": str(e)[:200]}))

    def load():
        doing[0] = "load"
        first_after_load[0] = True
        try:
            res["loads"].append(bw.load(page, url, browser=b))
        except Exception as exc:
            res["click_errors"].append(f"load: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")

    def expected_summary(count: str) -> str | None:
        st = cellsync.open_store(store)
        try:
            rows = list(st.db.query("select id from cells where execution_count = ? order by id desc limit 1", [int(count)]))
            if not rows:
                return None
            ex = st.explanations(cell=rows[0]["id"]).get(rows[0]["id"])
            return ex["summary"] if ex else None
        finally:
            st.close()

    def click(count: str) -> dict:
        """Click the row of execution count `count`; time until the view shows 'Cell N' and the
        summary the store has for that cell (read just before the click)."""
        tl = bw.timeline(page)
        row = tl.locator(".tabulator-row").filter(
            has=page.locator(".tabulator-cell[tabulator-field='#']", has_text=re.compile(rf"^{count}$"))).first
        try:
            # the last page follows new cells: the row read a moment ago may have moved to the
            # page before (not a failure of the page; the reader picks another row)
            row.scroll_into_view_if_needed(timeout=3_000)
        except Exception as exc:
            now_shown = [c for c, _ in bw.rows_shown(page)]
            if now_shown and now_shown[0] == first_count[0] and count not in now_shown and "page button 1" not in doing[0]:
                res["jumped_to_first_page"] = res.get("jumped_to_first_page", 0) + 1
            raise RowMoved(f"cell {count} ({doing[0]}): {str(exc).splitlines()[0][:80]}; rows now "
                           f"{now_shown[:1]}..{now_shown[-1:]}") from None
        summary = expected_summary(count)
        doing[0] = f"click {count}"
        t0 = bw.now()
        row.click(timeout=10_000)
        head = page.locator("h3").filter(has_text=re.compile(rf"^Cell {count}( —.*)?$")).first
        head.wait_for(timeout=60_000)
        t_head = bw.now() - t0
        r = {"count": count, "heading_s": t_head, "t": t0 - t_start, "summary_expected": summary is not None,
             "first_after_load": first_after_load[0]}
        first_after_load[0] = False
        if summary:
            # the view's summary: the same HTML pane as the heading
            words = " ".join(summary.split())[:60]
            page.locator(".cs-summary").filter(has_text=words).first.wait_for(timeout=30_000)
        r["summary_s"] = bw.now() - t0
        return r

    load()
    last_load = time.monotonic()
    while not stop.exists():
        try:
            if time.monotonic() - last_load > 150:
                load()
                last_load = time.monotonic()
            # read the timeline: the last page (new cells) or another page
            if not bw.paginated(page) or rng.random() < 0.5:
                doing[0] = "last page"
                bw.go_last_page(page)
            else:
                pages = bw.timeline(page).locator(".tabulator-page[data-page]:not([data-page='first'])"
                                                  ":not([data-page='prev']):not([data-page='next']):not([data-page='last'])")
                n = pages.count()
                if n:
                    k = rng.randrange(n)
                    doing[0] = f"page button {pages.nth(k).get_attribute('data-page')}"
                    pages.nth(k).click(timeout=10_000)
                    page.wait_for_timeout(200)
            rows = bw.rows_shown(page)
            res["timeline_reads"] += 1
            counts = [c for c, _ in rows if c.strip().isdigit()]
            if counts and first_count[0] is None and (not bw.paginated(page) or not bw.timeline(page).locator(
                    ".tabulator-page[data-page='prev']").is_enabled()):
                first_count[0] = counts[0]
            if counts:
                res["max_count_seen"] = max(res["max_count_seen"], max(int(c) for c in counts))
                page.wait_for_timeout(rng.randint(300, 1200))  # a reader looks before clicking
                res["clicks"].append(click(rng.choice(counts)))
            page.wait_for_timeout(rng.randint(500, 2500))
        except RowMoved as exc:
            res["rows_moved"].append(f"{time.monotonic() - t_start:.0f}s {exc}")
        except Exception as exc:
            res["click_errors"].append(f"{time.monotonic() - t_start:.0f}s {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            page.wait_for_timeout(1000)
    # the end: the notebook is done and flushed, the chat writer has stopped
    while not final.exists():
        time.sleep(0.5)
    want = json.loads(final.read_text())
    doing[0] = "final check"
    try:
        page.locator(f"text=/· {want['cells']:,} cells ·/").first.wait_for(timeout=60_000)
        res["header_shows_all_cells"] = True
    except Exception:
        res["header_shows_all_cells"] = False
        res["header_text"] = page.locator("h2 + div").first.inner_text()[:300] if page.locator("h2 + div").count() else None
    bw.go_last_page(page)
    shown = bw.rows_shown(page)
    res["last_rows_shown"] = [c for c, _ in shown]
    res["last_cell_in_timeline"] = str(want["last_count"]) in res["last_rows_shown"]
    # every message: open each cell with a thread, expand everything, read the tags
    seen: set[str] = set()
    res["message_check_errors"] = []
    for count in want["thread_counts"]:
        try:
            tl = bw.timeline(page)
            row = tl.locator(".tabulator-row").filter(
                has=page.locator(".tabulator-cell[tabulator-field='#']", has_text=re.compile(rf"^{count}$"))).first
            bw.turn_to(page, row)
            row.click(timeout=10_000)
            page.locator("h3").filter(has_text=re.compile(rf"^Cell {count}( —.*)?$")).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            for _ in range(100):
                more = page.locator("button", has_text="Show earlier messages")
                visible = [i for i in range(more.count()) if more.nth(i).is_visible()]
                if not visible:
                    break
                more.nth(visible[0]).click(timeout=10_000)
                page.wait_for_timeout(800)
            for text in page.locator(".cs-message:not([data-role='assistant'])").all_inner_texts():
                seen.update(TAG.findall(text))
        except Exception as exc:
            res["message_check_errors"].append(f"cell {count}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    res["tags_seen"] = sorted(seen)
    res["blocked_requests"] = b.blocked[:20]
    res["page_errors"] = b.page_errors[:20]
    out.write_text(json.dumps(res, indent=1))
    b.close()
    return 0


# --------------------------------------------------------------------------------------------
# The soak


class ServerLog:
    """`cellsync serve` in a subprocess (bench/browser.py's Server), its output drained by a
    thread (a 10-minute run must never block the server on a full pipe) and kept."""

    def __init__(self, store: Path):
        import browser as bw

        self.server = bw.Server(store)
        self.url = self.server.url
        self.pid = self.server.proc.pid
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._drain, daemon=True)
        self._t.start()

    def _drain(self):
        for line in self.server.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def close(self):
        self.server.close()
        self._t.join(5)


def spawn(role: str, *args: str, log_to: Path) -> subprocess.Popen:
    fh = open(log_to, "w")
    return subprocess.Popen([sys.executable, __file__, f"--_{role}", *args], stdout=fh, stderr=subprocess.STDOUT)


def run(minutes: float, n_cells: int, sizes: dict, workdir: Path, seed: int = 0, max_threads: int = 12) -> dict:
    cells = Workload(n_cells, sizes, seed).cells()
    store = workdir / "store"
    write_notebook(cells, workdir / "soak.ipynb")
    signals = workdir / "signals"
    signals.mkdir(exist_ok=True)
    stop_chat, stop_browsers, final = signals / "chat.stop", signals / "browsers.stop", signals / "final.json"
    interval = minutes * 60.0 / max(1, n_cells)
    result: dict = {"minutes": minutes, "cells_planned": n_cells, "sizes": sizes, "workdir": str(workdir),
                    "pace_s_per_cell": interval}
    executed: list[dict] = []
    memory: list[dict] = []
    procs: dict[str, subprocess.Popen] = {}
    server = None
    kernel = Kernel(workdir, store)
    sampling = threading.Event()
    try:
        loaded = kernel.run("%load_ext cellsync")
        result["load_ext_output"] = [o.get("text", o.get("evalue", "")) for o in loaded["outputs"]]
        result["kernel_rss_after_load"] = rss(kernel.pid)
        n_setup = len(Workload(n_cells, sizes, seed).setup())
        t_run0 = time.monotonic()

        def execute(i: int) -> None:
            code, kind, expect = cells[i]
            r = kernel.run(code)
            r.update({"index": i, "kind": kind, "expects_error": expect, "code": code, "t": time.monotonic() - t_run0})
            r["found"] = problem_lines(r, expect)
            if kind == "status":
                r["cellsync_status"] = status_problems("".join(o.get("text", "") for o in r["outputs"]))
            executed.append(r)

        for i in range(n_setup):
            execute(i)
        flushed = kernel.run("%cellsync flush 600")
        executed.append({**flushed, "index": None, "kind": "flush", "expects_error": False, "code": "%cellsync flush 600",
                         "t": time.monotonic() - t_run0, "found": problem_lines(flushed, False)})
        log(f"soak: setup done ({len(executed)} cells, {time.monotonic() - t_run0:.0f} s); starting the server, "
            f"two browsers and the chat writer")
        server = ServerLog(store)
        result["server_url"] = server.url
        procs["chat"] = spawn("chat", str(store), str(workdir / "chat.json"), str(stop_chat), str(seed), str(max_threads),
                              log_to=workdir / "chat.log")
        for b in (0, 1):
            procs[f"browser{b}"] = spawn("browser", server.url, str(store), str(workdir / f"browser{b}.json"),
                                         str(stop_browsers), str(final), str(seed + 10 + b), log_to=workdir / f"browser{b}.log")
        time.sleep(15)  # both pages loaded: the memory baseline of a served store
        base = {"kernel": rss(kernel.pid), "server": rss(server.pid), "t": time.monotonic() - t_run0}
        result["rss_start"] = base

        def sample():
            while not sampling.wait(10):
                memory.append({"t": round(time.monotonic() - t_run0, 1), "kernel": rss(kernel.pid), "server": rss(server.pid),
                               "browsers": sum(rss(p.pid, tree=True) or 0 for k, p in procs.items() if k.startswith("browser")),
                               "chat": rss(procs["chat"].pid), "cells": len(executed),
                               "store_bytes": sum(f.stat().st_size for f in store.rglob("*") if f.is_file())})

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t_loop0 = time.monotonic()
        remaining = list(range(n_setup, len(cells)))
        deadline = t_loop0 + minutes * 60.0
        hard_stop = t_loop0 + minutes * 60.0 * 3 + 300
        step = (deadline - t_loop0) / max(1, len(remaining))
        for j, i in enumerate(remaining):
            due = t_loop0 + j * step
            if time.monotonic() < due:
                time.sleep(due - time.monotonic())
            if time.monotonic() > hard_stop:
                result["stopped_early_at_cell"] = i
                log(f"soak: stopping at cell {i}: far behind the pace")
                break
            execute(i)
            if (j + 1) % 50 == 0:
                log(f"soak: {len(executed)} cells run, {time.monotonic() - t_loop0:.0f} s")
        if time.monotonic() < deadline:
            time.sleep(deadline - time.monotonic())
        result["notebook_seconds"] = time.monotonic() - t_loop0
        stop_chat.touch()
        procs["chat"].wait(120)
        log("soak: notebook done; chat writer stopped; flushing the kernel")
        flushed = kernel.run("%cellsync flush 600")
        executed.append({**flushed, "index": None, "kind": "flush", "expects_error": False, "code": "%cellsync flush 600",
                         "t": time.monotonic() - t_run0, "found": problem_lines(flushed, False)})
        status = kernel.run("%cellsync status")
        executed.append({**status, "index": None, "kind": "status", "expects_error": False, "code": "%cellsync status",
                         "t": time.monotonic() - t_run0, "found": problem_lines(status, False),
                         "cellsync_status": status_problems("".join(o.get("text", "") for o in status["outputs"]))})
        result["final_flush_output"] = "".join(o.get("text", "") for o in flushed["outputs"]).strip()
        result["final_status"] = executed[-1]["cellsync_status"]
        stop_browsers.touch()
        chat_res = json.loads((workdir / "chat.json").read_text())
        # what the browsers must show at the end
        import cellsync

        st = cellsync.open_store(store)
        try:
            n_store_cells = st.summary()["cells"]
            thread_cells = sorted({r["execution_count"] for r in st.db.query(
                "select c.execution_count from threads t join cells c on c.id = t.cell")})
        finally:
            st.close()
        counts = [e["execution_count"] for e in executed if e.get("execution_count")]
        final.write_text(json.dumps({"cells": n_store_cells, "last_count": max(counts), "thread_counts": thread_cells}))
        browsers = {}
        for b in (0, 1):
            try:
                procs[f"browser{b}"].wait(600)
                browsers[b] = json.loads((workdir / f"browser{b}.json").read_text())
            except Exception as exc:
                browsers[b] = {"error": f"{type(exc).__name__}: {exc}",
                               "log": (workdir / f"browser{b}.log").read_text()[-3000:]}
        sampling.set()
        result["rss_end"] = {"kernel": rss(kernel.pid), "server": rss(server.pid), "t": time.monotonic() - t_run0}
        result["memory_series"] = memory
    finally:
        sampling.set()
        for name, p in procs.items():
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if server is not None:
            server.close()
        kernel.close()
    result.update(account(store, executed, chat_res, browsers, server, workdir))
    return result


def account(store: Path, executed: list[dict], chat_res: dict, browsers: dict, server, workdir: Path) -> dict:
    import cellsync

    st = cellsync.open_store(store)
    try:
        stored = st.cells()
        summary = st.summary()
        messages = list(st.db.query("select m.text, m.role, m.thread_id from messages m")) if st.has("messages") else []
        store_problems = st.problems()
        versions = summary["versions"]
    finally:
        st.close()
    # cells: every executed cell (execution_count from its execute_reply) must be in the store
    # with the same code and status; `%load_ext cellsync` is the one cell not recorded (it
    # starts before the extension listens)
    by_count: dict[int, list] = {}
    for c in stored:
        by_count.setdefault(c.execution_count, []).append(c)
    lost, wrong, doubled = [], [], []
    for e in executed:
        n = e.get("execution_count")
        got = by_count.get(n, [])
        if not got:
            lost.append({"execution_count": n, "code": e["code"][:200], "kind": e["kind"]})
            continue
        if len(got) > 1:
            doubled.append(n)
        c = got[0]
        if c.code.strip() != e["code"].strip() or c.status != e["status"]:
            wrong.append({"execution_count": n, "stored_status": c.status, "status": e["status"],
                          "code_equal": c.code.strip() == e["code"].strip()})
    executed_counts = {e.get("execution_count") for e in executed}
    extra = sorted(n for n in by_count if n not in executed_counts)
    # messages
    written = {w["tag"]: w for w in chat_res["written"]}
    for e in executed:
        if e["kind"] == "chat-reply":
            text = "".join(o.get("text", "") for o in e["outputs"])
            m = re.search(r"REPLY ([0-9a-f]{32})", text)
            tag = TAG.search(e["code"]).group(0)
            if m:
                written[tag] = {"tag": tag, "via": "cellsync.reply (in the kernel)", "id": m.group(1)}
    in_store: dict[str, int] = {}
    for m in messages:
        if m["role"] == "assistant":
            continue
        for t in set(TAG.findall(m["text"])):
            in_store[t] = in_store.get(t, 0) + 1
    msg_lost = sorted(t for t in written if t not in in_store)
    msg_doubled = sorted(t for t, n in in_store.items() if n > 1)
    unexpected = sorted(t for t in in_store if t not in written)
    seen = {b: set(r.get("tags_seen", [])) for b, r in browsers.items()}
    not_seen = {b: sorted(t for t in written if t not in s) for b, s in seen.items()}
    # problems
    found: dict[str, list] = {}
    for e in executed:
        for k, v in e.get("found", {}).items():
            found.setdefault(k, []).extend({"execution_count": e.get("execution_count"), "text": x} for x in v)
    statuses = [e["cellsync_status"] for e in executed if e.get("cellsync_status")]
    # the server's tracebacks, each as its last line; those through cellsync's code apart
    # (tornado's WebSocketClosedError when a page goes away is the web stack's, not CellSync's)
    server_tracebacks, cellsync_server_tracebacks, block = [], [], None
    for ln in (server.lines if server else []) + [""]:
        if ln.startswith("Traceback") or ln.startswith("Task exception"):
            block = block or []
        if block is not None:
            block.append(ln)
            if ln and not ln.startswith((" ", "Traceback", "Task exception", "future:", "During handling", "The above")):
                (cellsync_server_tracebacks if any("/cellsync/" in x for x in block) else server_tracebacks).append(ln[:300])
                block = None
            elif not ln:
                block = None
    logfile = store / "cellsync.log"
    log_lines = logfile.read_text(errors="replace").splitlines() if logfile.exists() else []
    clicks = [c for r in browsers.values() for c in r.get("clicks", [])]
    return {
        "cells": {
            "executed": len(executed), "in_store": len(stored), "lost": lost, "wrong": wrong, "doubled": doubled,
            "in_store_not_executed": extra, "errors_meant": sum(1 for e in executed if e["expects_error"]),
            "errors_seen": sum(1 for e in executed if e["status"] == "error"),
            "versions": versions, "sessions": summary["sessions"], "store_bytes": summary["size_bytes"],
            "kernel_seconds": stats([e["seconds"] for e in executed]),
        },
        "messages": {
            "written": len(written), "write_errors": chat_res["errors"], "threads": len(chat_res["threads"]),
            "in_store": sum(in_store.values()), "assistant_messages": sum(1 for m in messages if m["role"] == "assistant"),
            "lost": msg_lost, "doubled": msg_doubled, "in_store_not_written": unexpected,
            "not_seen_in_browser": not_seen,
            "write_s": stats([w["write_s"] for w in chat_res["written"]]),
        },
        "clicks": {
            "n": len(clicks), "summary_s": stats([c["summary_s"] for c in clicks]),
            "heading_s": stats([c["heading_s"] for c in clicks]),
            "with_summary": sum(1 for c in clicks if c["summary_expected"]),
            "summary_s_not_first_after_load": stats([c["summary_s"] for c in clicks if not c["first_after_load"]]),
            "rows_moved_before_click": {b: len(r.get("rows_moved", [])) for b, r in browsers.items()},
            "timeline_jumped_to_first_page": {b: r.get("jumped_to_first_page", 0) for b, r in browsers.items()},
            "errors": {b: r.get("click_errors", []) for b, r in browsers.items()},
            "page_loads_s": stats([ld["first_row_s"] for r in browsers.values() for ld in r.get("loads", [])]),
        },
        "browsers": {b: {k: v for k, v in r.items() if k not in ("clicks", "tags_seen", "loads")} for b, r in browsers.items()},
        "problems": {
            "in_cell_outputs": found,
            "cellsync_status": [s["problems"] for s in statuses if s["problems"]],
            "status_queue": [s["queue"] for s in statuses],
            "store_problems_table": store_problems,
            "server_tracebacks": server_tracebacks[:50],
            "server_cellsync_tracebacks": cellsync_server_tracebacks[:50],
            "server_output_lines": len(server.lines) if server else None,
            "cellsync_log_lines": len(log_lines),
            "cellsync_log_tail": log_lines[-20:],
        },
        "executed": [{k: e.get(k) for k in ("index", "execution_count", "kind", "status", "ename", "seconds", "t")}
                     for e in executed],
    }


def summarize(r: dict) -> str:
    mb = lambda b: f"{b / 1e6:,.0f} MB" if b else "?"  # noqa: E731
    c, m, k, p = r["cells"], r["messages"], r["clicks"], r["problems"]
    s0, s1 = r["rss_start"], r["rss_end"]
    not_seen = {b: len(v) for b, v in m["not_seen_in_browser"].items()}
    rows = [
        ("duration", f"{r['notebook_seconds'] / 60:.1f} min of notebook ({r['cells_planned']} cells planned, "
                     f"{c['executed']} executed incl. 2 flushes + final status)"),
        ("cells lost", f"{len(c['lost'])}  (executed {c['executed']}, in store {c['in_store']}; wrong code/status "
                       f"{len(c['wrong'])}, doubled {len(c['doubled'])}, extra {len(c['in_store_not_executed'])})"),
        ("cells that raised", f"{c['errors_seen']} (meant to: {c['errors_meant']})"),
        ("versions / store", f"{c['versions']} versions, {mb(c['store_bytes'])}"),
        ("messages lost", f"{len(m['lost'])}  (written {m['written']}, in store {m['in_store']}, doubled {len(m['doubled'])}, "
                          f"write errors {len(m['write_errors'])}; {m['threads']} threads, {m['assistant_messages']} assistant answers)"),
        ("messages not seen in browser", ", ".join(f"browser {b}: {n}" for b, n in not_seen.items())),
        ("kernel RSS", f"{mb(r['kernel_rss_after_load'])} after load, {mb(s0['kernel'])} at start, {mb(s1['kernel'])} at end "
                       f"({(s1['kernel'] - s0['kernel']) / 1e6:+,.0f} MB)"),
        ("server RSS", f"{mb(s0['server'])} at start, {mb(s1['server'])} at end ({(s1['server'] - s0['server']) / 1e6:+,.0f} MB)"),
        ("click -> summary", f"median {k['summary_s'].get('median', float('nan')):.3f} s, p95 {k['summary_s'].get('p95', float('nan')):.3f} s, "
                             f"max {k['summary_s'].get('max', float('nan')):.3f} s over {k['n']} clicks ({k['with_summary']} with a summary)"),
        ("click -> summary, not first after a load", f"median {k['summary_s_not_first_after_load'].get('median', float('nan')):.3f} s, "
                                                     f"p95 {k['summary_s_not_first_after_load'].get('p95', float('nan')):.3f} s"),
        ("clicks that failed", ", ".join(f"browser {b}: {len(v)}" for b, v in k["errors"].items())
         + "  (rows that moved before a click, not counted: "
         + ", ".join(f"{n}" for n in k["rows_moved_before_click"].values()) + "; of them the timeline had jumped back "
         "to its first page: " + ", ".join(f"{n}" for n in k["timeline_jumped_to_first_page"].values()) + ")"),
        ("page loads", f"median {k['page_loads_s'].get('median', float('nan')):.2f} s over {k['page_loads_s']['n']}"),
        ("CellSync tracebacks in cells", str(len(p["in_cell_outputs"].get("cellsync_tracebacks", [])))),
        ("CellSync problem lines in cells", str(len(p["in_cell_outputs"].get("problem_lines", [])))),
        ("unexpected cell errors", str(len(p["in_cell_outputs"].get("unexpected_errors", [])))),
        ("%cellsync status problems", str(sum(len(x) for x in p["cellsync_status"])) + f"; queue seen {p['status_queue']}"),
        ("store problems table", str(len(p["store_problems_table"]))),
        ("server tracebacks", f"{len(p['server_cellsync_tracebacks'])} through cellsync, {len(p['server_tracebacks'])} others"
                              + (f" (last lines: {sorted(set(p['server_tracebacks']))[:3]})" if p["server_tracebacks"] else "")),
        ("cellsync.log lines", str(p["cellsync_log_lines"])),
        ("browser page errors", ", ".join(f"browser {b}: {len(v.get('page_errors', []))}" for b, v in r["browsers"].items())),
    ]
    w = max(len(a) for a, _ in rows)
    return "\n".join(f"{a:<{w}}  {b}" for a, b in rows)


def verdict(r: dict) -> list[str]:
    """What failed: lost or wrong cells, lost or doubled messages, messages a browser did not
    show, CellSync tracebacks or problem lines, status problems. Empty: the soak held."""
    bad = []
    c, m, p = r["cells"], r["messages"], r["problems"]
    if c["lost"] or c["wrong"] or c["doubled"]:
        bad.append(f"cells: lost {len(c['lost'])}, wrong {len(c['wrong'])}, doubled {len(c['doubled'])}")
    if m["lost"] or m["doubled"] or m["write_errors"]:
        bad.append(f"messages: lost {len(m['lost'])}, doubled {len(m['doubled'])}, write errors {len(m['write_errors'])}")
    for b, tags in m["not_seen_in_browser"].items():
        if tags:
            bad.append(f"browser {b} did not show {len(tags)} messages")
    for k in ("cellsync_tracebacks", "problem_lines", "unexpected_errors"):
        if p["in_cell_outputs"].get(k):
            bad.append(f"{k.replace('_', ' ')}: {len(p['in_cell_outputs'][k])}")
    if p["server_cellsync_tracebacks"]:
        bad.append(f"server tracebacks through cellsync: {len(p['server_cellsync_tracebacks'])}")
    if p["cellsync_status"] or p["store_problems_table"]:
        bad.append("problems in %cellsync status or the store")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=None, help="how long the notebook runs (default 10; 1 with --quick)")
    ap.add_argument("--cells", type=int, default=None, help="cells in the notebook (default 500; 60 with --quick)")
    ap.add_argument("--quick", action="store_true", help="60 cells over 1 minute, frames of 10k-30k rows")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "soak.json")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (store, notebook, logs)")
    ap.add_argument("--check-workload", action="store_true", help="only run the cells here without CellSync and check "
                                                                  "that exactly the cells meant to fail fail")
    ap.add_argument("--_chat", nargs=5, help=argparse.SUPPRESS)
    ap.add_argument("--_browser", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._chat:
        s, o, stop, seed, mt = a._chat
        return chat_main(Path(s), Path(o), Path(stop), int(seed), int(mt))
    if a._browser:
        url, s, o, stop, final, seed = a._browser
        return browser_main(url, Path(s), Path(o), Path(stop), Path(final), int(seed))
    minutes = a.minutes if a.minutes is not None else (1.0 if a.quick else 10.0)
    n_cells = a.cells if a.cells is not None else (60 if a.quick else 500)
    sizes = ({"patients": 30_000, "visits": 20_000, "labs": 15_000, "prices": 10_000} if a.quick else
             {"patients": 100_000, "visits": 60_000, "labs": 40_000, "prices": 10_000})
    if a.check_workload:
        bad = check_workload(Workload(n_cells, sizes, a.seed).cells())
        print("\n".join(bad) or f"all {n_cells} cells behave as meant")
        return 1 if bad else 0
    workdir = Path(tempfile.mkdtemp(prefix="cellsync-soak-"))
    t0 = time.time()
    try:
        result = run(minutes, n_cells, sizes, workdir, seed=a.seed)
        from common import machine

        result["machine"] = machine()
        result["started"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0)) + " UTC"
        result["wall_seconds"] = time.time() - t0
        result["failures"] = verdict(result)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=1, default=str))
        print(summarize(result))
        print(f"\n{'FAILED: ' + '; '.join(result['failures']) if result['failures'] else 'held: nothing lost, no CellSync problem'}")
        print(f"results: {a.out}" + (f"; work folder {workdir}" if a.keep else ""))
        return 1 if result["failures"] else 0
    finally:
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

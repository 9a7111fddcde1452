"""A real kernel (nbclient) replays the bundled notebook; every recorded number is checked
against pandas computed independently, by running the same cells here."""

import json
import os

import nbformat
import pandas as pd
import pytest

from cellsync.replay import replay_notebook

from helpers import DEMO, entries

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def replayed(demo_replay):
    return demo_replay  # replayed once per session (conftest.py)


@pytest.fixture(scope="module")
def states():
    """Run the notebook's cells in this process: the namespace before and after each cell."""
    nb = nbformat.read(DEMO, as_version=4)
    ns: dict = {}
    out = []
    cwd = os.getcwd()
    os.chdir(DEMO.parent)
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            before = {k: v.copy() for k, v in ns.items() if isinstance(v, (pd.DataFrame, pd.Series)) and not k.startswith("_")}
            try:
                exec(compile(cell.source, "<cell>", "exec"), ns)
                error = None
            except Exception as exc:  # the notebook's deliberately failing cell
                error = exc
            after = {k: v.copy() for k, v in ns.items() if isinstance(v, (pd.DataFrame, pd.Series)) and not k.startswith("_")}
            out.append((cell, before, after, error))
    finally:
        os.chdir(cwd)
    return out


def _rows_by_key(before, after, key="patient_id"):
    """Rows removed/added and values changed per shared column, joining on a unique key."""
    b_ids, a_ids = set(before[key]), set(after[key])
    m = before.merge(after, on=key, suffixes=("__b", "__a"))
    changed = {}
    for c in before.columns:
        if c == key or c not in after.columns:
            continue
        x, y = m[f"{c}__b"].astype(object), m[f"{c}__a"].astype(object)
        n = int((~((x == y) | (x.isna() & y.isna()))).sum())
        if n:
            changed[c] = n
    return len(b_ids - a_ids), len(a_ids - b_ids), changed


def _rows_as_multisets(before, after):
    """Rows removed/added counting identical rows (on the shared columns) as the same row."""
    shared = [c for c in before.columns if c in after.columns]
    cb = before[shared].astype(str).value_counts(dropna=False)
    ca = after[shared].astype(str).value_counts(dropna=False)
    cb, ca = cb.align(ca, fill_value=0)
    return int((cb - ca).clip(lower=0).sum()), int((ca - cb).clip(lower=0).sum())


def test_replay_records_every_code_cell(replayed, states):
    result, store = replayed
    import cellsync

    cells = entries(cellsync.open_store(store))
    code_cells = [s[0] for s in states]
    assert len(cells) == len(code_cells) == result.cells_run
    assert [c["cell_id"] for c in cells] == [c.get("id") for c in code_cells]
    assert [c["code"] for c in cells] == [c.source for c in code_cells]
    executed = [c for c in result.executed.cells if c.cell_type == "code"]
    assert [c["execution_count"] for c in cells] == [c.execution_count for c in executed]
    failing = [c for c in cells if c["status"] == "error"]
    assert len(failing) == 1 and failing[0]["error"]["type"] == "KeyError"
    assert "weight" in failing[0]["error"]["message"] and failing[0]["frames"] == []


def test_every_recorded_number_matches_pandas(replayed, states):
    _, store = replayed
    import cellsync

    st = cellsync.open_store(store)
    cells = entries(st)
    checked = 0
    for recorded, (cell, before_ns, after_ns, error) in zip(cells, states):
        assert (recorded["status"] == "error") == (error is not None), cell.source
        changed_names = {
            k for k in after_ns
            if k not in before_ns or not after_ns[k].equals(before_ns[k])
            or list(after_ns[k].columns) != list(before_ns[k].columns)
        }
        assert {f["name"] for f in recorded["frames"]} == changed_names, cell.source
        for f in recorded["frames"]:
            after = after_ns[f["name"]]
            assert f["rows_after"] == len(after) and f["n_cols"] == after.shape[1]
            if f["parent"] is None:
                assert f["rows_before"] is None and f["rows_added"] == len(after)
                continue
            # the parent is the frame as it stood when this cell read it
            before = before_ns.get(f["parent"], after_ns.get(f["parent"]))
            if f["parent"] not in before_ns:
                before = after_ns[f["parent"]]
            assert f["rows_before"] == len(before), cell.source
            renamed = f["columns_renamed"]
            b_cols = [renamed.get(c, c) for c in before.columns]
            assert sorted(f["columns_added"]) == sorted(set(after.columns) - set(b_cols))
            assert sorted(f["columns_removed"]) == sorted(c for c in before.columns if renamed.get(c, c) not in set(after.columns))
            before_r = before.rename(columns=renamed)

            def text(dtype):  # a categorical's type names how many categories it has
                if isinstance(dtype, pd.CategoricalDtype):
                    return f"category ({len(dtype.categories)} categories{', ordered' if dtype.ordered else ''})"
                return str(dtype)

            dtypes = {
                c: {"before": text(before_r[c].dtype), "after": text(after[c].dtype)}
                for c in after.columns
                if c in before_r.columns and text(before_r[c].dtype) != text(after[c].dtype)
            }
            assert f["dtype_changes"] == dtypes, cell.source
            if f["row_identity"] == "reshape":
                assert (f["rows_removed"], f["rows_added"], f["values_changed"]) == (0, 0, {})
                assert any(op in cell.source for op in ("groupby", "pivot_table", "melt"))
            elif "patient_id" in after.columns and before_r["patient_id"].is_unique and after["patient_id"].is_unique:
                removed, added, changed = _rows_by_key(before_r, after)
                assert (f["rows_removed"], f["rows_added"]) == (removed, added), cell.source
                assert f["values_changed"] == changed, cell.source
            else:
                removed, added = _rows_as_multisets(before_r, after)
                assert (f["rows_removed"], f["rows_added"]) == (removed, added), cell.source
                assert f["values_changed"] == {}, cell.source
            checked += 1
    assert checked >= 14


def test_profiles_match_pandas_for_the_final_frames(replayed, states):
    _, store = replayed
    import cellsync

    st = cellsync.open_store(store)
    final = states[-1][2]
    for name in ("patients", "adults", "combined"):
        v = st.versions(frame=name)[-1]
        frame = final[name]
        for col in v.profile.columns:
            s = frame[col.name]
            assert (col.count, col.missing) == (s.count(), s.isna().sum()), (name, col.name)
            assert col.unique == s.nunique()
            if col.kind == "numeric":
                assert col.mean == pytest.approx(float(s.mean()))
        # and the data itself can be rebuilt from the store, in another process's view
        back = st.load_frame(v.id)
        pd.testing.assert_frame_equal(back, frame, check_index_type=False)


def test_removed_rows_are_the_ones_pandas_removed(replayed, states):
    _, store = replayed
    import cellsync

    st = cellsync.open_store(store)
    dropna_version = next(
        st.version(f["version"])
        for c in entries(st) if "dropna" in c["code"]
        for f in c["frames"]
    )
    removed = st.removed_rows(dropna_version.id)
    before = next(b for cell, b, a, e in states if "dropna" in cell.source)["patients"]
    expected = before[before["income"].isna()]
    assert sorted(removed["patient_id"]) == sorted(expected["patient_id"])


def test_show_json_from_the_cli(replayed):
    from click.testing import CliRunner

    from cellsync.cli import main

    _, store = replayed
    res = CliRunner().invoke(main, ["show", str(store), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    required = {"execution_count", "cell_id", "code", "status", "error", "frames"}
    frame_keys = {"name", "parent", "rows_before", "rows_after", "rows_removed", "rows_added",
                  "columns_added", "columns_removed", "columns_renamed", "dtype_changes", "values_changed"}
    assert all(required <= set(c) for c in data["cells"])
    assert all(frame_keys <= set(f) for c in data["cells"] for f in c["frames"])
    rename = next(c for c in data["cells"] if "rename" in c["code"])
    assert rename["frames"][0]["columns_renamed"] == {"bmi_value": "bmi"}


def test_disproportionate_cleaning_is_flagged_in_a_real_kernel(tmp_path):
    """One step drops mostly the oldest patients (flagged); another drops a uniform random 10%
    (not flagged). Numbers checked against pandas run on the same data here."""
    from click.testing import CliRunner

    from cellsync.cli import main

    setup = (
        "import numpy as np, pandas as pd, cellsync\n"
        "rng = np.random.default_rng(42)\n"
        "df = pd.DataFrame({'age': rng.integers(20, 100, 4000), 'lab': rng.normal(5, 1, 4000)})\n"
        "df.loc[rng.random(4000) < np.where(df.age >= 80, 0.5, 0.05), 'lab'] = np.nan\n"
        "cellsync.segment('80 and over', 'age >= 80')"
    )
    cells = [setup, "df = df.dropna(subset=['lab'])", "df = df.sample(frac=0.9, random_state=0)"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / "clean.ipynb"
    nbformat.write(nb, path)
    store = tmp_path / "store"
    replay_notebook(path, store)
    data = json.loads(CliRunner().invoke(main, ["show", str(store), "--json"]).output)
    ns: dict = {}
    exec(setup.rsplit("\n", 1)[0], ns)  # the same data, without the cellsync call
    before = ns["df"]
    after1 = before.dropna(subset=["lab"])
    after2 = after1.sample(frac=0.9, random_state=0)
    impacts = [{s["segment"]: s for s in c["segments"] if s["frame"] == "df"} for c in data["cells"]]
    dropna = impacts[1]["age >= 80"]
    old_before = int((before.age >= 80).sum())
    old_removed = int((before.age >= 80).sum() - (after1.age >= 80).sum())
    assert (dropna["rows_before"], dropna["rows_removed"], dropna["rows_after"]) == (
        old_before, old_removed, int((after1.age >= 80).sum()))
    assert dropna["removal_rate"] == pytest.approx(old_removed / old_before)
    assert dropna["overall_removal_rate"] == pytest.approx(1 - len(after1) / len(before))
    assert dropna["flagged"] is True
    sample = impacts[2]["age >= 80"]
    assert sample["rows_removed"] == int((after1.age >= 80).sum() - (after2.age >= 80).sum())
    assert sample["flagged"] is False
    assert not any(s["flagged"] for s in impacts[2].values())


def test_without_a_jupyter_frontend_one_line_says_where_the_dashboard_is(tmp_path, monkeypatch):
    """nbclient (as VS Code or Voila): no side area to fill. Loading prints one line;
    cellsync.sidecar() serves the dashboard from the kernel and prints its address, which
    answers with the dashboard's page (what the page shows is checked in a browser, in
    test_sidecar's Notebook 7 test)."""
    from nbclient import NotebookClient

    monkeypatch.setenv("CELLSYNC_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "%load_ext cellsync",
        "import pandas as pd, cellsync\ndf = pd.DataFrame({'a': range(10)})\ndf = df[df.a > 3]",
        "url = cellsync.sidecar()",
        "import urllib.request\npage = urllib.request.urlopen(url, timeout=30).read().decode()\n"
        "print(len(page) > 1000, 'bokeh' in page.lower())",
    )]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]
    assert [o.output_type for c in nb.cells for o in c.outputs if o.output_type == "error"] == []
    assert texts[0].count("\n") == 1 and texts[0].startswith("CellSync: recording to ")
    assert "cellsync serve" in texts[0]
    assert texts[2].startswith("CellSync: the dashboard is at http://127.0.0.1:") and texts[2].count("\n") == 1
    assert texts[3].strip() == "True True"


def test_vs_code_kernels_are_not_taken_for_jupyterlab(monkeypatch):
    """VS Code may set JPY_SESSION_NAME, but it marks its kernels with __vsc_ipynb_file__ and
    has no side area: no sidecar widget there, only the line."""
    import sys
    import types

    from IPython.core.interactiveshell import InteractiveShell

    from cellsync.beside import in_jupyter_frontend

    shell = InteractiveShell.instance()
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/analysis.ipynb")
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or types.ModuleType("ipykernel"))
    monkeypatch.delitem(shell.user_ns, "__vsc_ipynb_file__", raising=False)
    assert in_jupyter_frontend()
    monkeypatch.setitem(shell.user_ns, "__vsc_ipynb_file__", "/home/me/analysis.ipynb")
    assert not in_jupyter_frontend()
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert not in_jupyter_frontend()

"""The store budget (`max_store_mb`), size by frame (`cellsync status`) and `cellsync prune`:
a real InteractiveShell with the extension writing a real store, every number checked against
pandas (or the files on disk) computed independently."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import cellsync
from cellsync.cli import main
from cellsync.errors import StoreInUse, VersionDataPruned
from cellsync.store import Store, store_size
from cellsync.store.budget import kernel_recording
from helpers import recorded, run, run_cells


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def versions_of(store, frame):
    return store.versions(frame=frame)


def data_file(store, key):
    (path,) = [p for p in store.files.root.glob(f"{key[:2]}/{key}.*")]
    return path


def test_past_the_budget_new_versions_keep_aggregates_and_a_seeded_sample(shell, store_dir, monkeypatch):
    monkeypatch.setattr(cellsync.settings, "max_store_mb", 0)
    monkeypatch.setattr(cellsync.settings, "budget_sample_rows", 5000)
    run(shell, "rng = np.random.default_rng(11)\n"
               "df = pd.DataFrame({'a': rng.normal(size=40_000), 'b': rng.integers(0, 100, 40_000),"
               " 's': rng.choice(['x', 'y', 'z'], 40_000)})")
    recorded(shell).close()
    # room for a little more than what is there: the next versions fit, then the store is past it
    monkeypatch.setattr(cellsync.settings, "max_store_mb", store_size(store_dir) / 1e6 + 0.1)
    run(shell, "df2 = df[df.b < 50]")  # a bitmask: fits
    run(shell, "df3 = df.assign(c=rng.normal(size=len(df)))")  # a new column of 320 KB: written, now past it
    run(shell, "df4 = df3[df3.b >= 10]")
    store = recorded(shell)
    df, df3, df4 = (shell.user_ns[n] for n in ("df", "df3", "df4"))
    (v2,), (v3,), (v4,) = (versions_of(store, n) for n in ("df2", "df3", "df4"))
    assert (v2.data.kind, v2.data.sampled) == ("delta", False)
    assert (v3.data.kind, v3.data.sampled) == ("delta", False)
    assert v4.data.kind == "full" and v4.data.sampled and (v4.data.rows, v4.data.sample_of) == (5000, len(df4))
    budget = cellsync.settings.max_store_mb
    assert v4.note == (f"The store is past its {budget:,g} MB budget (max_store_mb), so this version keeps its "
                       f"profile, its diff and a seeded sample of 5,000 of {len(df4):,} rows, not its full data.")
    # the sample is the seeded one, drawn from the whole frame
    take = np.sort(np.random.default_rng(cellsync.settings.sample_seed).choice(len(df4), 5000, replace=False))
    pd.testing.assert_frame_equal(store.load_frame(v4.id), df4.iloc[take])
    # aggregates stay exact: profile and diff computed on the whole frame
    a = {c.name: c for c in v4.profile.columns}["a"]
    assert v4.profile.n_rows == len(df4) and a.mean == pytest.approx(df4.a.mean()) and a.missing == 0
    assert (v4.diff.rows_before, v4.diff.rows_after, v4.diff.rows_removed) == (len(df3), len(df4), int((df3.b < 10).sum()))
    # SnapGrid on the sampled version: an estimate, and labelled so
    (cell,) = store.snapgrid("df4", "b >= 90").cells
    assert cell.status == "estimated from sample"
    assert cell.segment_rows == round(int((df4.iloc[take].b >= 90).sum()) * len(df4) / 5000)


def test_status_shows_the_size_by_frame(shell, store_dir):
    run(shell, "rng = np.random.default_rng(2)\n"
               "df = pd.DataFrame({'a': rng.normal(size=30_000), 'b': rng.integers(0, 9, 30_000)})")
    run(shell, "small = df[df.b == 3]")
    run(shell, "wide = df.assign(c=rng.normal(size=len(df)))")
    store = recorded(shell)
    (vd,), (vs,), (vw,) = (versions_of(store, n) for n in ("df", "small", "wide"))
    # what each frame wrote first, read off the disk: df its two columns, small its bitmask,
    # wide its new column and its rows (a and b are df's files, counted once)
    expected = {
        "df": sum(data_file(store, ref.key).stat().st_size for ref in vd.data.columns),
        "small": data_file(store, vs.data.parent_rows).stat().st_size,
        "wide": sum(data_file(store, k).stat().st_size for k in (vw.data.columns[2].key, vw.data.parent_rows)),
    }
    size = store.size_by_frame()
    assert size.frames == expected
    assert size.total == store_size(store_dir)
    assert size.database + sum(size.frames.values()) + size.unreferenced + size.other == size.total
    res = invoke("status", store_dir)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    rows = [l.strip() for l in lines if l.startswith("  ")]
    assert rows == [f"{f}: {n / 1e6:,.2f} MB" for f, n in sorted(expected.items(), key=lambda kv: -kv[1])]
    as_json = json.loads(invoke("status", store_dir, "--json").output)
    assert as_json["size"]["frames"] == expected and as_json["size"]["total"] == size.total


CHAIN = [
    "rng = np.random.default_rng(7)\n"
    "df = pd.DataFrame({'a': rng.normal(size=20_000), 'b': rng.integers(0, 100, 20_000),"
    " 'r': rng.choice(['n', 's', 'e'], 20_000)}, index=pd.RangeIndex(20_000) * 3)",
    "df = df[df.b < 80]",
    "df['a'] = df['a'] * 2",
    "df = df[df.a > -1]",
    "df = df.sort_values('a')",
]


@pytest.fixture
def chain(shell):
    frames = run_cells(shell, CHAIN)
    run(shell, "import cellsync\n_ = cellsync.segment('north', 'r == \"n\"')")
    run(shell, "other = pd.DataFrame({'x': range(50)})")  # a frame with one version: never pruned
    path = recorded(shell).path
    from cellsync.chat import start_thread

    with Store(path) as st:  # an expert's question on the third cell: prune must keep it
        start_thread(st, "is the sort right?", author="ana", cell=st.cells()[2].id)
    return shell, frames


def tables(path):
    """Everything prune must leave alone."""
    with cellsync.open_store(path) as st:
        out = {t: list(st.db[t].rows) for t in ("cells", "impacts", "metrics", "segments", "threads", "messages", "problems")}
        out["versions"] = [(r["id"], r["profile"], r["diff"], r["operation"], r["n_rows"])
                           for r in st.db.query("select * from versions order by rowid")]
    return out


def test_prune_refuses_while_a_kernel_records_then_keeps_the_newest_and_rewrites_what_they_need(chain, store_dir):
    shell, frames = chain
    assert kernel_recording(store_dir)
    res = invoke("prune", store_dir, "--keep-last", 2)
    assert res.exit_code == 1 and res.output.strip().splitlines() == [
        f"Error: a running kernel is recording into {store_dir}; stop it (or `%unload_ext cellsync`) and prune again"]
    with Store(store_dir) as st, pytest.raises(StoreInUse):
        st.prune(keep_last=2)
    shell.extension_manager.unload_extension("cellsync")
    assert not kernel_recording(store_dir)

    with cellsync.open_store(store_dir) as st:
        plans = {v.id: v.data for v in st.versions(frame="df")}
        ids = list(plans)
        assert [p.kind for p in plans.values()] == ["full", "delta", "delta", "delta", "delta"]
    before, size_before = tables(store_dir), store_size(store_dir)
    res = invoke("prune", store_dir, "--keep-last", 2)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("pruned the data of 3 version(s); rewrote 1 kept version(s) whole; removed ")
    assert tables(store_dir) == before  # cells, impacts, segments, messages, profiles, diffs: untouched
    assert store_size(store_dir) < size_before
    st = cellsync.open_store(store_dir)
    versions = st.versions(frame="df")
    assert [v.data.kind for v in versions] == ["pruned"] * 3 + ["full", "delta"]
    assert all("Its data was pruned on" in v.note for v in versions[:3])
    # the kept versions come back exactly, from their own files
    for v, frame in zip(versions[3:], frames[3:]):
        pd.testing.assert_frame_equal(st.load_frame(v.id), frame)
    with pytest.raises(VersionDataPruned, match="data pruned"):
        st.load_frame(ids[0])
    assert st.size_by_frame().unreferenced == 0
    assert [v.data.kind for v in st.versions(frame="other")] == ["full"]
    # SnapGrid: honest about what is gone, exact on what is kept
    grid = st.snapgrid("df", 'r == "n" and a > 0', columns=["b"])
    assert [c.status for c in grid.cells] == ["data pruned"] * 3 + ["exact"] * 2
    assert [c.segment_rows for c in grid.cells[:3]] == [None] * 3
    for c, frame in zip(grid.cells[3:], frames[3:]):
        inside = frame[(frame.r == "n") & (frame.a > 0)]
        assert (c.segment_rows, c.frame_rows) == (len(inside), len(frame))
        assert c.distributions["b"].mean == pytest.approx(inside.b.mean())
    # the dashboard's charts draw the kept versions only, never a number for a pruned one
    from cellsync.ui import distribution_chart
    from cellsync.ui.charts import segment_rows_chart

    curve = list(segment_rows_chart(grid))[0]
    assert list(curve.dimension_values(0)) == [3, 4]
    assert list(list(distribution_chart(grid, "b"))[2].dimension_values(0)) == [3, 4]
    # removed rows of a kept version whose parent's data is gone: a clear error, not a crash
    with pytest.raises(VersionDataPruned):
        st.removed_rows(versions[3].id)
    # pruning again finds nothing more to drop
    st.close()
    again = invoke("prune", store_dir, "--keep-last", 2)
    assert again.exit_code == 0 and again.output.startswith("pruned the data of 0 version(s); rewrote 0")


def test_prune_before_a_cell_and_a_dashboard_connection_opened_before_the_prune(chain, store_dir):
    shell, frames = chain
    shell.extension_manager.unload_extension("cellsync")
    reader = cellsync.open_store(store_dir)  # a dashboard, open across the prune
    old = reader.snapgrid("df", "b >= 50")
    assert [c.status for c in old.cells] == ["exact"] * 5
    cell_ids = [v.cell for v in reader.versions(frame="df")]
    res = invoke("prune", store_dir, "--before", cell_ids[3])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("pruned the data of 3 version(s); rewrote 1 kept version(s) whole")
    grid = reader.snapgrid("df", "b >= 50")
    assert [c.status for c in grid.cells] == ["data pruned"] * 3 + ["exact"] * 2
    assert [c.segment_rows for c in grid.cells[3:]] == [int((f.b >= 50).sum()) for f in frames[3:]]
    pd.testing.assert_frame_equal(reader.load_frame(reader.versions(frame="df")[3].id), frames[3])
    # `other` came after: untouched; a frame's newest version is never dropped, whatever --before says
    res = invoke("prune", store_dir, "--before", 10_000)
    assert res.exit_code == 0 and res.output.startswith("pruned the data of 1 version(s); rewrote 1 kept version(s) whole")
    assert [v.data.kind for v in reader.versions(frame="df")] == ["pruned"] * 4 + ["full"]
    pd.testing.assert_frame_equal(reader.load_frame(reader.versions(frame="df")[-1].id), frames[-1])
    reader.close()


@pytest.mark.parametrize("args, message", [
    ((), "give one of --keep-last N or --before CELL"),
    (("--keep-last", 1, "--before", 3), "give one of --keep-last N or --before CELL"),
])
def test_prune_needs_one_rule(tmp_path, args, message):
    Store(tmp_path).close()
    res = invoke("prune", tmp_path, *args)
    assert res.exit_code == 2 and message in res.output


def test_prune_of_a_missing_store_is_one_line(tmp_path):
    res = invoke("prune", tmp_path / "nope", "--keep-last", 1)
    assert res.exit_code == 1 and res.output.strip() == f"Error: no CellSync store at {tmp_path / 'nope'}"

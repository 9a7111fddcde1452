"""The store on a real SQLite file: schema, read-only opens, errors, and version data."""

import sqlite3

import numpy as np
import pandas as pd
import pytest

from cellsync.config import Settings
from cellsync.diff import diff_frames
from cellsync.errors import StoreCorrupt, StoreNotFound, StoreReadOnly, StoreTooNew
from cellsync.store import CellRun, Store, Version, open_store, store_size
from cellsync.versions import persist


def cell(seq, code="x"):
    return CellRun("s1", seq, seq, None, None, code, "2026-01-01T00:00:00", 0.01, "ok")


def write_version(store, vid, frame, parent=None, parent_id=None, cfg=None, name="df"):
    cfg = cfg or Settings()
    kwargs = {}
    if parent is not None:
        _, m = diff_frames(parent, frame)
        kwargs = dict(
            parent=store.plan(parent_id),
            parent_id=parent_id,
            parent_positions=m.parent_positions(len(frame)),
            same_columns=m.same_columns,
            same_index=m.same_index,
        )
    plan = persist(store.files, frame, cfg, **kwargs)
    store.write_cell(
        cell(len(store.cells()) + 1),
        [Version(id=vid, frame=name, session_id="s1", change="new", n_rows=len(frame), n_cols=frame.shape[1], parent_id=parent_id, data=plan)],
    )
    return plan


@pytest.fixture
def store(store_dir):
    s = Store(store_dir)
    s.start_session("s1", None, {"pid": 1})
    yield s
    s.close()


@pytest.fixture
def big():
    rng = np.random.default_rng(0)
    n = 20_000
    return pd.DataFrame(
        {
            "a": rng.random(n),
            "b": rng.integers(0, 10, n),
            "s": rng.choice(["x", "y", "z"], n),
            "t": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
            "c": pd.Categorical(rng.choice(["p", "q"], n)),
        }
    )


def test_wal_and_schema(store):
    mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert {"cells", "versions", "sessions", "problems", "meta"} <= set(store.db.table_names())


def test_filter_is_stored_as_a_delta_and_rebuilds_exactly(store, big):
    write_version(store, "v1", big)
    size_full = store_size(store.path)
    filtered = big[big["b"] != 3]
    plan = write_version(store, "v2", filtered, parent=big, parent_id="v1")
    assert plan.kind == "delta"
    assert all(ref.parent is not None for ref in plan.columns)  # no column rewritten
    growth = store_size(store.path) - size_full
    assert growth < 0.25 * size_full  # positions only, not another copy of the columns
    reader = open_store(store.path)
    pd.testing.assert_frame_equal(reader.load_frame("v2"), filtered)
    pd.testing.assert_frame_equal(reader.load_frame("v1"), big)
    removed = reader.removed_rows("v2")
    pd.testing.assert_frame_equal(removed, big[big["b"] == 3])


def test_changed_column_is_the_only_one_written(store, big):
    write_version(store, "v1", big)
    after = big.copy()
    after["a"] = after["a"] * 2
    after["new"] = 1
    plan = write_version(store, "v2", after, parent=big, parent_id="v1")
    written = [r.label for r in plan.columns if r.key]
    assert written == ["a", "new"]
    pd.testing.assert_frame_equal(open_store(store.path).load_frame("v2"), after)


def test_identical_columns_are_written_once(store, big):
    write_version(store, "v1", big)
    files_before = sorted(p.name for p in (store.path / "data").rglob("*.parquet"))
    # a full write of a frame whose columns were all seen before adds no column file
    write_version(store, "v9", big.copy(), name="other")
    files_after = sorted(p.name for p in (store.path / "data").rglob("*.parquet"))
    assert files_after == files_before


def test_long_delta_chains_are_cut_by_a_full_write(store, big):
    cfg = Settings(full_version_every=3)
    write_version(store, "v0", big, cfg=cfg)
    frame, kinds = big, []
    for i in range(1, 6):
        nxt = frame.iloc[:-100]
        kinds.append(write_version(store, f"v{i}", nxt, parent=frame, parent_id=f"v{i-1}", cfg=cfg).kind)
        frame = nxt
    assert kinds == ["delta", "delta", "full", "delta", "delta"]
    pd.testing.assert_frame_equal(open_store(store.path).load_frame("v5"), frame)


def test_sampling_above_the_cap_is_seeded_and_labelled(store, big):
    plan = write_version(store, "v1", big, cfg=Settings(max_persist_rows=1000, sample_seed=5))
    assert plan.sampled and plan.sample_of == len(big) and plan.rows == 1000
    back = open_store(store.path).load_frame("v1")
    rng = np.random.default_rng(5)
    take = np.sort(rng.choice(len(big), 1000, replace=False))
    pd.testing.assert_frame_equal(back, big.iloc[take])


def test_a_large_frame_is_written_in_threads_as_in_one(store_dir, tmp_path):
    """From 100,000 rows the columns are written in `profile_threads` threads: the same
    files and plans as one thread, whole and as a delta (one column rewritten, one added)."""
    rng = np.random.default_rng(3)
    n = 120_000
    frame = pd.DataFrame({"a": rng.random(n), "b": rng.integers(0, 9, n), "s": rng.choice(["x", "y"], n),
                          "c": pd.Categorical(rng.choice(["p", "q"], n))})
    after = frame.assign(a=frame["a"] * 2, new=1)
    plans, files = [], []
    for threads, folder in ((1, tmp_path / "one"), (2, store_dir)):
        st = Store(folder)
        st.start_session("s1", None, {"pid": 1})
        cfg = Settings(profile_threads=threads)
        plans.append((write_version(st, "v1", frame, cfg=cfg), write_version(st, "v2", after, frame, "v1", cfg=cfg)))
        files.append(sorted(p.name for p in (folder / "data").rglob("*.parquet")))
        pd.testing.assert_frame_equal(open_store(folder).load_frame("v2"), after)
        st.close()
    assert plans[0] == plans[1] and files[0] == files[1]
    assert plans[1][1].kind == "delta" and [r.label for r in plans[1][1].columns if r.key] == ["a", "new"]


def test_opt_out_keeps_aggregates_only(store, big):
    from cellsync.errors import VersionDataUnavailable

    plan = write_version(store, "v1", big, cfg=Settings(persist_data=False))
    assert plan.kind == "none"
    assert not (store.path / "data").exists() or not list((store.path / "data").rglob("*.parquet"))
    with pytest.raises(VersionDataUnavailable):
        open_store(store.path).load_frame("v1")


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1, 2]}, index=pd.MultiIndex.from_tuples([("x", 1), ("y", 2)], names=["k", "n"])),
        pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])),
        pd.DataFrame([[1, 2]], columns=["dup", "dup"]),
        pd.DataFrame({"p": pd.period_range("2024-01", periods=3, freq="M")}),
        pd.DataFrame({"iv": pd.interval_range(0, 3)}),
        pd.DataFrame({"a": pd.Series([], dtype=float)}),
        pd.DataFrame(index=pd.RangeIndex(3)),
        pd.DataFrame({0: [1.5], 1: ["x"]}),
    ],
    ids=["multiindex-rows", "multiindex-cols", "dup-labels", "period", "interval", "zero-rows", "zero-cols", "int-labels"],
)
def test_odd_frames_round_trip(store, frame):
    write_version(store, "v1", frame)
    pd.testing.assert_frame_equal(open_store(store.path).load_frame("v1"), frame)


def test_mixed_objects_are_kept_exactly_without_pickle(store):
    # once kept as their repr text; now tagged JSON (tests/test_hardening_roundtrip.py has the rest)
    frame = pd.DataFrame({"mixed": [1, "a", {"k": 1}, [1, 2], b"raw"]})
    plan = write_version(store, "v1", frame)
    assert plan.columns[0].encoding == "json" and not plan.columns[0].as_text
    back = open_store(store.path).load_frame("v1")
    assert back["mixed"].tolist() == [1, "a", {"k": 1}, [1, 2], b"raw"]


# --- opening ---------------------------------------------------------------------------------


def test_read_only_open_never_creates_or_writes(tmp_path, store):
    with pytest.raises(StoreNotFound):
        open_store(tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()
    store.write_cell(cell(1), [])
    store.close()
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in store.path.rglob("*")}
    ro = open_store(store.path)
    assert len(ro.cells()) == 1
    with pytest.raises(StoreReadOnly):
        ro.write_cell(cell(2), [])
    with pytest.raises(sqlite3.OperationalError):  # even SQL sent behind the API cannot write
        ro.db.execute("insert into meta values ('x', 'y')")
    ro.close()
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in store.path.rglob("*")}
    assert after == before


def test_not_a_store_and_corrupt_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreNotFound, match="not a CellSync store"):
        open_store(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "cellsync.db").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreCorrupt):
        open_store(tmp_path / "junk")
    other = tmp_path / "other"
    other.mkdir()
    sqlite3.connect(other / "cellsync.db").execute("create table t (x)").connection.commit()
    with pytest.raises(StoreCorrupt, match="not a CellSync store"):
        open_store(other)


def test_store_from_a_newer_version_is_refused(store):
    store.db["_sqlite_migrations"].insert({"migration_set": "cellsync", "name": "m999_future", "applied_at": "x"})
    store.close()
    with pytest.raises(StoreTooNew, match="newer CellSync"):
        open_store(store.path)
    with pytest.raises(StoreTooNew):
        Store(store.path)  # writers refuse too, rather than writing an old shape


def test_two_writers_do_not_lose_cells(store_dir):
    import threading

    a, b = Store(store_dir), Store(store_dir)
    a.start_session("s1", None, {})
    b.start_session("s2", None, {})

    def write(st, session):
        for i in range(50):
            st.write_cell(CellRun(session, i, i, None, None, "x", "t", 0.0, "ok"), [])

    threads = [threading.Thread(target=write, args=(a, "s1")), threading.Thread(target=write, args=(b, "s2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(open_store(store_dir).cells()) == 100


def test_bounded_dict_forgets_the_least_recently_used():
    from cellsync.cache import BoundedDict

    d = BoundedDict(2)
    d["a"], d["b"] = 1, 2
    d.get("a")
    d["c"] = 3
    assert list(d) == ["a", "c"]  # "b" was the least recently used


def test_an_older_store_is_read_as_it_is_and_upgraded_by_a_writer(store):
    store.write_cell(cell(1, "x = 1"), [])
    for table in ("messages", "threads", "explanations", "models", "metrics", "impacts", "segments"):
        store.db[table].drop()
    store.db.execute("delete from _sqlite_migrations where name != 'm001_initial'")
    store.db.conn.commit()
    store.close()
    old = open_store(store.path)  # read-only: nothing written, nothing missing
    assert [c.code for c in old.timeline()] == ["x = 1"]
    assert old.segments() == [] and old.metrics() == [] and old.impacts() == []
    old.close()
    Store(store.path).close()  # a writer applies the newer migrations
    assert {"segments", "threads", "messages", "explanations"} <= set(open_store(store.path).db.table_names())


def test_a_timeline_of_some_cells_and_what_changed_since(shell):
    from helpers import recorded, run

    run(shell, "df = pd.DataFrame({'a': range(50), 'b': [i % 7 for i in range(50)]})")
    run(shell, "df = df[df.b != 3]")
    st = recorded(shell)
    marks = st.marks()
    full = st.timeline()
    ids = [e.id for e in full]
    assert st.timeline(cells=ids[-2:]) == full[-2:]
    assert st.timeline(cells=[]) == [] and st.timeline(cells=[ids[0], ids[0]]) == full[:1]
    assert st.changed_cells(marks) == set()
    run(shell, "df = df[df.a > 10]")
    st = recorded(shell)
    changed = st.changed_cells(marks)
    assert changed == {max(e.id for e in st.timeline())}  # only the new cell
    assert st.timeline(cells=changed) == st.timeline()[-1:]
    assert set(st.marks()) >= {"cells", "versions", "explanations"} and st.marks()["cells"] > marks["cells"]


def test_removed_and_added_rows_with_a_limit(shell):
    from helpers import recorded, run

    run(shell, "df = pd.DataFrame({'a': range(100), 'b': [i % 7 for i in range(100)]})")
    run(shell, "df = df[df.b != 3]")
    st = recorded(shell)
    v = st.versions(frame="df")[-1]
    frame = pd.DataFrame({"a": range(100), "b": [i % 7 for i in range(100)]})
    expected = frame[frame.b == 3]
    pd.testing.assert_frame_equal(st.removed_rows(v.id), expected)
    pd.testing.assert_frame_equal(st.removed_rows(v.id, limit=5), expected.head(5))
    assert st.added_rows(v.id, limit=5).empty
    assert st.frame_columns("df") == ["a", "b"]
    assert [vid for vid, _ in st.version_ids("df")] == [x.id for x in st.versions(frame="df")]


def test_timeline_entries_are_typed_records_that_round_trip_through_json(demo_store):
    """Every reader gets `TimelineEntry` records (frames, impacts, metrics typed, each frame's
    operation an `Operation`); `cellsync show --json` prints exactly their `to_dict()`, and
    that JSON rebuilds the same records."""
    import json

    from click.testing import CliRunner

    from cellsync.cli import main
    from cellsync.operations import Operation
    from cellsync.store import FrameSummary, ImpactSummary, MetricSummary, TimelineEntry

    with open_store(demo_store) as st:
        timeline = st.timeline()
        versions = {v.id: v for v in st.versions(profiles=False)}
    assert timeline and all(isinstance(e, TimelineEntry) for e in timeline)
    frames = [f for e in timeline for f in e.frames]
    assert frames and all(isinstance(f, FrameSummary) for f in frames)
    assert all(isinstance(f.operation, Operation) for f in frames if f.change != "deleted")
    assert any(isinstance(s, ImpactSummary) and s.flagged for e in timeline for s in e.segments)
    assert any(isinstance(m, MetricSummary) for e in timeline for m in e.metrics)
    # each frame summary states its version's own numbers
    for f in frames:
        v = versions[f.version]
        assert (f.name, f.rows_after, f.n_cols) == (v.frame, v.n_rows, v.n_cols)
        if v.diff is not None:
            assert (f.rows_removed, f.rows_added, f.columns_added) == (
                v.diff.rows_removed, v.diff.rows_added, tuple(v.diff.columns_added))
    printed = json.loads(CliRunner().invoke(main, ["show", str(demo_store), "--json"]).output)["cells"]
    assert printed == [e.to_dict() for e in timeline]
    assert [TimelineEntry.from_dict(d) for d in printed] == timeline

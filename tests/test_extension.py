"""A real IPython InteractiveShell with `%load_ext cellsync`, reading back a real store."""

import numpy as np
import pandas as pd
import pytest

from helpers import entries, frames_of, recorded, run


def test_records_every_cell_with_status_and_errors(shell, capsys):
    run(shell, "df = pd.DataFrame({'a': [1, 2, None]})")
    run(shell, "1/0")
    run(shell, "x = (")
    run(shell, "y = 1")
    cells = entries(recorded(shell))
    assert [c["code"] for c in cells] == ["df = pd.DataFrame({'a': [1, 2, None]})", "1/0", "x = (", "y = 1"]
    assert [c["status"] for c in cells] == ["ok", "error", "error", "ok"]
    assert cells[1]["error"] == {"type": "ZeroDivisionError", "message": "division by zero"}
    assert cells[2]["error"]["type"] == "SyntaxError"
    counts = [c["execution_count"] for c in cells]
    assert counts == sorted(counts) and len(set(counts)) == 4
    assert all(c["duration_s"] >= 0 and c["started_at"] for c in cells)


def test_new_rebind_derive_alias_delete(shell):
    run(shell, "df = pd.DataFrame({'x': [1.0, None, 3.0, 4.0], 'g': list('abab')})")
    run(shell, "df = df.dropna()")
    run(shell, "pos = df[df.x > 1]")
    run(shell, "same = pos")
    run(shell, "del same")
    store = recorded(shell)
    t = entries(store)
    new = {f["name"]: f for f in t[0]["frames"]}["df"]
    assert (new["change"], new["rows_after"], new["parent"]) == ("new", 4, None)
    rebound = {f["name"]: f for f in t[1]["frames"]}["df"]
    assert (rebound["change"], rebound["parent"], rebound["rows_removed"]) == ("rebound", "df", 1)
    derived = {f["name"]: f for f in t[2]["frames"]}["pos"]
    assert (derived["parent"], derived["rows_before"], derived["rows_after"]) == ("df", 3, 2)
    alias = {f["name"]: f for f in t[3]["frames"]}["same"]
    assert (alias["change"], alias["parent"], alias["rows_removed"]) == ("alias", "pos", 0)
    assert {f["name"]: f["change"] for f in t[4]["frames"]} == {"same": "deleted"}
    # the version chain is intact: the derived frame's parent is df's second version
    assert derived["parent_version"] == rebound["version"]


def test_in_place_mutation_through_a_function_and_through_an_alias(shell):
    run(shell, "df = pd.DataFrame({'v': np.arange(10.0)})\nother = df")
    run(shell, "def clip(frame):\n    frame.loc[frame.v > 6, 'v'] = 6\nclip(df)")
    frames = frames_of(recorded(shell), -1)
    assert set(frames) == {"df", "other"}  # both names see the change
    for f in frames.values():
        assert f["change"] == "mutated" and f["values_changed"] == {"v": 3}


@pytest.mark.filterwarnings("ignore:The inplace keyword")
@pytest.mark.parametrize(
    "code, expected",
    [
        ("df['v'] += 1", {"values_changed": {"v": 10}}),
        ("df.iloc[0, 0] = -1.0", {"values_changed": {"v": 1}}),
        ("df.at[3, 'v'] = 99.0", {"values_changed": {"v": 1}}),
        ("df['w'] = df['v'] * 2", {"columns_added": ["w"]}),
        ("df.drop(index=[0, 1], inplace=True)", {"rows_removed": 2}),
        ("df.rename(columns={'v': 'value'}, inplace=True)", {"columns_renamed": {"v": "value"}}),
        ("df.sort_values('v', ascending=False, inplace=True)", {"reordered": True}),
        ("df.fillna(0, inplace=True)", {"values_changed": {"v": 0}}),
    ],
)
def test_in_place_operations_are_seen(shell, code, expected):
    run(shell, "df = pd.DataFrame({'v': np.arange(10.0)})")
    run(shell, code)
    frames = frames_of(recorded(shell), -1)
    if expected == {"values_changed": {"v": 0}}:  # nothing to fill: no new version
        assert frames == {}
        return
    f = frames["df"]
    assert f["change"] == "mutated"
    for key, value in expected.items():
        assert f[key] == value


def test_unchanged_frames_record_no_version(shell):
    run(shell, "df = pd.DataFrame({'v': range(5)})")
    run(shell, "df.describe()\nn = len(df)")
    run(shell, "df['v'] = df['v']")  # rewritten, but equal
    t = entries(recorded(shell))
    assert t[1]["frames"] == [] and t[2]["frames"] == []


def test_object_column_mutated_through_its_elements(shell):
    run(shell, "df = pd.DataFrame({'tags': [['a'], ['b'], ['c']]})")
    run(shell, "df['tags'][0].append('z')")
    f = frames_of(recorded(shell), -1)["df"]
    assert f["change"] == "mutated" and f["values_changed"] == {"tags": 1}


def test_series_and_subclasses_are_tracked(shell):
    run(shell, "class Sub(pd.DataFrame):\n    @property\n    def _constructor(self):\n        return Sub")
    run(shell, "sub = Sub({'a': [1, 2]})\ns = pd.Series([1, 2, 3], name='score')")
    frames = frames_of(recorded(shell), -1)
    assert set(frames) == {"sub", "s"}
    assert frames["s"]["columns_added"] == ["score"]


def test_private_names_are_ignored(shell):
    run(shell, "_hidden = pd.DataFrame({'a': [1]})\npd.DataFrame({'b': [2]})")
    assert frames_of(recorded(shell), -1) == {}


def test_profiles_and_data_are_readable_from_another_process_view(shell):
    run(shell, "df = pd.DataFrame({'a': [3.0, 1.0, None], 'b': ['x', 'y', 'z']})")
    run(shell, "df = df.dropna()")
    store = recorded(shell)
    versions = store.versions(frame="df")
    assert [v.change for v in versions] == ["new", "rebound"]
    assert versions[0].profile.column("a").missing == 1
    expected = pd.DataFrame({"a": [3.0, 1.0], "b": ["x", "y"]})
    pd.testing.assert_frame_equal(store.load_frame(versions[1].id), expected)
    pd.testing.assert_frame_equal(
        store.removed_rows(versions[1].id).reset_index(drop=True),
        pd.DataFrame({"a": [np.nan], "b": ["z"]}),
    )


def test_failures_inside_cellsync_never_reach_the_cell(shell, capsys, monkeypatch):
    import cellsync.tracker as tracker_mod
    import cellsync.worker.versions as versions_stage

    def broken(*args, **kwargs):
        raise RuntimeError("profile exploded")

    monkeypatch.setattr(versions_stage, "profile_frame", broken)
    monkeypatch.setattr(tracker_mod.Tracker, "scan", broken)  # also break the blocking part
    capsys.readouterr()
    result = run(shell, "df = pd.DataFrame({'a': [1]})\nprint('user output')")
    out = capsys.readouterr()
    assert result.success
    # the user's output, then one short line naming the kind of problem: no stack
    assert out.out.splitlines() == [
        "user output",
        "CellSync could not record everything (hook.post_run_cell); your code is not affected. Details: %cellsync status",
    ]
    assert "Traceback" not in out.out + out.err and "Error in callback" not in out.out + out.err
    from cellsync.extension import current_tracker

    tracker = current_tracker()
    assert tracker.problems["hook.post_run_cell"] == 1
    run(shell, "x = 1")
    assert tracker.problems["hook.post_run_cell"] == 2  # counted every time...
    again = capsys.readouterr()
    assert again.out == "" and "Traceback" not in again.err  # ...announced and logged once
    log = (tracker.store_path / "cellsync.log").read_text()
    assert log.count("hook.post_run_cell") == 1 and "Traceback" in log and "RuntimeError: profile exploded" in log


def test_worker_failure_is_counted_and_the_cell_still_recorded(shell, monkeypatch):
    import cellsync.worker.versions as versions_stage

    monkeypatch.setattr(versions_stage, "profile_frame", lambda *a, **k: 1 / 0)
    run(shell, "df = pd.DataFrame({'a': [1]})")
    store = recorded(shell)
    f = frames_of(store, -1)["df"]
    assert f["note"].startswith("not profiled: ZeroDivisionError")
    assert [p["kind"] for p in store.problems()] == ["version.ZeroDivisionError"]


def test_status_pause_resume_magic(shell, capsys, store_dir):
    run(shell, "df = pd.DataFrame({'a': [1]})")
    capsys.readouterr()
    run(shell, "%cellsync status")
    out = capsys.readouterr().out
    assert str(store_dir) in out and "frames: df" in out and "problems seen: none" in out
    assert "cells tracked: 1" in out
    run(shell, "%cellsync pause")
    run(shell, "paused_df = pd.DataFrame({'b': [2]})")
    run(shell, "%cellsync resume")
    run(shell, "after = 1")
    codes = [c["code"] for c in entries(recorded(shell))]
    assert "paused_df = pd.DataFrame({'b': [2]})" not in codes
    # recording stops with the cell that pauses and starts again with the one that resumes
    assert codes[-2:] == ["%cellsync resume", "after = 1"] and "%cellsync pause" not in codes
    run(shell, "%cellsync bogus")
    assert "usage: %cellsync" in capsys.readouterr().out


def test_store_switch_magic(shell, tmp_path):
    run(shell, "df = pd.DataFrame({'a': [1]})")
    other = tmp_path / "second"
    run(shell, f"%cellsync store {other}")
    run(shell, "df2 = df.copy()")
    import cellsync

    cellsync.flush(30)
    second = cellsync.open_store(other)
    assert [f["name"] for c in entries(second) for f in c["frames"]] == ["df", "df2"]


def test_unload_leaves_the_notebook_as_before(shell):
    from cellsync.extension import extension

    ext = extension(shell)
    assert ext.post_run_cell in shell.events.callbacks["post_run_cell"]
    names_before = set(shell.user_ns)
    shell.extension_manager.unload_extension("cellsync")
    assert ext.post_run_cell not in shell.events.callbacks["post_run_cell"]
    assert ext.pre_run_cell not in shell.events.callbacks["pre_run_cell"]
    assert "cellsync" not in shell.magics_manager.magics["line"]
    assert extension(shell) is None
    assert set(shell.user_ns) == names_before
    shell.extension_manager.load_extension("cellsync")  # the fixture unloads it again


def test_secrets_in_code_are_redacted_before_storing(shell):
    run(shell, 'api_key = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX"\nurl = "postgresql://ann:s3cret@db/x"')
    store = recorded(shell)
    code = entries(store)[-1]["code"]
    assert "ABCDEFGHIJ" not in code and "s3cret" not in code
    raw = (store.path / "cellsync.db").read_bytes()
    assert b"s3cret" not in raw and b"ABCDEFGHIJKLMNOP" not in raw


def test_flush_waits_for_everything_queued(shell):
    import cellsync

    for i in range(5):
        run(shell, f"f{i} = pd.DataFrame({{'a': range({i} * 1000)}})")
    assert cellsync.flush(60)
    assert cellsync.status()["queue"] == 0
    names = {f["name"] for c in entries(cellsync.open_store(cellsync.status()["store"])) for f in c["frames"]}
    assert names == {f"f{i}" for i in range(5)}


def test_frames_present_before_loading_are_credited_to_the_loading_cell(store_dir, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    import cellsync

    monkeypatch.setattr(cellsync.settings, "store", str(store_dir))
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    try:
        run(ip, "import pandas as pd\nearly = pd.DataFrame({'a': [1, 2, 3]})")
        run(ip, "%load_ext cellsync")
        run(ip, "later = early.head(2)")
        cells = entries(recorded(ip))
        assert [c["code"] for c in cells] == ["%load_ext cellsync", "later = early.head(2)"]
        assert [(f["name"], f["change"], f["rows_after"]) for f in cells[0]["frames"]] == [("early", "new", 3)]
        later = cells[1]["frames"][0]
        assert (later["name"], later["parent"], later["rows_removed"]) == ("later", "early", 1)
    finally:
        ip.extension_manager.unload_extension("cellsync")
        ip.reset(new_session=True)


def test_profiles_carried_over_from_the_parent_stay_exact(shell):
    run(shell, "df = pd.DataFrame({'a': [1.0, 2.0, 3.0], 'b': [4.0, 5.0, None]})")
    run(shell, "df['a'] = df['a'] * 2")
    run(shell, "df = df.rename(columns={'b': 'B'})")
    run(shell, "df = df[df.a > 2]")
    store = recorded(shell)
    mutated, renamed, filtered = store.versions(frame="df")[1:]
    for version, frame in (
        (mutated, pd.DataFrame({"a": [2.0, 4.0, 6.0], "b": [4.0, 5.0, None]})),
        (renamed, pd.DataFrame({"a": [2.0, 4.0, 6.0], "B": [4.0, 5.0, None]})),
        (filtered, pd.DataFrame({"a": [4.0, 6.0], "B": [5.0, None]})),
    ):
        cols = version.profile.columns
        assert [(c.name, c.position) for c in cols] == [(n, i) for i, n in enumerate(frame.columns)]
        for c in cols:
            s = frame[c.name]
            assert (c.count, c.missing, c.mean) == (s.count(), s.isna().sum(), pytest.approx(s.mean()))


def test_a_parent_the_worker_forgot_is_still_a_delta_base(shell):
    from cellsync.cache import BoundedDict
    from cellsync.extension import current_tracker

    current_tracker().worker.versions.plans = BoundedDict(1)  # remembers only the latest version
    run(shell, "keep = pd.DataFrame({'a': range(1000)})")
    run(shell, "other = pd.DataFrame({'b': range(10)})")
    run(shell, "keep = keep[keep.a % 2 == 0]")
    store = recorded(shell)
    latest = store.versions(frame="keep")[-1]
    assert latest.data.kind == "delta"
    pd.testing.assert_frame_equal(store.load_frame(latest.id), shell.user_ns["keep"])


def test_added_rows_are_the_new_ones(shell):
    run(shell, "base = pd.DataFrame({'k': [1, 2, 3], 'v': ['a', 'b', 'c']})")
    run(shell, "base = pd.concat([base, pd.DataFrame({'k': [9], 'v': ['z']})], ignore_index=True)")
    store = recorded(shell)
    v = store.versions(frame="base")[-1]
    assert v.diff.rows_added == 1
    pd.testing.assert_frame_equal(store.added_rows(v.id), pd.DataFrame({"k": [9], "v": ["z"]}, index=[3]))


def test_cellsync_threads_cannot_hide_or_print_the_users_warnings(shell):
    """A library in CellSync's worker thread opening `catch_warnings()` + `simplefilter("ignore")`
    must not hide the warning the user's code raises meanwhile, nor print its own."""
    import threading
    import warnings

    from cellsync import quiet

    inside, release = threading.Event(), threading.Event()

    def library_in_a_cellsync_thread():
        quiet.mark_current_thread()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what pandas and scikit-learn do, hundreds of times
            warnings.warn("from the worker", RuntimeWarning)
            inside.set()
            release.wait(10)

    t = threading.Thread(target=library_in_a_cellsync_thread)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        t.start()
        assert inside.wait(10)
        warnings.warn("the user's own", FutureWarning)  # while the worker's block is open
        release.set()
        t.join(10)
    # the user's warning is there; the worker's was neither shown nor recorded
    assert [str(w.message) for w in seen] == ["the user's own"]


def test_unloading_puts_the_warnings_module_back(shell):
    import warnings

    from cellsync import quiet

    assert quiet.installed() and warnings.simplefilter.__module__ != "warnings"  # patched while loaded
    shell.extension_manager.unload_extension("cellsync")
    assert not quiet.installed() and warnings.simplefilter.__module__ == "warnings"
    shell.extension_manager.load_extension("cellsync")  # the fixture unloads it again

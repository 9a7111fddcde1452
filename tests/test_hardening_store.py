"""Nothing lost silently: a store that cannot be written is said in one line, where the user
is (CLI, `%load_ext`, `cellsync.flush()`), and a busy store is waited for, never called corrupt."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import textwrap
import time

import nbformat
import pytest

import cellsync
from cellsync.errors import StoreBusy, StoreCorrupt, StoreNotWritable
from cellsync.store import Store, open_store
from helpers import entries
from test_cli import invoke, one_line_error


@contextlib.contextmanager
def read_only_folder(path):
    """A folder nothing can be created in, even by root (who ignores chmod): the immutable
    attribute as root, plain permissions otherwise."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a read-only folder")
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("this file system does not support the immutable attribute")
        try:
            yield path
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        os.chmod(path, 0o555)
        try:
            yield path
        finally:
            os.chmod(path, 0o755)


def bad_store(kind: str, tmp_path):
    """A path that looks like a store but cannot be recorded into."""
    if kind == "file":
        path = tmp_path / "store"
        path.write_text("not a folder")
    elif kind == "corrupt":
        path = tmp_path / "store"
        path.mkdir()
        (path / "cellsync.db").write_bytes(b"\x00garbage" * 512)
    else:
        raise ValueError(kind)
    return path


HOLD_LOCK = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("insert or replace into meta values ('held', 'yes')")
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    conn.execute("COMMIT")
""")


def hold_write_lock(store_dir, seconds):
    """Another process holding the store's write lock (a writer mid-transaction)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store_dir / "cellsync.db"), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_opening_beside_a_writer_waits_for_its_lock(store_dir):
    # a store a writer left (its close turns the journal back from WAL, so the next opener
    # must switch it again: the step SQLite fails at once, without the busy handler)
    Store(store_dir).close()
    holder = hold_write_lock(store_dir, 1.5)
    started = time.monotonic()
    st = Store(store_dir)
    waited = time.monotonic() - started
    st.close()
    assert holder.wait(10) == 0
    assert 1.0 < waited < 10


def test_a_lock_held_too_long_is_busy_not_corrupt(store_dir, monkeypatch):
    Store(store_dir).close()
    monkeypatch.setattr(cellsync.settings, "busy_timeout", 0.5)
    holder = hold_write_lock(store_dir, 4)
    try:
        with pytest.raises(StoreBusy) as info:
            Store(store_dir)
        assert not isinstance(info.value, StoreCorrupt)
        assert "is busy" in str(info.value) and "not a usable" not in str(info.value)
    finally:
        holder.wait(10)
    Store(store_dir).close()  # and once the writer is done, it opens


@pytest.mark.parametrize("kind", ["file", "corrupt", "read-only folder"])
def test_replay_into_a_store_it_cannot_write_fails_in_one_line(tmp_path, kind):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    if kind == "read-only folder":
        store = tmp_path / "store"
        Store(store).close()
        with read_only_folder(store):
            res = invoke("replay", tmp_path / "nb.ipynb", "--store", store)
        one_line_error(res, r"^Error: .*read-only folder")
        return
    store = bad_store(kind, tmp_path)
    res = invoke("replay", tmp_path / "nb.ipynb", "--store", store)
    pattern = {"file": r"exists and is not a folder", "corrupt": r"not a usable CellSync store"}[kind]
    one_line_error(res, r"^Error: .*" + pattern)
    assert "replayed" not in res.output


def test_serving_a_read_only_folder_without_read_only_says_so(tmp_path):
    store = tmp_path / "store"
    Store(store).close()
    with read_only_folder(store):
        res = invoke("serve", store, "--port", 0)
    one_line_error(res, r"^Error: .*read-only folder: open it read-only \(`cellsync serve --read-only`")
    assert "attempt to write" not in res.output


@pytest.mark.parametrize("kind", ["file", "corrupt"])
def test_loading_into_a_bad_store_says_not_recording_and_flush_is_false(tmp_path, kind, monkeypatch, capfd):
    from IPython.core.interactiveshell import InteractiveShell

    store = bad_store(kind, tmp_path)
    monkeypatch.setattr(cellsync.settings, "store", str(store))
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    try:
        ip.run_cell("import pandas as pd", store_history=True)
        capfd.readouterr()
        ip.run_cell("%load_ext cellsync", store_history=True)
        out = capfd.readouterr()
        lines = [line for line in (out.out + out.err).splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("CellSync: not recording: "), lines
        assert str(store) in lines[0]
        # the user's next cells run clean: no traceback, nothing printed
        ip.run_cell("df = pd.DataFrame({'a': [1, 2]})\ndf = df[df.a > 1]", store_history=True)
        out = capfd.readouterr()
        assert out.out == "" and out.err == ""
        assert cellsync.flush(5) is False
        ip.run_cell("%cellsync status", store_history=True)
        assert capfd.readouterr().out.startswith("CellSync: not recording: ")
        # a good store from here on: recording starts, flush is True again
        good = tmp_path / "good"
        ip.run_cell(f"%cellsync store {good}", store_history=True)
        ip.run_cell("df = pd.DataFrame({'a': [1, 2, 3]})", store_history=True)
        assert cellsync.flush(30) is True
        assert [f["name"] for c in entries(open_store(good)) for f in c["frames"]] == ["df"]
    finally:
        ip.extension_manager.unload_extension("cellsync")
        ip.reset(new_session=True)
    assert cellsync.flush(1) is True  # nothing loaded: nothing to lose


def test_flush_is_false_when_a_cell_could_not_be_written(shell, store_dir):
    from helpers import run

    run(shell, "df = pd.DataFrame({'a': [1, 2]})")
    assert cellsync.flush(30) is True
    # the store is swapped for a file under the worker's feet: its next write fails
    tracker = cellsync.extension.current_tracker()
    tracker.worker.close_store()
    shutil.rmtree(store_dir)
    store_dir.write_text("gone")
    run(shell, "df = df[df.a > 1]")
    assert cellsync.flush(30) is False
    assert cellsync.flush(30) is True  # reported once; nothing new was lost since
    assert any(k.startswith("worker.") for k in cellsync.status()["problems"])
    store_dir.unlink()


def test_a_writable_store_in_a_read_only_folder_opens_read_only(tmp_path):
    store = tmp_path / "store"
    Store(store).close()
    with read_only_folder(store):
        with pytest.raises(StoreNotWritable, match="read-only folder"):
            Store(store)
        st = open_store(store)  # read-only still works: nothing to create
        assert st.summary()["cells"] == 0
        st.close()


# --- what a killed writer leaves -------------------------------------------------------------

KILLED_MID_CELL = textwrap.dedent("""
    import os, signal, sys
    import numpy as np, pandas as pd
    from cellsync.config import settings
    from cellsync.store import Store
    from cellsync.versions import persist
    st = Store(sys.argv[1])
    # the worker writes a version's column files first and commits its row after: killed in
    # between, the files are referenced by nothing; killed inside a file write, a .tmp stays
    frame = pd.DataFrame({"x": np.arange(50_000, dtype="float64") * 1.5, "y": np.arange(50_000) % 7})
    persist(st.files, frame, settings)
    tmp = st.files.root / "zz" / "half-written.parquet.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"PAR1" + b"\\0" * 4096)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def committed_store(store_dir):
    """A store with one committed version (through a real shell), whose files must survive."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    cellsync.settings.store = str(store_dir)
    try:
        ip.extension_manager.load_extension("cellsync")
        ip.run_cell("import pandas as pd\nkeep = pd.DataFrame({'k': [1.5, 2.5, None], 's': ['a', 'b', 'c']})",
                    store_history=True)
        assert cellsync.flush(30)
    finally:
        ip.extension_manager.unload_extension("cellsync")
        ip.reset(new_session=True)
        cellsync.settings.store = ""
    st = open_store(store_dir)
    (v,) = st.versions(frame="keep")
    st.close()
    return v.id


def kill_a_writer_mid_cell(store_dir):
    proc = subprocess.run([sys.executable, "-c", KILLED_MID_CELL, str(store_dir)])
    assert proc.returncode == -9
    files = [p for p in (store_dir / "data").glob("*/*")]
    return files


def age(paths, seconds):
    for p in paths:
        t = time.time() - seconds
        os.utime(p, (t, t))


def test_the_next_session_removes_a_killed_writers_leftovers(store_dir):
    keep_id = committed_store(store_dir)
    kept = {p.name for p in (store_dir / "data").glob("*/*")}
    files = kill_a_writer_mid_cell(store_dir)
    leftovers = [p for p in files if p.name not in kept]
    assert len(leftovers) == 3  # two columns and the half-written file
    # a fresh leftover may be another writer's work in progress: kept for now
    st = Store(store_dir)
    st.start_session("s2", None, {})
    assert all(p.exists() for p in leftovers)
    age(leftovers, cellsync.settings.orphan_min_age + 5)
    st.start_session("s3", None, {})
    st.close()
    assert not any(p.exists() for p in leftovers)
    assert {p.name for p in (store_dir / "data").glob("*/*")} == kept
    assert open_store(store_dir).load_frame(keep_id)["k"].tolist()[:2] == [1.5, 2.5]


def test_status_repair_removes_leftovers_and_says_how_many(store_dir):
    committed_store(store_dir)
    leftovers = [p for p in kill_a_writer_mid_cell(store_dir) if "zz" in str(p) or not open_store(store_dir).referenced_files() & {p.stem}]
    age(leftovers, cellsync.settings.orphan_min_age + 5)
    res = invoke("status", store_dir, "--repair")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("repair: removed 3 leftover file(s), ")
    assert not any(p.exists() for p in leftovers)
    res = invoke("status", store_dir, "--repair")
    assert res.output.splitlines()[0] == "repair: removed 0 leftover file(s), 0.00 MB"


def test_a_reused_column_file_is_not_taken_as_a_leftover(store_dir):
    """A killed writer's column that a new version needs again is young again once reused."""
    from cellsync.versions import persist

    import numpy as np
    import pandas as pd

    kill_a_writer_mid_cell(store_dir)
    files = list((store_dir / "data").glob("*/*.parquet"))
    age(files, cellsync.settings.orphan_min_age + 5)
    st = Store(store_dir)
    frame = pd.DataFrame({"x": np.arange(50_000, dtype="float64") * 1.5, "y": np.arange(50_000) % 7})
    plan = persist(st.files, frame, cellsync.settings)  # same content: the same files, reused
    assert plan.bytes_written == 0
    assert st.leftovers() == [p for p in st.leftovers() if p.suffix == ".tmp"]
    st.close()


# --- damaged data files --------------------------------------------------------------------------


def test_a_corrupt_column_file_is_one_line_for_that_version_only(shell, store_dir):
    from helpers import run

    run(shell, "df = pd.DataFrame({'age': [85, 40, 70, 90, 20] * 20, 'w': range(100)})")
    run(shell, "df['age'] = df['age'] + 1")
    run(shell, "df['w'] = df['w'] * 2")
    assert cellsync.flush(30)
    st = open_store(store_dir)
    versions = st.versions(frame="df")
    assert len(versions) == 3
    # damage the file of the age column the second version wrote
    second = versions[1]
    key = next(ref.key for ref in second.data.columns if ref.key and ref.label == "age")
    path = store_dir / "data" / key[:2] / f"{key}.parquet"
    path.write_bytes(b"PAR1 this is not parquet any more")
    with pytest.raises(cellsync.errors.VersionDataUnreadable) as info:
        st.load_frame(second.id)
    message = str(info.value)
    assert "\n" not in message and second.id in message and key in message
    assert st.load_frame(versions[0].id)["age"].sum() == sum([85, 40, 70, 90, 20]) * 20  # the first still loads
    grid = st.snapgrid("df", "age >= 80")
    assert [c.status for c in grid.cells] == ["exact", "data unreadable", "data unreadable"]
    assert [c.segment_rows for c in grid.cells][0] == 40
    res = invoke("snapgrid", store_dir, "--frame", "df", "--segment", "age >= 80")
    assert res.exit_code == 0 and "Traceback" not in res.output and "ArrowInvalid" in res.output
    lines = [line for line in res.output.splitlines() if "data unreadable" in line]
    assert len(lines) == 2 and key in lines[0] and second.id in lines[0]

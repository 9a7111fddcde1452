"""The IPython side: `%load_ext cellsync`, `%unload_ext cellsync`, and the `%cellsync` magic.

Nothing here may raise into the user's cell: every callback catches its own errors, which the
tracker counts and logs once per kind (see `%cellsync status`).
"""

from __future__ import annotations

import atexit
import os
import sys
import shlex
from pathlib import Path

from .config import settings
from .tracker import Tracker

_state: dict = {"tracker": None, "shell": None}

USAGE = """usage: %cellsync [status | pause | resume | flush [SECONDS] | store PATH]
  status       store path, cells tracked, frames, worker queue, problems seen
  pause        stop recording cells until `resume`
  resume       record cells again
  flush [S]    wait (up to S seconds) until everything queued is in the store
  store PATH   write to another store from the next cell on"""


def current_tracker() -> Tracker | None:
    return _state["tracker"]


def notebook_path(shell) -> str | None:
    """Best effort: JupyterLab/Notebook set JPY_SESSION_NAME for kernels; VS Code sets a global."""
    candidates = [
        shell.user_ns.get("__vsc_ipynb_file__") if shell is not None else None,
        os.environ.get("JPY_SESSION_NAME"),
        os.environ.get("CELLSYNC_NOTEBOOK"),
    ]
    for c in candidates:
        if c and str(c).endswith(".ipynb"):
            return str(c)
    return None


def _make_tracker(shell, store=None) -> Tracker:
    return Tracker(
        shell.user_ns,
        store_path=store,
        notebook=notebook_path(shell),
        transform=getattr(shell, "transform_cell", None),
    )


def load_ipython_extension(shell) -> None:
    if _state["tracker"] is not None:
        return  # loading twice must not double-count cells
    tracker = _make_tracker(shell)
    _state.update(tracker=tracker, shell=shell)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
    shell.register_magic_function(_cellsync_magic, magic_kind="line", magic_name="cellsync")
    atexit.register(_drain_at_exit)
    try:
        raw = shell.history_manager.input_hist_raw[-1] if shell.history_manager.input_hist_raw else ""
        tracker.record_existing(raw, getattr(shell, "execution_count", None))
    except Exception as exc:
        tracker._problem("load.record_existing", exc)
    from .beside import in_jupyter_frontend

    if settings.sidecar and in_jupyter_frontend():
        open_sidecar_safely(tracker)
    elif "ipykernel" in sys.modules:
        # VS Code, Voila, nbclient (or the sidecar turned off): no side area is filled, so
        # one line says how to see the dashboard
        print(f"CellSync: recording to {tracker.store_path} · cellsync.sidecar() serves the dashboard "
              f"from this kernel; `cellsync serve {tracker.store_path}` from a terminal")


def open_sidecar_safely(tracker) -> str | None:
    """Open the dashboard beside the notebook; a failure is one line, never a traceback."""
    from .beside import open_sidecar

    try:
        tracker.flush(10)  # the store exists before the page asks for it
        return open_sidecar(tracker.store_path)
    except Exception as exc:
        tracker._problem("sidecar", exc)
        print(f"cellsync: could not open the sidecar ({type(exc).__name__}: {exc}); run `cellsync serve {tracker.store_path}`")
        return None


def unload_ipython_extension(shell) -> None:
    tracker = _state["tracker"]
    if tracker is None:
        return
    for event, fn in (("pre_run_cell", _pre_run_cell), ("post_run_cell", _post_run_cell)):
        try:
            shell.events.unregister(event, fn)
        except ValueError:
            pass
    shell.magics_manager.magics["line"].pop("cellsync", None)
    _state.update(tracker=None, shell=None)
    atexit.unregister(_drain_at_exit)
    from .beside import stop_server

    stop_server()
    # the cell running %unload_ext is recorded too: it ran while we were listening
    tracker.close()


def _pre_run_cell(info=None) -> None:
    try:
        tracker = _state["tracker"]
        if tracker is not None:
            tracker.before_cell(info)
    except Exception:  # pragma: no cover - the tracker already guards itself
        pass


def _post_run_cell(result=None) -> None:
    try:
        tracker = _state["tracker"]
        if tracker is not None:
            tracker.after_cell(result)
    except Exception:  # pragma: no cover
        pass


def _drain_at_exit() -> None:
    tracker = _state["tracker"]
    if tracker is not None:
        tracker.close(settings.flush_on_exit_timeout)


def format_status(st: dict) -> str:
    lines = [
        f"CellSync {'paused' if st['paused'] else 'tracking'} -> {st['store']}",
        f"  cells tracked: {st['cells_tracked']}   versions written: {st['versions_written']}"
        f"   data written: {st['bytes_written'] / 1e6:.1f} MB",
        f"  frames: {', '.join(st['frames']) or '(none)'}",
        f"  worker queue: {st['queue']}   hook: last {st['hook_ms_last']:.2f} ms, "
        f"max {st['hook_ms_max']:.2f} ms   copy-on-write: {'on' if st['copy_on_write'] else 'off (content hashing)'}",
    ]
    if st["problems"]:
        lines.append("  problems seen:")
        for kind, n in sorted(st["problems"].items()):
            lines.append(f"    {kind} x{n}: {st['problem_messages'].get(kind, '')}")
    else:
        lines.append("  problems seen: none")
    return "\n".join(lines)


def _cellsync_magic(line: str = ""):
    try:
        args = shlex.split(line)
    except ValueError as exc:
        print(f"cellsync: {exc}")
        return
    tracker = _state["tracker"]
    if tracker is None:
        print("cellsync is not loaded: run %load_ext cellsync")
        return
    cmd = args[0] if args else "status"
    if cmd == "status":
        print(format_status(tracker.status()))
    elif cmd == "pause":
        tracker.paused = True
        print("cellsync: paused (cells are not recorded until %cellsync resume)")
    elif cmd == "resume":
        tracker.paused = False
        print("cellsync: recording again")
    elif cmd == "flush":
        try:
            timeout = float(args[1]) if len(args) > 1 else None
        except ValueError:
            print(f"cellsync: flush takes a number of seconds, not {args[1]!r}")
            return
        done = tracker.flush(timeout)
        print("cellsync: all recorded" if done else f"cellsync: still {tracker.worker.pending} queued")
    elif cmd == "store":
        if len(args) != 2:
            print("usage: %cellsync store PATH")
            return
        _switch_store(Path(args[1]).expanduser())
    else:
        print(USAGE)


def _switch_store(path: Path) -> None:
    shell, old = _state["shell"], _state["tracker"]
    try:
        new = _make_tracker(shell, store=path)
    except Exception as exc:
        print(f"cellsync: cannot use {path}: {exc}")
        return
    new.paused = old.paused
    _state["tracker"] = new
    old.close()
    # every frame is new to the new store; record them from the next cell on
    print(f"cellsync: writing to {path} from the next cell on")

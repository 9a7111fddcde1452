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
from .errors import CellsyncError
from .tracker import Tracker, default_store_path

# not_recording: why the store could not be used when the extension loaded (None: recording);
# lost_seen: worker jobs (whole cells) already reported lost by flush()
_state: dict = {"tracker": None, "shell": None, "not_recording": None, "lost_seen": 0}

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


def store_problem(path) -> str | None:
    """Why CellSync cannot record into the store at `path` (one line), or None if it can.
    Opened once here, in the kernel, so a bad path is said when loading, not lost later."""
    from .store import Store

    try:
        Store(path).close()
    except CellsyncError as exc:
        return str(exc)
    except Exception as exc:  # anything else is still one line, never a traceback
        return f"{type(exc).__name__}: {exc}"
    return None


def not_recording_line(why: str) -> str:
    return f"CellSync: not recording: {why} (fix it, then %reload_ext cellsync, or %cellsync store PATH)"


def load_ipython_extension(shell) -> None:
    if _state["tracker"] is not None:
        return  # loading twice must not double-count cells
    shell.register_magic_function(_cellsync_magic, magic_kind="line", magic_name="cellsync")
    why = store_problem(default_store_path(notebook_path(shell)))
    if why is not None:
        _state.update(tracker=None, shell=shell, not_recording=why)
        print(not_recording_line(why))
        return
    tracker = _make_tracker(shell)
    _state.update(tracker=tracker, shell=shell, not_recording=None, lost_seen=0)
    shell.events.register("pre_run_cell", _pre_run_cell)
    shell.events.register("post_run_cell", _post_run_cell)
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
        if _state["not_recording"] is not None:
            shell.magics_manager.magics["line"].pop("cellsync", None)
            _state.update(shell=None, not_recording=None)
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


def lost_cells(tracker) -> int:
    """Worker jobs that failed whole (the tracker counts them as `worker.*` problems)."""
    return sum(n for kind, n in tracker.problems.items() if kind.startswith("worker."))


def flush(timeout: float | None = None) -> bool:
    """What `cellsync.flush()` returns: True only if everything queued is in the store. False
    when not recording at all, on a timeout, or when a cell failed to be written since the
    last flush (its problem is in `%cellsync status`)."""
    tracker = _state["tracker"]
    if tracker is None:
        return _state["not_recording"] is None
    done = tracker.flush(timeout)
    lost = lost_cells(tracker)
    fresh_loss = lost > _state["lost_seen"]
    _state["lost_seen"] = lost
    return done and not fresh_loss


def require_recording() -> None:
    """Raise (one line) unless the extension is recording: what `cellsync replay` checks."""
    if _state["tracker"] is None:
        raise CellsyncError(f"not recording: {_state['not_recording'] or 'the extension is not loaded'}")


def drain_or_raise(timeout: float) -> None:
    """Flush, stop tracking, and raise if anything could not be written (replay's last step)."""
    ok = flush(timeout)
    tracker = _state["tracker"]
    problems = dict(tracker.problem_messages) if tracker is not None else {}
    shell = _state["shell"]
    if shell is not None:
        unload_ipython_extension(shell)
    if not ok:
        lost = "; ".join(f"{k}: {v}" for k, v in problems.items() if k.startswith("worker.")) or "timed out"
        raise CellsyncError(f"not everything was recorded ({lost})"[:500])


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
    cmd = args[0] if args else "status"
    if tracker is None and _state["not_recording"] is not None:
        if cmd == "store" and len(args) == 2:
            _switch_store(Path(args[1]).expanduser())
        else:
            print(not_recording_line(_state["not_recording"]))
        return
    if tracker is None:
        print("cellsync is not loaded: run %load_ext cellsync")
        return
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
        lost_before = _state["lost_seen"]
        if flush(timeout):
            print("cellsync: all recorded")
        elif tracker.worker.pending:
            print(f"cellsync: still {tracker.worker.pending} queued")
        else:
            print(f"cellsync: {lost_cells(tracker) - lost_before} cell(s) could not be written; see %cellsync status")
    elif cmd == "store":
        if len(args) != 2:
            print("usage: %cellsync store PATH")
            return
        _switch_store(Path(args[1]).expanduser())
    else:
        print(USAGE)


def _switch_store(path: Path) -> None:
    shell, old = _state["shell"], _state["tracker"]
    why = store_problem(path)
    if why is not None:
        print(f"cellsync: cannot use {path}: {why}")
        return
    try:
        new = _make_tracker(shell, store=path)
    except Exception as exc:
        print(f"cellsync: cannot use {path}: {exc}")
        return
    _state.update(tracker=new, not_recording=None, lost_seen=0)
    if old is None:  # was not recording: start listening now
        shell.events.register("pre_run_cell", _pre_run_cell)
        shell.events.register("post_run_cell", _post_run_cell)
        atexit.register(_drain_at_exit)
        print(f"cellsync: recording to {path} from the next cell on")
        return
    new.paused = old.paused
    old.close()
    # every frame is new to the new store; record them from the next cell on
    print(f"cellsync: writing to {path} from the next cell on")

"""The IPython side: `%load_ext cellsync`, `%unload_ext cellsync`, and the `%cellsync` magic.

`load_ipython_extension` makes one `CellsyncExtension` per shell and registers it with the
shell through `CellsyncMagics` (as IPython's autoreload does): the shell holds it, this
module holds no state. The mechanism (`tracker.Tracker`) has no IPython imports.

Nothing here may raise into the user's cell: every callback catches its own errors, which the
tracker counts and logs once per kind (see `%cellsync status`).
"""

from __future__ import annotations

import atexit
import os
import shlex
import sys
from pathlib import Path

from IPython.core.magic import Magics, line_magic, magics_class

from .config import settings
from .errors import CellsyncError
from .tracker import Tracker, default_store_path


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


def lost_cells(tracker) -> int:
    """Worker jobs that failed whole (the tracker counts them as `worker.*` problems)."""
    return sum(n for kind, n in tracker.problems.items() if kind.startswith("worker."))


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


class CellsyncExtension:
    """CellSync in one shell: its tracker (None when not recording), why it is not recording,
    and the cells already reported lost by `flush`."""

    def __init__(self, shell):
        self.shell = shell
        self.tracker: Tracker | None = None
        self.not_recording: str | None = None  # why the store could not be used (None: recording)
        self.lost_seen = 0  # worker jobs (whole cells) already reported lost by flush()

    def _make_tracker(self, store=None) -> Tracker:
        return Tracker(
            self.shell.user_ns,
            store_path=store,
            notebook=notebook_path(self.shell),
            transform=getattr(self.shell, "transform_cell", None),
        )

    def load(self) -> None:
        shell = self.shell
        why = store_problem(default_store_path(notebook_path(shell)))
        if why is not None:
            self.not_recording = why
            print(not_recording_line(why))
            return
        tracker = self.tracker = self._make_tracker()
        self._listen()
        try:
            raw = shell.history_manager.input_hist_raw[-1] if shell.history_manager.input_hist_raw else ""
            tracker.record_existing(raw, getattr(shell, "execution_count", None))
        except Exception as exc:
            tracker.problem("load.record_existing", exc)
        from .beside import in_jupyter_frontend

        if settings.sidecar and in_jupyter_frontend():
            open_sidecar_safely(tracker)
        elif "ipykernel" in sys.modules:
            # VS Code, Voila, nbclient (or the sidecar turned off): no side area is filled, so
            # one line says how to see the dashboard
            print(f"CellSync: recording to {tracker.store_path} · cellsync.sidecar() serves the dashboard "
                  f"from this kernel; `cellsync serve {tracker.store_path}` from a terminal")

    def _listen(self) -> None:
        self.shell.events.register("pre_run_cell", self.pre_run_cell)
        self.shell.events.register("post_run_cell", self.post_run_cell)
        atexit.register(self.drain_at_exit)

    def unload(self) -> None:
        tracker, self.tracker = self.tracker, None
        self.not_recording = None
        if tracker is None:
            return
        for event, fn in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            try:
                self.shell.events.unregister(event, fn)
            except ValueError:
                pass
        atexit.unregister(self.drain_at_exit)
        from .beside import stop_server

        stop_server()
        # the cell running %unload_ext is recorded too: it ran while we were listening
        drained = tracker.close()
        if drained:
            from . import quiet

            quiet.uninstall()  # no CellSync thread is left: the warnings module as it was

    def pre_run_cell(self, info=None) -> None:
        try:
            if self.tracker is not None:
                self.tracker.before_cell(info)
        except Exception:  # pragma: no cover - the tracker already guards itself
            pass

    def post_run_cell(self, result=None) -> None:
        try:
            if self.tracker is not None:
                self.tracker.after_cell(result)
        except Exception:  # pragma: no cover
            pass

    def drain_at_exit(self) -> None:
        if self.tracker is not None:
            self.tracker.close(settings.flush_on_exit_timeout)

    def flush(self, timeout: float | None = None) -> bool:
        """True only if everything queued is in the store; False when not recording, on a
        timeout, or when a cell failed to be written since the last flush."""
        tracker = self.tracker
        if tracker is None:
            return self.not_recording is None
        done = tracker.flush(timeout)
        lost = lost_cells(tracker)
        fresh_loss = lost > self.lost_seen
        self.lost_seen = lost
        return done and not fresh_loss

    def switch_store(self, path: Path) -> None:
        old = self.tracker
        why = store_problem(path)
        if why is not None:
            print(f"cellsync: cannot use {path}: {why}")
            return
        try:
            new = self._make_tracker(store=path)
        except Exception as exc:
            print(f"cellsync: cannot use {path}: {exc}")
            return
        self.tracker, self.not_recording, self.lost_seen = new, None, 0
        if old is None:  # was not recording: start listening now
            self._listen()
            print(f"cellsync: recording to {path} from the next cell on")
            return
        new.paused = old.paused
        old.close()
        # every frame is new to the new store; record them from the next cell on
        print(f"cellsync: writing to {path} from the next cell on")


@magics_class
class CellsyncMagics(Magics):
    """`%cellsync`: the extension's controls in the notebook."""

    def __init__(self, shell, extension: CellsyncExtension):
        super().__init__(shell)
        self.extension = extension

    @line_magic
    def cellsync(self, line: str = ""):
        """usage: %cellsync [status | pause | resume | flush [SECONDS] | store PATH]
          status       store path, cells tracked, frames, worker queue, problems seen
          pause        stop recording cells until `resume`
          resume       record cells again
          flush [S]    wait (up to S seconds) until everything queued is in the store
          store PATH   write to another store from the next cell on"""
        try:
            args = shlex.split(line)
        except ValueError as exc:
            print(f"cellsync: {exc}")
            return
        ext = self.extension
        cmd = args[0] if args else "status"
        if ext.tracker is None and ext.not_recording is not None:
            if cmd == "store" and len(args) == 2:
                ext.switch_store(Path(args[1]).expanduser())
            else:
                print(not_recording_line(ext.not_recording))
            return
        if ext.tracker is None:
            print("cellsync is not loaded: run %load_ext cellsync")
            return
        command = {"status": self._status, "pause": self._pause, "resume": self._resume, "flush": self._flush,
                   "store": self._store}.get(cmd)
        if command is None:
            print(USAGE)
            return
        command(ext.tracker, args[1:])

    def _status(self, tracker, args) -> None:
        print(format_status(tracker.status()))

    def _pause(self, tracker, args) -> None:
        tracker.paused = True
        print("cellsync: paused (cells are not recorded until %cellsync resume)")

    def _resume(self, tracker, args) -> None:
        tracker.paused = False
        print("cellsync: recording again")

    def _flush(self, tracker, args) -> None:
        try:
            timeout = float(args[0]) if args else None
        except ValueError:
            print(f"cellsync: flush takes a number of seconds, not {args[0]!r}")
            return
        lost_before = self.extension.lost_seen
        if self.extension.flush(timeout):
            print("cellsync: all recorded")
        elif tracker.worker.pending:
            print(f"cellsync: still {tracker.worker.pending} queued")
        else:
            print(f"cellsync: {lost_cells(tracker) - lost_before} cell(s) could not be written; see %cellsync status")

    def _store(self, tracker, args) -> None:
        if len(args) != 1:
            print("usage: %cellsync store PATH")
            return
        self.extension.switch_store(Path(args[0]).expanduser())


# the help `%cellsync` prints for an unknown command is the magic's own docstring
USAGE = "\n".join(line[2:] if line.startswith("  ") else line
                  for line in (CellsyncMagics.cellsync.__doc__ or "").splitlines())


def extension(shell=None) -> CellsyncExtension | None:
    """The extension loaded in `shell` (default: the running IPython), or None."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        return None
    magics = shell.magics_manager.registry.get(CellsyncMagics.__name__)
    return magics.extension if magics is not None else None


def load_ipython_extension(shell) -> None:
    if extension(shell) is not None:
        return  # loading twice must not double-count cells
    ext = CellsyncExtension(shell)
    shell.register_magics(CellsyncMagics(shell, ext))
    ext.load()


def unload_ipython_extension(shell) -> None:
    ext = extension(shell)
    if ext is None:
        return
    ext.unload()
    shell.magics_manager.registry.pop(CellsyncMagics.__name__, None)
    shell.magics_manager.magics["line"].pop("cellsync", None)


def current_tracker() -> Tracker | None:
    ext = extension()
    return ext.tracker if ext is not None else None


def open_sidecar_safely(tracker) -> str | None:
    """Open the dashboard beside the notebook; a failure is one line, never a traceback."""
    from .beside import open_sidecar

    try:
        tracker.flush(10)  # the store exists before the page asks for it
        return open_sidecar(tracker.store_path)
    except Exception as exc:
        tracker.problem("sidecar", exc)
        print(f"cellsync: could not open the sidecar ({type(exc).__name__}: {exc}); run `cellsync serve {tracker.store_path}`")
        return None


def flush(timeout: float | None = None) -> bool:
    """What `cellsync.flush()` returns: True only if everything queued is in the store. False
    when not recording at all, on a timeout, or when a cell failed to be written since the
    last flush (its problem is in `%cellsync status`)."""
    ext = extension()
    return True if ext is None else ext.flush(timeout)


def require_recording() -> None:
    """Raise (one line) unless the extension is recording: what `cellsync replay` checks."""
    ext = extension()
    if ext is None or ext.tracker is None:
        why = ext.not_recording if ext is not None else None
        raise CellsyncError(f"not recording: {why or 'the extension is not loaded'}")


def drain_or_raise(timeout: float) -> None:
    """Flush, stop tracking, and raise if anything could not be written (replay's last step)."""
    ext = extension()
    ok = flush(timeout)
    tracker = ext.tracker if ext is not None else None
    problems = dict(tracker.problem_messages) if tracker is not None else {}
    if ext is not None:
        unload_ipython_extension(ext.shell)
    if not ok:
        lost = "; ".join(f"{k}: {v}" for k, v in problems.items() if k.startswith("worker.")) or "timed out"
        raise CellsyncError(f"not everything was recorded ({lost})"[:500])

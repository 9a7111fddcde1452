"""CellSync: record how every notebook cell changes your dataframes, for the domain experts
who know what the data means.

In a notebook: `%load_ext cellsync` (or `import cellsync; cellsync.track()`).
From anywhere: `cellsync.open_store(path)` reads what was recorded.
"""

__version__ = "0.1.0"

import pandas as pd  # noqa: E402

from .config import settings  # noqa: E402
from .errors import CellsyncError  # noqa: E402
from .extension import load_ipython_extension, unload_ipython_extension  # noqa: E402
from .store import open_store  # noqa: E402


def track(shell=None):
    """Start tracking the current IPython session (same as `%load_ext cellsync`)."""
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        raise CellsyncError("cellsync.track() needs an IPython kernel or shell")
    load_ipython_extension(shell)
    from .extension import current_tracker

    return current_tracker()


def untrack(shell=None):
    """Stop tracking (same as `%unload_ext cellsync`); waits for queued work."""
    from IPython import get_ipython

    shell = shell or get_ipython()
    if shell is not None:
        unload_ipython_extension(shell)


def flush(timeout: float | None = None) -> bool:
    """Wait until everything recorded so far is in the store. False if `timeout` ran out, if
    a cell could not be written since the last flush, or if CellSync is not recording."""
    from .extension import flush as _flush

    return _flush(timeout)


def _tracker_or_none():
    from .extension import current_tracker

    return current_tracker()


def _report(exc: Exception):
    """In a notebook, bad input to an explicit call is one line, not a traceback."""
    import sys

    from IPython import get_ipython

    if get_ipython() is None:
        raise exc
    print(f"cellsync: {exc}", file=sys.stderr)
    return None


def segment(name: str, text: str, frame: str | None = None):
    """Define a segment experts care about, e.g. `cellsync.segment("elderly", "age >= 80")`.

    `frame=None` applies it to every frame that has its columns. It is stored, and its impact
    is computed for every later cell that changes such a frame (and for earlier versions in
    the SnapGrid). Returns the Segment, or None after printing why the text was refused."""
    from .segments import Segment, SegmentError

    try:
        seg = Segment.from_text(text, name=name, source="user", frame=frame)
        tracker = _tracker_or_none()
        if tracker is not None:
            frames = tracker.current_frames()
            if frame is not None and frame in frames:
                seg.check(frames[frame])
            elif frame is None and frames and not any(seg.fits(f) for f in frames.values()):
                # say why, against the frame that has the most of the segment's columns
                best = max(frames.values(), key=lambda f: len(set(seg.columns) & {str(c) for c in f.columns}))
                seg.check(best)
            tracker.add_segment(seg)
        return seg
    except SegmentError as exc:
        return _report(exc)


class CellsyncWarning(UserWarning):
    """Something was not recorded, and the notebook goes on."""


def _not_tracking(what: str) -> None:
    # A notebook that calls cellsync must still run where CellSync is not loaded (a colleague
    # running it plain, a scheduled job): say so once, record nothing, raise nothing.
    import warnings

    warnings.warn(f"cellsync is not tracking (run %load_ext cellsync): {what} not recorded",
                  CellsyncWarning, stacklevel=3)


def log_metrics(values: dict | None = None, **named) -> None:
    """Record metrics for the current cell: `cellsync.log_metrics(val_auc=0.91, loss=0.3)`."""
    tracker = _tracker_or_none()
    if tracker is None:
        return _not_tracking("metrics")
    try:
        tracker.log_metrics({**(values or {}), **named})
    except CellsyncError as exc:
        return _report(exc)


def log_predictions(y_true, y_pred, data=None, proba=None, name: str = "model") -> None:
    """Score predictions overall and for every segment of `data` (scored off the user's path):
    accuracy/precision/recall/F1 (+ ROC AUC with `proba`) for labels, MAE/RMSE/R² for numbers."""
    from .metrics import prepare_predictions

    tracker = _tracker_or_none()
    if tracker is None:
        return _not_tracking("predictions")
    try:
        tracker.log_predictions(prepare_predictions(y_true, y_pred, data=data, proba=proba, name=name), data)
    except CellsyncError as exc:
        return _report(exc)


def ask(question: str, store=None, model: str | None = None):
    """Answer a question from the recorded facts, citing cells: `cellsync.ask("which cell
    removed the most patients?")`. Offline by default (settings.explain_model)."""
    from .explain.ask import ask as _ask

    tracker = _tracker_or_none()
    if store is None:
        if tracker is None:
            raise CellsyncError("give a store (cellsync.ask(question, store=path)) or run %load_ext cellsync")
        tracker.flush(30)
        store = tracker.store_path
    st = open_store(store) if not hasattr(store, "timeline") else store
    return _ask(st, question, model or settings.explain_model)


def _store_path(store):
    if store is not None:
        return store.path if hasattr(store, "path") else store
    tracker = _tracker_or_none()
    if tracker is None:
        raise CellsyncError("give a store (store=path) or run %load_ext cellsync")
    tracker.flush(30)
    return tracker.store_path


def _writer(store):
    from .store import Store

    return Store(_store_path(store))


def feedback(status: str | None = "open", store=None) -> pd.DataFrame:
    """Threads experts started (open ones by default), newest activity first, one row each."""
    from . import chat

    st = open_store(_store_path(store))
    try:
        rows = []
        for t in chat.threads(st, status=status):
            msgs = chat.messages(st, t.id)
            last = msgs[-1] if msgs else None
            rows.append({
                "thread": t.id, "about": t.anchor, "status": t.status, "messages": len(msgs),
                "last author": last.author if last else None, "last message": last.text if last else None,
                "when": last.created_at if last else t.created_at,
            })
        return pd.DataFrame(rows, columns=["thread", "about", "status", "messages", "last author", "last message", "when"])
    finally:
        st.close()


def comment(text: str, cell: int | None = None, frame: str | None = None, column: str | None = None,
            segment: str | None = None, store=None):
    """Start a thread from the notebook, about cell N (execution count) and optionally a frame,
    column or segment. Returns the thread id."""
    from . import chat

    try:
        st = _writer(store)
        try:
            return chat.start_thread(st, text, author=settings.user_name or chat.default_name(), role="data_scientist",
                                     execution_count=cell, frame=frame, column=column, segment=segment).id
        finally:
            st.close()
    except CellsyncError as exc:
        return _report(exc)


def reply(thread_id: str, text: str, store=None):
    """Answer a thread (as the data scientist). `@assistant …` asks the assistant instead."""
    from . import assistant, chat

    try:
        st = _writer(store)
        try:
            msg = chat.post(st, thread_id, text, author=settings.user_name or chat.default_name(), role="data_scientist")
            chat.answer_if_asked(st, thread_id, text, assistant.answer)
            return msg.id
        finally:
            st.close()
    except CellsyncError as exc:
        return _report(exc)


def resolve(thread_id: str, store=None, reopen: bool = False):
    """Mark a thread resolved (or open again with reopen=True)."""
    from . import chat

    try:
        st = _writer(store)
        try:
            chat.set_status(st, thread_id, "open" if reopen else "resolved", settings.user_name or chat.default_name())
        finally:
            st.close()
    except CellsyncError as exc:
        return _report(exc)


def sidecar():
    """Open (or reopen) the dashboard beside the notebook in JupyterLab; returns its address."""
    from .extension import open_sidecar_safely

    tracker = _tracker_or_none()
    if tracker is None:
        return _report(CellsyncError("cellsync is not tracking: run %load_ext cellsync first"))
    return open_sidecar_safely(tracker)


def status() -> dict:
    """What `%cellsync status` shows, as a dict."""
    from .extension import current_tracker

    tracker = current_tracker()
    if tracker is None:
        raise CellsyncError("cellsync is not tracking: run %load_ext cellsync")
    return tracker.status()


__all__ = [
    "ask",
    "sidecar",
    "comment",
    "feedback",
    "reply",
    "resolve",
    "CellsyncError",
    "CellsyncWarning",
    "flush",
    "load_ipython_extension",
    "log_metrics",
    "log_predictions",
    "segment",
    "open_store",
    "settings",
    "status",
    "track",
    "unload_ipython_extension",
    "untrack",
]

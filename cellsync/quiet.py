"""Keep CellSync's threads from touching the notebook's warnings.

Python's warning filters are process-wide. The libraries CellSync calls in its worker thread
(pandas, scikit-learn) enter `warnings.catch_warnings()` and `simplefilter("ignore")` hundreds
of times per cell (measured: 761 times for six small cells with one `log_predictions`). While
one of those blocks is open, a warning the user's own code raises on the kernel's thread is
ignored: a notebook's `FutureWarning` could go missing, depending on timing. Python 3.14's
context-aware warnings fix this at the root; until then, in threads CellSync marks:

- `catch_warnings`, `simplefilter`, `filterwarnings` and `resetwarnings` change nothing
  (the library's block runs with the filters as they are), and
- any warning raised there is dropped instead of printed, so it cannot land under a cell.

Every other thread, the kernel's included, behaves exactly as without CellSync.
"""

from __future__ import annotations

import threading
import warnings

_local = threading.local()
_saved: dict | None = None


def mark_current_thread() -> None:
    """Call first thing in a CellSync thread: its warnings stay inside it."""
    _local.quiet = True


def _quiet() -> bool:
    return getattr(_local, "quiet", False)


def installed() -> bool:
    return _saved is not None


def install() -> None:
    """Patch the warnings module once (idempotent); `uninstall` puts it back."""
    global _saved
    if _saved is not None:
        return
    cw = warnings.catch_warnings
    _saved = {
        "enter": cw.__enter__, "exit": cw.__exit__, "simplefilter": warnings.simplefilter,
        "filterwarnings": warnings.filterwarnings, "resetwarnings": warnings.resetwarnings,
        "_showwarnmsg": warnings._showwarnmsg,
    }
    saved = _saved

    def __enter__(self):
        if _quiet():
            self._cellsync_skipped = True
            return [] if getattr(self, "_record", False) else None
        return saved["enter"](self)

    def __exit__(self, *exc):
        if getattr(self, "_cellsync_skipped", False):
            self._cellsync_skipped = False
            return None
        return saved["exit"](self, *exc)

    def guarded(name):
        original = saved[name]

        def call(*args, **kwargs):
            if _quiet():
                return None
            return original(*args, **kwargs)

        call.__wrapped__ = original
        call.__doc__ = original.__doc__
        return call

    def _showwarnmsg(msg):
        if _quiet():
            return None
        return saved["_showwarnmsg"](msg)

    cw.__enter__, cw.__exit__ = __enter__, __exit__
    warnings.simplefilter = guarded("simplefilter")
    warnings.filterwarnings = guarded("filterwarnings")
    warnings.resetwarnings = guarded("resetwarnings")
    warnings._showwarnmsg = _showwarnmsg


def uninstall() -> None:
    global _saved
    if _saved is None:
        return
    cw = warnings.catch_warnings
    cw.__enter__, cw.__exit__ = _saved["enter"], _saved["exit"]
    warnings.simplefilter = _saved["simplefilter"]
    warnings.filterwarnings = _saved["filterwarnings"]
    warnings.resetwarnings = _saved["resetwarnings"]
    warnings._showwarnmsg = _saved["_showwarnmsg"]
    _saved = None

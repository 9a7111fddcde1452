"""CellSync: record how every notebook cell changes your dataframes, for the domain experts
who know what the data means.

In a notebook: `%load_ext cellsync` (or `import cellsync; cellsync.track()`).
From anywhere: `cellsync.open_store(path)` reads what was recorded.
"""

__version__ = "0.1.0"

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
    """Wait until everything recorded so far is in the store. False if `timeout` ran out."""
    from .extension import current_tracker

    tracker = current_tracker()
    return True if tracker is None else tracker.flush(timeout)


def status() -> dict:
    """What `%cellsync status` shows, as a dict."""
    from .extension import current_tracker

    tracker = current_tracker()
    if tracker is None:
        raise CellsyncError("cellsync is not tracking: run %load_ext cellsync")
    return tracker.status()


__all__ = [
    "CellsyncError",
    "flush",
    "load_ipython_extension",
    "open_store",
    "settings",
    "status",
    "track",
    "unload_ipython_extension",
    "untrack",
]

"""A real IPython InteractiveShell with CellSync loaded, writing to a given store folder."""

from __future__ import annotations

import time
from pathlib import Path


def make_shell(store_dir: Path):
    from IPython.core.interactiveshell import InteractiveShell

    import cellsync

    cellsync.settings.store = str(store_dir)
    ip = InteractiveShell.instance()
    run(ip, "import pandas as pd\nimport numpy as np")
    return ip


def load(ip) -> None:
    ip.extension_manager.load_extension("cellsync")


def tracker():
    from cellsync.extension import current_tracker

    return current_tracker()


def run(ip, code: str) -> float:
    """Run a cell as a notebook would; return its wall time (cell + all hooks). Raises if
    the cell itself failed, so a broken benchmark cell never passes as a fast one."""
    t0 = time.perf_counter()
    result = ip.run_cell(code, store_history=True)
    wall = time.perf_counter() - t0
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {code!r}: {result.error_before_exec or result.error_in_exec!r}")
    return wall


def flush(timeout: float = 1800) -> float:
    """Wait for the worker; return the seconds waited."""
    import cellsync

    t0 = time.perf_counter()
    if not cellsync.flush(timeout):
        raise RuntimeError(f"cellsync.flush() did not finish within {timeout} s")
    return time.perf_counter() - t0


def problems() -> dict:
    t = tracker()
    return dict(t.problems) if t is not None else {}

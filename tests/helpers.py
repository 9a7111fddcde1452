"""Helpers the tests share (fixtures live in conftest.py)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "notebooks" / "demo.ipynb"


def run(ip, code: str):
    """Run a cell as a notebook would (with history, so execution counts advance)."""
    return ip.run_cell(code, store_history=True)


def run_cells(ip, cells, name: str = "df") -> list:
    """Run each cell; a copy of `name` after each one (the versions pandas says there are)."""
    out = []
    for code in cells:
        run(ip, code)
        out.append(ip.user_ns[name].copy())
    return out


def recorded(ip=None, store_dir=None):
    """Flush the worker, then read the store from scratch, read-only, as another process would."""
    import cellsync
    from cellsync.extension import current_tracker

    tracker = current_tracker()
    if tracker is not None:
        assert tracker.flush(60), "worker did not drain"
        store_dir = store_dir or tracker.store_path
    return cellsync.open_store(store_dir)


def entries(store) -> list[dict]:
    """The timeline as `cellsync show --json` prints it: the tests read the public JSON shape."""
    return [e.to_dict() for e in store.timeline()]


def make_entry(**fields):
    """A `TimelineEntry` from the fields a test cares about (a cell that ran and was stored)."""
    from cellsync.store import TimelineEntry

    base = {"id": 1, "session_id": "s", "execution_count": 1, "cell_id": None, "notebook": None, "code": "",
            "started_at": "2026-01-01T00:00:00+00:00", "duration_s": 0.0, "status": "ok"}
    frames = [{"version": f"v{i}", "change": "rebound", **f} for i, f in enumerate(fields.pop("frames", []))]
    return TimelineEntry.from_dict({**base, **fields, "frames": frames})


def frames_of(store, cell_index: int = -1) -> dict:
    return {f["name"]: f for f in entries(store)[cell_index]["frames"]}

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def store_dir(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def shell(store_dir, monkeypatch):
    """A real IPython InteractiveShell with the extension loaded, writing to a temp store."""
    from IPython.core.interactiveshell import InteractiveShell

    import cellsync

    monkeypatch.setattr(cellsync.settings, "store", str(store_dir))
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    ip.run_cell("import pandas as pd\nimport numpy as np", store_history=True)
    ip.extension_manager.load_extension("cellsync")
    yield ip
    ip.extension_manager.unload_extension("cellsync")
    ip.reset(new_session=True)


def run(ip, code: str):
    """Run a cell as a notebook would (with history, so execution counts advance)."""
    return ip.run_cell(code, store_history=True)


def recorded(ip=None, store_dir=None):
    """Flush the worker, then read the store from scratch, read-only, as another process would."""
    import cellsync
    from cellsync.extension import current_tracker

    tracker = current_tracker()
    if tracker is not None:
        assert tracker.flush(60), "worker did not drain"
        store_dir = store_dir or tracker.store_path
    return cellsync.open_store(store_dir)


def frames_of(store, cell_index: int = -1) -> dict:
    timeline = store.timeline()
    return {f["name"]: f for f in timeline[cell_index]["frames"]}

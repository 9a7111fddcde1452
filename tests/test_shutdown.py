"""Nothing queued is lost when the kernel shuts down normally, without an explicit flush."""

import nbformat
import pytest
from nbclient import NotebookClient

import cellsync
from helpers import entries

pytestmark = pytest.mark.kernel


def test_kernel_shutdown_drains_the_worker(tmp_path):
    store = tmp_path / "store"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext cellsync"),
        nbformat.v4.new_code_cell("import numpy as np, pandas as pd"),
        # enough work that the worker is still busy when the last cell returns
        nbformat.v4.new_code_cell(
            "big = pd.DataFrame(np.random.default_rng(0).random((300_000, 20)))\n"
            "big2 = big[big[0] > 0.5]\nbig3 = big2.assign(x=1)"
        ),
        nbformat.v4.new_code_cell("big4 = big3.sort_values(1)"),
    ]
    env_store = str(store)
    # jupyter_client kills a kernel that has not exited 5 s after a shutdown request; on a
    # loaded machine the drain can take longer (CI once lost all four versions that way). The
    # drain is what is under test here, so the client waits as long as the drain may take.
    from jupyter_client import KernelManager

    km = KernelManager(kernel_name="python3", shutdown_wait_time=60)
    client = NotebookClient(nb, timeout=120, km=km)
    import os

    os.environ["CELLSYNC_STORE"] = env_store
    try:
        client.execute()
        # a normal shutdown request, as a Jupyter server sends it; no flush was asked for
        # (nbclient leaves a kernel manager it did not make to its owner)
        km.shutdown_kernel(now=False)
    finally:
        del os.environ["CELLSYNC_STORE"]
    names = [f["name"] for c in entries(cellsync.open_store(store)) for f in c["frames"]]
    assert names == ["big", "big2", "big3", "big4"]

import pytest

from helpers import DEMO


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


@pytest.fixture(scope="session")
def demo_replay(tmp_path_factory):
    """The bundled demo notebook replayed once per test session on a real kernel (nbclient):
    (the replay's result, the store). Shared: read it, never write to it (copy it first)."""
    from cellsync.replay import replay_notebook

    store = tmp_path_factory.mktemp("demo") / "store"
    return replay_notebook(DEMO, store, allow_errors=False), store


@pytest.fixture(scope="session")
def demo_store(demo_replay):
    """The replayed demo's store folder (shared: read only)."""
    return demo_replay[1]


@pytest.fixture(scope="module")
def spark():
    """A local[2] SparkSession for one test module, stopped at its end (a module may stop it
    sooner: stopping twice is harmless)."""
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    s = (SparkSession.builder.master("local[2]").appName("cellsync-tests")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
         .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()

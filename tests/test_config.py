import pytest

from cellsync.config import Settings, apply_environment
from cellsync.errors import SettingsError
from cellsync.tracker import default_store_path


def test_environment_overrides_are_typed():
    s = Settings()
    apply_environment(s, {"CELLSYNC_PERSIST_DATA": "off", "CELLSYNC_MAX_PERSIST_ROWS": "1_000", "CELLSYNC_STORE": "/tmp/x"})
    assert (s.persist_data, s.max_persist_rows, s.store) == (False, 1000, "/tmp/x")


@pytest.mark.parametrize("env", [{"CELLSYNC_PERSIST_DATA": "maybe"}, {"CELLSYNC_MAX_PERSIST_ROWS": "lots"}, {"CELLSYNC_HISTOGRAM_BINS": "500"}])
def test_bad_environment_values_are_one_clear_error(env):
    with pytest.raises(SettingsError, match=next(iter(env))):
        apply_environment(Settings(), env)


def test_default_store_is_beside_the_notebook(tmp_path, monkeypatch):
    import cellsync

    monkeypatch.setattr(cellsync.settings, "store", None)
    nb = tmp_path / "analysis" / "clean.ipynb"
    assert default_store_path(str(nb)) == (tmp_path / "analysis" / ".cellsync").resolve()
    monkeypatch.chdir(tmp_path)
    assert default_store_path(None) == tmp_path / ".cellsync"
    monkeypatch.setattr(cellsync.settings, "store", "~/elsewhere")
    assert str(default_store_path(str(nb))).endswith("elsewhere")

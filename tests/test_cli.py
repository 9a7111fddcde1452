"""The command line: one clear line and a non-zero exit for every bad input."""

import re

import nbformat
import pytest
from click.testing import CliRunner

from cellsync.cli import main
from cellsync.store import Store

from helpers import ROOT


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(res, pattern):
    assert res.exit_code != 0
    lines = [l for l in res.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1, res.output
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in res.output


@pytest.mark.parametrize("command", ["show", "status"])
def test_missing_store(tmp_path, command):
    one_line_error(invoke(command, tmp_path / "nope"), r"^Error: no CellSync store at .*nope")
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("command", ["show", "status"])
def test_corrupt_store(tmp_path, command):
    (tmp_path / "cellsync.db").write_bytes(b"\x00garbage" * 512)
    one_line_error(invoke(command, tmp_path), r"^Error: .*not a readable CellSync store")


def test_store_from_a_newer_cellsync(tmp_path):
    st = Store(tmp_path)
    st.db["_sqlite_migrations"].insert({"migration_set": "cellsync", "name": "m900_new", "applied_at": "x"})
    st.close()
    one_line_error(invoke("show", tmp_path), r"newer CellSync.*upgrade cellsync")


def test_notebook_not_found(tmp_path):
    one_line_error(invoke("replay", tmp_path / "missing.ipynb", "--store", tmp_path / "s"), r"^Error: notebook not found")


def test_not_a_notebook(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    one_line_error(invoke("replay", bad, "--store", tmp_path / "s"), r"is not a readable notebook")


@pytest.mark.kernel
def test_replay_stops_at_a_failing_cell_but_keeps_what_ran(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})"),
        nbformat.v4.new_code_cell("raise ValueError('bad input file')"),
        nbformat.v4.new_code_cell("df2 = df.copy()"),
    ]
    path = tmp_path / "fails.ipynb"
    nbformat.write(nb, path)
    store = tmp_path / "store"
    one_line_error(invoke("replay", path, "--store", store), r"cell 1: ValueError: bad input file.*--allow-errors")
    shown = invoke("show", store)
    assert shown.exit_code == 0
    assert "df (new; create): new, 2 rows x 1 columns" in shown.output
    assert "ERROR ValueError: bad input file" in shown.output and "df2" not in shown.output
    # with --allow-errors it goes on and records the cell after the failure
    res = invoke("replay", path, "--store", tmp_path / "store2", "--allow-errors")
    assert res.exit_code == 0 and "error (allowed): cell 1: ValueError: bad input file" in res.output
    assert "df2 (new; copy)" in invoke("show", tmp_path / "store2").output


def test_status_and_empty_show(tmp_path):
    Store(tmp_path).close()
    res = invoke("status", tmp_path)
    assert res.exit_code == 0 and "cells: 0" in res.output and "problems: none" in res.output
    assert "no cells recorded yet" in invoke("show", tmp_path).output
    assert invoke("show", tmp_path, "--json").output.strip().startswith('{\n  "cells": []')


def test_every_command_is_documented():
    doc = (ROOT / "docs" / "cli.md").read_text()
    for name, command in main.commands.items():
        assert f"cellsync {name}" in doc, f"`cellsync {name}` is not in docs/cli.md"
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in doc, f"{opt} of `cellsync {name}` is not in docs/cli.md"


def test_every_setting_is_documented():
    from cellsync.config import settings

    readme = (ROOT / "README.md").read_text()
    for name in settings.param:
        if name != "name":
            assert f"`{name}`" in readme, f"setting {name} is not in the README"

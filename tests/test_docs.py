"""The docs cannot rot: every `cellsync` command line in them parses, every setting is in the
configuration page, and every Python call they show exists."""

import re
import shlex

import pytest

import cellsync
from cellsync.cli import main

from helpers import ROOT
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def code_blocks(text: str):
    return re.findall(r"```(?:bash|sh|python)?\n(.*?)```", text, re.S)


def command_lines():
    for doc in DOCS:
        for block in code_blocks(doc.read_text()):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if line.startswith("cellsync ") and "[" not in line:
                    yield doc.name, line


@pytest.mark.parametrize("doc, line", list(command_lines()))
def test_every_command_line_in_the_docs_parses(doc, line):
    args = shlex.split(line)[1:]
    ctx = main.make_context("cellsync", args[:1])  # the group
    command = main.get_command(ctx, args[0])
    assert command is not None, f"{doc}: unknown command in {line!r}"
    command.make_context(args[0], args[1:])  # raises on an unknown option or a missing argument


def test_every_setting_is_on_the_configuration_page():
    page = (ROOT / "docs" / "configuration.md").read_text()
    for name in cellsync.settings.param:
        if name != "name":
            assert f"`{name}`" in page, name


@pytest.mark.parametrize("name", sorted({m for doc in DOCS for m in re.findall(r"\bcellsync\.([a-z_]+)\(", doc.read_text())}))
def test_every_python_call_in_the_docs_exists(name):
    assert callable(getattr(cellsync, name, None)), f"cellsync.{name} is in the docs but not in the package"

"""The soak test's quick mode (bench/soak.py --quick): 60 cells over a minute in a real kernel,
with `cellsync serve`, two headless Chromium browsers clicking cells and a chat writer on the
same store. Nothing may be lost and CellSync may print no traceback or problem line."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.kernel, pytest.mark.browser]


def test_quick_soak_loses_nothing(tmp_path):
    if not (shutil.which("chromium") or Path("/usr/bin/chromium").exists()):
        pytest.skip("Debian's chromium is not installed")
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--quick", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    r = json.loads(out.read_text())
    cells, messages, problems = r["cells"], r["messages"], r["problems"]
    assert cells["executed"] >= 60
    assert cells["lost"] == [] and cells["wrong"] == [] and cells["doubled"] == []
    assert cells["in_store"] == cells["executed"]
    assert messages["written"] > 0
    assert messages["lost"] == [] and messages["doubled"] == [] and messages["write_errors"] == []
    for tags in messages["not_seen_in_browser"].values():
        assert tags == []
    assert problems["in_cell_outputs"].get("cellsync_tracebacks", []) == []
    assert problems["in_cell_outputs"].get("problem_lines", []) == []
    assert problems["in_cell_outputs"].get("unexpected_errors", []) == []
    assert problems["cellsync_status"] == [] and problems["store_problems_table"] == []
    assert r["clicks"]["n"] > 0
    assert proc.returncode == 0, proc.stdout[-3000:]

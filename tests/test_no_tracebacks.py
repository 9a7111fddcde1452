"""The README's promise, in a real kernel: whatever fails inside CellSync, no cell shows a
traceback. Every stage of the worker (and the blocking hook) is made to fail in turn; the
cells after it must show only their own output, at most one short line per kind of problem,
and `%cellsync status` must name each kind."""

import nbformat
import pytest

from cellsync import open_store
from cellsync.replay import replay_notebook

pytestmark = pytest.mark.kernel

# (the module that calls it, what fails, the kind of problem it must be counted as)
STAGES = [
    ("cellsync.worker.versions", "diff_frames", "version.RuntimeError"),
    ("cellsync.worker.versions", "profile_frame", "version.RuntimeError"),
    ("cellsync.worker.versions", "persist", "persist.RuntimeError"),
    ("cellsync.worker.operations", "classify_cell", "operations.RuntimeError"),
    ("cellsync.worker.segments", "suggest", "segments.RuntimeError"),
    ("cellsync.worker.segments", "segment_impacts", "segments.RuntimeError"),
    ("cellsync.worker.explanation", "build_facts", "explain.RuntimeError"),
    ("cellsync.worker.metrics", "score", "predictions.RuntimeError"),
    ("cellsync.tracker", "displayed_values", "hook.metrics"),
    ("cellsync.detect", "analyse", "hook.post_run_cell"),
]

WORK = """frame = pd.DataFrame({"age": np.arange(200) % 90, "g": np.arange(200) % 3, "y": np.arange(200) % 2})
frame = frame[frame.age > 10]
cellsync.log_predictions(frame["y"], (frame["age"] > 50).astype(int), data=frame)
print("user output", len(frame))"""


def _break(module: str, name: str) -> str:
    return (f"import {module} as _m\n"
            f"def _boom(*a, **k):\n    raise RuntimeError('{name} exploded')\n"
            f"_orig, _m.{name} = _m.{name}, _boom\nprint('broke {name}')")


def test_no_traceback_under_any_cell_whatever_fails(tmp_path):
    cells = ["import numpy as np, pandas as pd, cellsync\nfrom sklearn.metrics import accuracy_score"]
    for module, name, _ in STAGES:
        # break one stage, work through it, then mend it (cellsync.flush: the worker has run)
        cells += [_break(module, name), WORK, "accuracy_score([0, 1, 1], [0, 1, 0])", f"cellsync.flush(30)\n_m.{name} = _orig"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells] + [nbformat.v4.new_code_cell("%cellsync status")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    result = replay_notebook(path, tmp_path / "store", allow_errors=False)
    texts = []
    for cell in result.executed.cells:
        text = "".join(o.get("text", "") + "".join(str(v) for v in o.get("data", {}).values())
                       + "".join(o.get("traceback", [])) for o in cell.get("outputs", []))
        texts.append(text)
        assert "Traceback" not in text and "Error in callback" not in text, text
        assert not any(o.get("output_type") == "error" for o in cell.get("outputs", [])), text
        assert text.count("CellSync could not record everything") <= 1
        if "user output" in cell.source:
            assert "user output" in text  # the user's own output is all there
    announced = "".join(texts[:-1])
    status = texts[-1]
    for _, _, kind in STAGES:
        # each stage's failure is counted under its kind, named by %cellsync status, and
        # announced in one short line once
        assert kind in status, (kind, status)
        assert announced.count(f"({kind}") + announced.count(f", {kind}") >= 1, (kind, announced)
    # the details went to the store's log, stack and all
    log = (tmp_path / "store" / "cellsync.log").read_text()
    assert "Traceback" in log and "exploded" in log

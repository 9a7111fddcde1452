"""The notebook's own structure: which Markdown heading each code cell sits under.

The kernel never sees Markdown cells, but the notebook file is on disk (its path comes from
the Jupyter server, or from `cellsync replay`) and every code cell has an id (nbformat 4.5;
JupyterLab sends it with each run, replay passes it). So the worker, off the user's path,
reads the file (again only when it changed) and records each cell's section with the cell: an
expert can then read the timeline in the notebook's own chapters.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_cache: dict[str, tuple[float, dict[str, str]]] = {}
_lock = threading.Lock()


def headings(cells: list[dict]) -> dict[str, str]:
    """Code cell id -> the text of the nearest Markdown heading above it."""
    out, current = {}, None
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                m = _HEADING.match(line)
                if m:
                    current = re.sub(r"[*_`]", "", m.group(2)).strip()[:200]
        elif cell.get("cell_type") == "code" and cell.get("id") and current:
            out[cell["id"]] = current
    return out


def section_of(notebook: str | Path | None, cell_id: str | None) -> str | None:
    """The section of one code cell, or None (no notebook, no id, no heading above it, or a
    file that cannot be read: a missing section is never a problem worth a line)."""
    if not notebook or not cell_id:
        return None
    path = Path(notebook)
    try:
        mtime = path.stat().st_mtime
        key = str(path)
        with _lock:
            cached = _cache.get(key)
        if cached is None or cached[0] != mtime:
            if path.stat().st_size > 50_000_000:
                return None  # a notebook full of outputs: not worth reading for its headings
            nb = json.loads(path.read_text(encoding="utf-8"))
            cached = (mtime, headings(nb.get("cells", [])))
            with _lock:
                _cache[key] = cached
        return cached[1].get(cell_id)
    except (OSError, ValueError, AttributeError, TypeError):
        return None

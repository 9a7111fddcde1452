"""Run a notebook on a real kernel (nbclient) with tracking on: `cellsync replay`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import NotebookNotFound, ReplayError
from .store import Store
from .tracker import INTERNAL_MARKER


@dataclass(frozen=True)
class ReplayResult:
    notebook: str
    store: str
    cells_run: int
    errors: tuple[str, ...]
    executed: object = None  # the executed nbformat notebook, outputs and execution counts


def _run_silent(client, code: str, timeout: float = 120) -> None:
    """Run CellSync's own code in the kernel: silent, so it fires no cell events, takes no
    execution count and writes nothing into the notebook."""
    from jupyter_core.utils import run_sync

    reply = run_sync(client.kc.execute_interactive)(
        f"{INTERNAL_MARKER}\n{code}", silent=True, store_history=False, timeout=timeout,
        output_hook=lambda msg: None,
    )
    content = reply.get("content", {})
    if content.get("status") != "ok":
        raise ReplayError(f"cellsync could not run in the kernel: {content.get('ename')}: {content.get('evalue')}")


def replay_notebook(
    notebook: str | Path,
    store: str | Path,
    allow_errors: bool = False,
    timeout: int = 600,
    kernel_name: str = "python3",
) -> ReplayResult:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(notebook).expanduser()
    if not path.is_file():
        raise NotebookNotFound(f"notebook not found: {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise NotebookNotFound(f"{path} is not a readable notebook: {type(exc).__name__}: {exc}") from None
    store = Path(store).expanduser().resolve()
    # a store that cannot be written is one line now, before a kernel starts, not a replay
    # that "succeeds" with nothing recorded
    Store(store).close()
    env = dict(os.environ)
    env.update(
        CELLSYNC_STORE=str(store),
        CELLSYNC_NOTEBOOK=str(path.resolve()),
        PYTHONUNBUFFERED="1",
    )
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.resolve().parent)}},
    )
    errors: list[str] = []  # cells that raised and were allowed to (flag or raises-exception tag)
    fatal: str | None = None
    cells_run = 0
    with client.setup_kernel(env=env):
        _run_silent(client, "get_ipython().run_line_magic('load_ext', 'cellsync')\n"
                            "__import__('cellsync').extension.require_recording()")
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                _run_silent(client, f"__import__('cellsync').extension.current_tracker().set_next_cell_id({cell.get('id')!r})")
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    cells_run += 1
                    fatal = f"cell {index}: {exc.ename}: {exc.evalue}"
                    raise
                cells_run += 1
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error":
                        errors.append(f"cell {index}: {out.get('ename')}: {out.get('evalue')}")
        except CellExecutionError:
            pass
        finally:
            # what ran must be in the store before the kernel goes away
            # flush first: False means a cell could not be written, which must not pass as done
            _run_silent(client, "__import__('cellsync').extension.drain_or_raise(590)", timeout=600)
    if fatal is not None:
        raise ReplayError(f"{path.name}: {fatal} (recorded up to there; use --allow-errors to go on)")
    return ReplayResult(str(path), str(store), cells_run, tuple(errors), nb)

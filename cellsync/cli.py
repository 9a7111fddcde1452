"""`cellsync` on the command line. Thin: parse, call the library, turn errors into one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import phrasing
from .errors import CellsyncError


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cellsync")
def main():
    """Record how every notebook cell changes your dataframes, and show it."""


@main.command()
@click.argument("notebook", type=click.Path(path_type=Path))
@click.option("--store", "store", type=click.Path(path_type=Path), default=None,
              help="Store folder (default: .cellsync/ beside the notebook).")
@click.option("--allow-errors", is_flag=True, help="Run on past cells that raise (they are recorded as errors).")
@click.option("--timeout", default=600, show_default=True, help="Seconds one cell may run.")
@click.option("--kernel", "kernel_name", default="python3", show_default=True, help="Jupyter kernel name.")
def replay(notebook, store, allow_errors, timeout, kernel_name):
    """Run NOTEBOOK on a real kernel with tracking on, into a store."""
    from .replay import replay_notebook

    store = store or Path(notebook).expanduser().resolve().parent / ".cellsync"
    try:
        result = replay_notebook(notebook, store, allow_errors=allow_errors, timeout=timeout, kernel_name=kernel_name)
    except CellsyncError as exc:
        raise _fail(exc) from None
    click.echo(f"replayed {result.cells_run} cells of {result.notebook} into {result.store}")
    for err in result.errors:
        click.echo(f"  error (allowed): {err}")


def _open(path: Path):
    from .store import open_store

    try:
        return open_store(path)
    except CellsyncError as exc:
        raise _fail(exc) from None


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("--json", "as_json", is_flag=True, help='Print {"cells": [...]} as JSON.')
def show(store, as_json):
    """Print what was recorded in STORE, cell by cell."""
    with _open(store) as st:
        cells = st.timeline()
    if as_json:
        json.dump({"cells": [c.to_dict() for c in cells]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not cells:
        click.echo(f"{store}: no cells recorded yet")
    section = None
    for c in cells:
        if c.section and c.section != section:
            section = c.section
            click.echo(f"## {section}")
        count = c.execution_count if c.execution_count is not None else " "
        first = (c.code or "").strip().splitlines()[:1]
        status = "ok" if c.status == "ok" else f"ERROR {c.error.type}: {c.error.message}"
        click.echo(f"[{count}] {first[0][:70] if first else ''}  ({status}, {c.duration_s * 1000:.0f} ms)")
        if c.summary:
            unverified = f"  [unverified: {', '.join(c.unverified_numbers)}]" if c.unverified_numbers else ""
            click.echo(f"    = {c.summary}{unverified}")
        for f in c.frames:
            click.echo("    " + phrasing.frame_line(f))
        for imp in c.segments:
            if imp.flagged:
                click.echo("    FLAG " + phrasing.flag_line(imp, c.frames))
        metrics = c.metrics
        for m in metrics:
            if m.segment is None:
                click.echo("    metric " + phrasing.metric_line(m))
        for line in phrasing.segment_metric_lines(metrics):
            click.echo("    " + line)


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("--frame", default=None, help="The table whose rows to follow (default: the one with the longest history).")
@click.option("--json", "as_json", is_flag=True, help="Print the overview as JSON.")
def overview(store, frame, as_json):
    """The notebook's story: where the rows went, who was hit hardest, where the model fails."""
    from .overview import overview as build, text

    with _open(store) as st:
        ov = build(st, frame)
    if frame is not None and frame not in ov.frames:
        raise _fail(CellsyncError(f"no table {frame!r} in {store}; tables: {', '.join(ov.frames) or 'none'}"))
    if as_json:
        click.echo(ov.to_json(indent=2))
        return
    click.echo(text(ov))


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("--frame", required=True, help="The frame (variable name) to follow.")
@click.option("--segment", "segment", required=True, help='The segment, e.g. "age >= 80".')
@click.option("--column", "columns", multiple=True, help="Also show this column's distribution inside the segment (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the grid as JSON.")
def snapgrid(store, frame, segment, columns, as_json):
    """One segment across every stored version of a frame (SnapGrid), from the store alone."""
    from .snapgrid import snapgrid as grid_of

    with _open(store) as st:
        try:
            grid = grid_of(st, frame, segment, columns)
        except CellsyncError as exc:
            raise _fail(exc) from None
    if as_json:
        click.echo(grid.to_json(indent=2))
        return
    click.echo(f"{grid.frame} / {grid.segment}")
    for c in grid.cells:
        count = "" if c.execution_count is None else f"[{c.execution_count}] "
        if c.segment_rows is None:
            body = c.status + (f" ({c.note})" if c.note else "")
        else:
            body = f"{c.segment_rows:,} of {c.frame_rows:,} rows ({phrasing.rate(c.share)})"
            if c.status != "exact":
                body += f", {c.status}"
        flag = "  FLAG" if c.flagged else ""
        click.echo(f"{count}{c.code[:50]:<50}  {body}{flag}")
        for col, prof in (c.distributions or {}).items():
            if prof.mean is not None and prof.kind == "numeric":
                click.echo(f"      {col}: mean {prof.mean:.4g}, median {prof.quantiles['0.5']:.4g}, missing {prof.missing:,}")
            elif prof.top_values:
                tops = ", ".join(f"{v.value} {v.count:,}" for v in prof.top_values[:5])
                click.echo(f"      {col}: {tops}")


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("--cell", "cells", multiple=True, type=int, help="Only this cell (execution count); repeatable.")
@click.option("--model", default=None, help="'offline', or an init_chat_model string such as openai:gpt-4o-mini (default: settings).")
@click.option("--base-url", default=None, help="Base URL of an OpenAI-compatible server for --model.")
def explain(store, cells, model, base_url):
    """(Re)summarise the cells of STORE for domain experts, offline or with an LLM."""
    from .config import settings
    from .explain import explain_store
    from .store import Store

    if base_url:
        settings.explain_base_url = base_url
    path = Path(store)
    _open(path).close()  # the same one-line errors as `show` for a missing or broken store
    st = Store(path)
    try:
        for entry, ex in explain_store(st, model=model, cells=list(cells) or None):
            count = entry.execution_count if entry.execution_count is not None else " "
            click.echo(f"[{count}] ({ex.model}) {ex.summary}")
            if ex.note:
                click.echo(f"    note: {ex.note}")
    except CellsyncError as exc:
        raise _fail(exc) from None
    finally:
        st.close()


@main.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("question")
@click.option("--model", default=None, help="'offline' (default) or an init_chat_model string.")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def ask(store, question, model, as_json):
    """Answer QUESTION from what STORE recorded, citing cells."""
    from .config import settings
    from .explain.ask import ask as ask_store

    with _open(store) as st:
        try:
            answer = ask_store(st, question, model or settings.explain_model)
        except CellsyncError as exc:
            raise _fail(exc) from None
    click.echo(answer.to_json(indent=2) if as_json else answer.text)


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("--port", default=5006, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind; only local addresses without auth.")
@click.option("--read-only", is_flag=True, help="For stakeholders: no inputs that write; the store is opened read-only.")
@click.option("--title", default="CellSync", show_default=True, help="Title shown at the top of the page.")
@click.option("--basic-auth", default=None, help="A password file, a JSON file of {user: password}, or a password (default: $CELLSYNC_BASIC_AUTH).")
@click.option("--allow-unauthenticated", is_flag=True, help="Allow a non-local --address without --basic-auth.")
@click.option("--show", is_flag=True, help="Open the page in a browser.")
def serve(store, port, address, read_only, title, basic_auth, allow_unauthenticated, show):
    """Serve the dashboard over STORE (default http://127.0.0.1:5006)."""
    from .ui import serve as serve_dashboard

    try:
        serve_dashboard(store, port=port, address=address, read_only=read_only, title=title,
                        basic_auth=basic_auth, allow_unauthenticated=allow_unauthenticated, show=show,
                        on_ready=lambda url: click.echo(f"CellSync dashboard: {url}  (Ctrl+C to stop)", err=False))
    except CellsyncError as exc:
        raise _fail(exc) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("cellsync-report.html"), show_default=True,
              help="The HTML file to write.")
@click.option("--title", default="CellSync report", show_default=True, help="Title of the report.")
def export(store, output, title):
    """Write STORE as one self-contained HTML file that opens with no server and no internet."""
    from .ui import export as export_report

    try:
        path = export_report(store, output, title=title)
    except CellsyncError as exc:
        raise _fail(exc) from None
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@main.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path), default=Path("cellsync-demo"), show_default=True,
              help="Folder for the demo's data, notebooks and store.")
@click.option("--store", type=click.Path(path_type=Path), default=None, help="Store folder (default: DIR/.cellsync).")
@click.option("--port", default=5006, show_default=True, help="Port for the dashboard (0: any free port).")
@click.option("--rows", default=2000, show_default=True, help="Patients to generate.")
@click.option("--no-serve", is_flag=True, help="Build and replay only; do not start the dashboard.")
def demo(folder, store, port, rows, no_serve):
    """Generate the demo data and notebooks, replay the main one into a store, serve the dashboard."""
    from .demo import build
    from .replay import replay_notebook

    notebook = build(folder, rows)
    store = store or folder / ".cellsync"
    if store.exists():
        import shutil

        shutil.rmtree(store)  # a fresh story every time
    try:
        result = replay_notebook(notebook, store)
    except CellsyncError as exc:
        raise _fail(exc) from None
    click.echo(f"replayed {result.cells_run} cells of {notebook} into {store}")
    if no_serve:
        return
    from .ui import serve as serve_dashboard

    try:
        serve_dashboard(store, port=port, title="CellSync demo: patient cohort preparation",
                        on_ready=lambda url: click.echo(f"CellSync dashboard: {url}  (Ctrl+C to stop)"))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on port {port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("store", type=click.Path(path_type=Path), default=Path(".cellsync"))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--repair", is_flag=True,
              help="Remove data files no version references (a killed writer's leftovers) older than orphan_min_age.")
def status(store, as_json, repair):
    """Summarise STORE: sessions, cells, versions, size, problems."""
    if repair:
        from .store import Store

        _open(store).close()  # a missing or broken store: the same one line as without --repair
        try:
            with Store(store) as st:
                files, size = st.remove_leftovers()
        except CellsyncError as exc:
            raise _fail(exc) from None
        click.echo(f"repair: removed {files} leftover file(s), {size / 1e6:.2f} MB", err=as_json)
    with _open(store) as st:
        summary = st.summary()
        try:
            size = st.size_by_frame()
        except CellsyncError as exc:
            raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps({**summary, "size": size.to_dict()}, indent=2, default=str))
        return
    click.echo(f"store: {summary['path']}")
    click.echo(f"sessions: {summary['sessions']}  cells: {summary['cells']}  "
               f"versions: {summary['versions']}  frames: {summary['frames']}  "
               f"size: {summary['size_bytes'] / 1e6:.2f} MB")
    click.echo(f"size: database {_mb(size.database)}" + (f", unreferenced files {_mb(size.unreferenced)}"
                                                          if size.unreferenced else ""))
    for frame, n in sorted(size.frames.items(), key=lambda kv: (-kv[1], kv[0])):
        click.echo(f"  {frame}: {_mb(n)}")
    if summary["problems"]:
        for p in summary["problems"]:
            click.echo(f"problem {p['kind']} x{p['count']}: {p['message']}")
    else:
        click.echo("problems: none")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f} MB"


@main.command()
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--keep-last", type=click.IntRange(min=1), default=None,
              help="Keep the data of each frame's newest N versions; drop the older ones'.")
@click.option("--before", type=int, default=None,
              help="Drop the data of versions from cells before this one (the store's cell id: `id` in `show --json`).")
def prune(store, keep_last, before):
    """Drop old versions' data files from STORE; cells, profiles, diffs, impacts, flags and messages stay."""
    from .store import Store

    if (keep_last is None) == (before is None):
        raise click.UsageError("give one of --keep-last N or --before CELL")
    _open(store).close()  # a missing or broken store: the same one line as `status`
    try:
        with Store(store) as st:
            before_size = st.size_by_frame().total
            result = st.prune(keep_last=keep_last, before=before)
            after_size = st.size_by_frame().total
    except CellsyncError as exc:
        raise _fail(exc) from None
    click.echo(f"pruned the data of {result.versions_pruned} version(s); rewrote {result.versions_rewritten} kept "
               f"version(s) whole; removed {result.files_removed} file(s), {_mb(result.bytes_freed)}; "
               f"store {_mb(before_size)} -> {_mb(after_size)}")


if __name__ == "__main__":  # pragma: no cover
    main()

"""The dashboard beside the notebook, in JupyterLab's right-hand area.

The kernel serves the same `Dashboard` (compact layout) from a thread on 127.0.0.1, and the
sidecar shows it in an iframe. Why not render Panel inside the notebook: BokehJS and Panel's
scripts would then come from a CDN (blank offline) or be inlined into the saved notebook
(~6 MB), and "Run All" races BokehJS loading. An iframe of a local server has none of these
problems: the notebook keeps only a small widget reference, and the page loads its scripts
from the kernel's own server. Where no sidecar can be shown, one line gives the address.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path



class KernelServer:
    """The dashboard server this kernel runs (at most one: it serves one store, and a second
    store replaces the first). One per process, like the kernel it lives in."""

    def __init__(self):
        self.thread = None  # Panel's server thread
        self.url: str | None = None
        self.store: str | None = None

    def stop(self) -> None:
        if self.thread is not None:
            try:
                self.thread.stop()
            except Exception:
                pass
        self.thread = self.url = self.store = None


SERVER = KernelServer()


def in_jupyter_frontend() -> bool:
    """A kernel started by a Jupyter server (JupyterLab, Notebook 7), not nbclient, Voila or a
    terminal; and not VS Code, which may set JPY_SESSION_NAME too but has no side area (it
    marks its kernels with `__vsc_ipynb_file__` in the user's namespace)."""
    if not (os.environ.get("JPY_SESSION_NAME") and "ipykernel" in sys.modules):
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is None or "__vsc_ipynb_file__" not in shell.user_ns
    except Exception:
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_url(store: str | Path, title: str = "CellSync") -> str:
    """Serve the dashboard for `store` from a thread in this process (once per store)."""
    import panel as pn

    from .ui import Dashboard

    store = str(Path(store).resolve())
    if SERVER.url and SERVER.store == store:
        return SERVER.url
    stop_server()
    port = _free_port()

    from .chat import default_name
    from .config import settings

    def app():
        compact = pn.state.session_args.get("compact", [b"0"])[0] == b"1"
        # the page beside the notebook is the data scientist's: replies are theirs
        return Dashboard(store=store, title=title, compact=compact, role="data_scientist",
                         user_name=settings.user_name or default_name())

    # no pn.extension() here: in a kernel it would display Panel's loader into the notebook
    # (scripts from a CDN, megabytes in the saved file); the served page loads its own.
    # The timeline's Tabulator is not on the first tab (the overview is), so its model is
    # imported before the first page is built, or the page would lack Tabulator's script
    import panel.models.tabulator  # noqa: F401
    thread = pn.serve(
        {"/": app}, port=port, address="127.0.0.1",
        websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"],
        show=False, threaded=True, start=True, verbose=False, title=title,
    )
    wait_for_port(port)  # the address printed (or put in the iframe) answers at once
    try:
        # the server thread's library calls must not change the notebook's warning filters
        from . import quiet

        quiet.install()
        thread.asyncio_loop.call_soon_threadsafe(quiet.mark_current_thread)
    except Exception:
        pass
    SERVER.thread, SERVER.url, SERVER.store = thread, f"http://127.0.0.1:{port}/", store
    return SERVER.url


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    """Wait (briefly) until something listens on 127.0.0.1:port, e.g. a server thread that
    binds its port a moment after it starts. True if it answered in time."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def stop_server() -> None:
    SERVER.stop()


# Listens, in the JupyterLab page, for the sidecar asking to select a cell by its execution
# count, and selects the notebook cell showing that count (if it still exists). Only messages
# from the sidecar's own server are heeded. A few hundred bytes in the saved notebook.
SELECT_CELL_JS = """
(function () {
  if (window.__cellsyncSelect) { window.removeEventListener('message', window.__cellsyncSelect); }
  window.__cellsyncSelect = function (event) {
    if (event.origin !== '%(origin)s' || !event.data || event.data.type !== 'cellsync:select-cell') { return; }
    const wanted = '[' + event.data.count + ']:';
    for (const cell of document.querySelectorAll('.jp-Notebook .jp-CodeCell')) {
      const prompt = cell.querySelector('.jp-InputPrompt');
      if (prompt && prompt.textContent.trim() === wanted) {
        cell.scrollIntoView({block: 'center'});
        prompt.dispatchEvent(new MouseEvent('mousedown', {bubbles: true}));
        prompt.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
        prompt.click();
        return;
      }
    }
  };
  window.addEventListener('message', window.__cellsyncSelect);
})();
"""


def open_sidecar(store: str | Path, title: str = "CellSync", height: int = 1000) -> str:
    """Show the dashboard in JupyterLab's side area; elsewhere, print where to open it."""
    url = dashboard_url(store, title)
    if not in_jupyter_frontend():
        # VS Code, Voila, nbclient, a terminal: no JupyterLab side area to fill (and a
        # sidecar widget there shows nothing or a "widget not found"); the address is served
        # from this kernel all the same
        print(f"CellSync: the dashboard is at {url} (served from this kernel while it runs)")
        return url
    try:
        from IPython.display import IFrame, Javascript, display
        from sidecar import Sidecar
    except ImportError:
        print(f"CellSync: the dashboard is at {url} (install `sidecar` to see it beside the notebook)")
        return url
    panel = Sidecar(title=title, anchor="split-right")
    with panel:
        display(IFrame(url + "?compact=1", width="100%", height=height))
    display(Javascript(SELECT_CELL_JS % {"origin": url.rstrip("/")}))
    # the line is true in every Jupyter frontend, whether it has a side area (JupyterLab) or
    # not (Notebook 7 puts the sidecar in its own tab, or nowhere)
    print(f"CellSync: the dashboard is at {url} (beside the notebook in JupyterLab) · cellsync.sidecar() reopens it")
    return url

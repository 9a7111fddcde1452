"""`cellsync serve`: the dashboard on a Panel server, with a Content-Security-Policy on every
response and authentication required off localhost."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import panel as pn

from ..errors import CellsyncError
from ..store import Store, open_store
from .dashboard import Dashboard

LOCAL = {"127.0.0.1", "localhost", "::1"}

# Sent with every page `cellsync serve` answers: the browser itself refuses any load from
# another origin (an image in a message, a font, a script), whatever the page holds.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self' blob: data:; object-src 'none'; base-uri 'self'; form-action 'self'"
)


def _add_security_headers(server) -> None:
    """A Tornado output transform on the Bokeh application: one header on every response."""
    from tornado.web import OutputTransform

    class SecurityHeaders(OutputTransform):
        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["X-Content-Type-Options"] = "nosniff"
            headers["Referrer-Policy"] = "no-referrer"
            return status_code, headers, chunk

    server._tornado.add_transform(SecurityHeaders)


def basic_auth_setting(value: str | None, environ=None) -> str | None:
    """What `--basic-auth` (or CELLSYNC_BASIC_AUTH) means: a JSON file of {user: password}
    (passed on as a path), a file holding one password (kept out of `ps`), or a password. A
    value shaped like a path that is not a file is an error, not a password."""
    environ = os.environ if environ is None else environ
    if value is None:
        value = environ.get("CELLSYNC_BASIC_AUTH") or None
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        try:
            users = json.loads(text)
        except ValueError:
            users = None
        if isinstance(users, dict):
            return str(path)
        password = text.strip()
        if not password:
            raise CellsyncError(f"--basic-auth {value}: the file is empty")
        return password
    if "/" in value or "\\" in value or value.startswith(("~", ".")) or value.endswith((".json", ".txt")):
        raise CellsyncError(f"--basic-auth {value}: no such file (give a password file, a JSON file of "
                            "{user: password}, or set CELLSYNC_BASIC_AUTH)")
    return value


def serve(store: str | Path, port: int = 5006, address: str = "127.0.0.1", read_only: bool = False,
          title: str = "CellSync", basic_auth: str | None = None, allow_unauthenticated: bool = False,
          show: bool = False, on_ready=None):
    """Serve the dashboard until interrupted. Refuses a non-local address without auth."""
    open_store(store).close()  # a missing or broken store is one clear error, before binding
    basic_auth = basic_auth_setting(basic_auth)
    if address not in LOCAL and not basic_auth and not allow_unauthenticated:
        raise CellsyncError(
            f"refusing to serve on {address} without authentication: give --basic-auth FILE, "
            "or --allow-unauthenticated if this network is trusted"
        )
    if not read_only:
        Store(store).close()  # bring an older store's schema up to date (read-only never writes)
    pn.extension("tabulator", design="native")
    # a closed tab keeps its session for a few seconds, and Bokeh warns about every update it
    # could not deliver meanwhile: noise in the console of a server that runs all day
    logging.getLogger("bokeh.server.views.ws").setLevel(logging.ERROR)
    store = str(Path(store).resolve())

    def app():
        return Dashboard(store=store, read_only=read_only, title=title)

    kwargs = {}
    if basic_auth:
        import secrets

        kwargs.update(basic_auth=basic_auth, cookie_secret=secrets.token_hex(16))
    origins = [f"{address}:{port}"] + ([f"localhost:{port}", f"127.0.0.1:{port}"] if address in LOCAL else [])
    server = pn.serve({"/": app}, port=port, address=address, websocket_origin=origins, show=show,
                      start=False, title=title, verbose=False, **kwargs)
    _add_security_headers(server)
    if on_ready:
        on_ready(f"http://{address}:{server.port}/")
    server.start()
    server.io_loop.start()

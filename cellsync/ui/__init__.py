"""The dashboard: Panel components over a store, for the server, the read-only view, the
export and the sidecar.

No business logic lives here: every number comes from `Store` queries and every sentence
about data from `cellsync.phrasing`; HTML is built and escaped in `ui.html` alone. One
`DashboardState` per page owns the store connection and the poller; each component
(`Timeline`, `CellView`, `FrameCard`, `Discussion`, `Segments`, `Metrics`, `Feedback`) is a
`Viewer` that receives that state as a param and reacts to its params. See
docs/ARCHITECTURE.md, "The dashboard".
"""

from ..phrasing import badges
from .charts import distribution_chart, histogram_chart
from .dashboard import Dashboard
from .export import export, inline_panel_assets
from .html import render_markdown
from .server import CONTENT_SECURITY_POLICY, basic_auth_setting, serve
from .state import DashboardState
from .timeline import first_line, timeline_row

__all__ = [
    "CONTENT_SECURITY_POLICY", "Dashboard", "DashboardState", "badges", "basic_auth_setting", "distribution_chart",
    "export", "first_line", "histogram_chart", "inline_panel_assets", "render_markdown", "serve", "timeline_row",
]

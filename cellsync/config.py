"""One settings object for the whole package, with CELLSYNC_* environment overrides.

`cellsync.settings.persist_data = False` in a notebook, or `CELLSYNC_PERSIST_DATA=0` in the
environment of the kernel, both work; the environment is read once at import.
"""

from __future__ import annotations

import os

import param

from .errors import SettingsError


class Settings(param.Parameterized):
    store = param.String(
        default=None,
        allow_None=True,
        doc="Store folder. None: `.cellsync/` beside the notebook (or the working directory).",
    )
    persist_data = param.Boolean(
        default=True,
        doc="Persist each version's data (Parquet column files) so any process can rebuild "
        "it. False keeps aggregates only (profiles and diffs).",
    )
    max_persist_rows = param.Integer(
        default=2_000_000,
        bounds=(1, None),
        doc="Above this many rows a version is persisted as a seeded sample of this size, "
        "labelled as sampled.",
    )
    max_store_mb = param.Number(
        default=2000.0,
        bounds=(0, None),
        doc="Store budget in MB (database and data files). Past it, new versions keep their "
        "profile and diff and a seeded sample of budget_sample_rows rows instead of their full "
        "data, and say so in their note. 0: no budget.",
    )
    budget_sample_rows = param.Integer(
        default=10_000,
        bounds=(1, None),
        doc="Rows of the seeded sample a version keeps once the store is past max_store_mb.",
    )
    sample_seed = param.Integer(default=0, doc="Seed for every sample CellSync draws.")
    histogram_bins = param.Integer(default=30, bounds=(1, 30), doc="Histogram bins per column.")
    top_values = param.Integer(default=20, bounds=(1, 1000), doc="Value counts kept per column.")
    exact_unique_max_rows = param.Integer(
        default=200_000,
        bounds=(0, None),
        doc="Distinct counts are exact up to this many rows and a labelled HyperLogLog "
        "estimate above it.",
    )
    profile_threads = param.Integer(
        default=2,
        bounds=(1, 64),
        doc="Threads that profile and write the columns of a large frame (100,000+ rows) in "
        "parallel, in the background. 1 keeps CellSync to one core.",
    )
    max_profile_columns = param.Integer(
        default=2_000,
        bounds=(1, None),
        doc="Columns beyond this many are recorded as 'not profiled: too many columns'.",
    )
    full_version_every = param.Integer(
        default=8,
        bounds=(1, None),
        doc="A version stored as a delta on its parent is written whole again when its "
        "chain of deltas reaches this length, so rebuilding stays fast.",
    )
    track_series = param.Boolean(default=True, doc="Track named Series as well as DataFrames.")
    capture_metrics = param.Boolean(
        default=True, doc="Capture metric-like variables and fitted estimators after each cell."
    )
    max_suggested_segments = param.Integer(
        default=40, bounds=(0, 1000), doc="At most this many segments are suggested per frame."
    )
    segment_max_values = param.Integer(
        default=12, bounds=(1, 100),
        doc="A column with at most this many distinct values gets one suggested segment per value.",
    )
    flag_ratio = param.Number(
        default=2.0, bounds=(1, None),
        doc="Flag a cell when a segment loses rows at this many times the overall rate...",
    )
    flag_min_points = param.Number(
        default=0.05, bounds=(0, 1),
        doc="...and at least this much more (0.05 = 5 percentage points) than overall.",
    )
    sidecar = param.Boolean(
        default=True,
        doc="Open the dashboard beside the notebook when the extension loads in JupyterLab.",
    )
    user_name = param.String(
        default=None, allow_None=True,
        doc="Your name on messages you send from the notebook (default: the OS user name).",
    )
    explain_model = param.String(
        default="offline",
        doc="Who writes cell summaries: 'offline' (no network), or an init_chat_model string "
        "such as 'openai:gpt-4o-mini' or 'ollama:llama3.1'.",
    )
    explain_sample_values = param.Boolean(
        default=False,
        doc="Let a few example values of changed columns into the facts an LLM sees. Off: "
        "aggregates only, no row values leave the machine.",
    )
    explain_base_url = param.String(
        default=None, allow_None=True,
        doc="Base URL of an OpenAI-compatible server (Ollama, vLLM, llama.cpp) for explain_model.",
    )
    explain_timeout = param.Number(
        default=30.0, bounds=(1, None), doc="Seconds an LLM may take per summary before the offline one stays."
    )
    flag_min_rows = param.Integer(
        default=20, bounds=(1, None),
        doc="...and only for segments of at least this many rows before the cell.",
    )
    flush_on_exit_timeout = param.Number(
        default=30.0, bounds=(0, None), doc="Seconds to wait for queued work at kernel exit."
    )
    announce_problems = param.Boolean(
        default=True,
        doc="Print one short line (no stack) under the cell after which CellSync first met a kind of "
            "problem of its own; details go to the store's cellsync.log and `%cellsync status`.",
    )
    snapgrid_duckdb_rows = param.Integer(
        default=1_000_000,
        bounds=(0, None),
        doc="SnapGrid reads a frame whose largest version has at least this many rows through "
        "DuckDB over the store's Parquet files, when duckdb and polars are installed "
        "(`cellsync[engines]`); smaller frames, or without them, through pandas. Same answers. "
        "0: always DuckDB.",
    )
    # --- engines (polars, Spark): cellsync/engines, docs/engines.md ---
    spark_sample_rows = param.Integer(
        default=100_000, bounds=(0, None),
        doc="Rows of the seeded sample of each Spark version kept in the store (histograms, top values, SnapGrid).",
    )
    spark_sample_values = param.Integer(
        default=20_000_000, bounds=(1, None),
        doc="At most this many values (rows x columns) in a Spark version's sample: a wide frame keeps "
            "fewer rows (never under 100), so the sample's Arrow transfer stays in the driver's memory "
            "(20,000,000 doubles: 160 MB).",
    )
    spark_time_budget = param.Number(
        default=60.0, bounds=(1, None),
        doc="Seconds CellSync's Spark jobs may take per version; past it they are cancelled and the version says so.",
    )
    spark_row_key = param.String(
        default="",
        doc="Columns that identify a row of the notebook's Spark frames (comma-separated, e.g. 'id'). "
            "When set, a Spark version that is not a plain filter has its rows removed and added counted "
            "exactly by joining it with its parent on these columns: one more Spark job per version, so "
            "off by default. Used only where the key is unique and never missing in both versions; "
            "otherwise the version keeps net counts and says why.",
    )
    spark_pool = param.String(
        default="cellsync", doc="Spark scheduler pool of CellSync's jobs (takes effect with spark.scheduler.mode=FAIR).",
    )
    busy_timeout = param.Number(
        default=30.0, bounds=(0.1, None),
        doc="Seconds a writer waits for another process's lock on the store (opening included) "
            "before it gives up with 'store busy'.",
    )
    orphan_min_age = param.Number(
        default=600.0, bounds=(0, None),
        doc="Seconds a data file must be old before a new session (or `cellsync status --repair`) "
            "removes it as a leftover no version references; younger ones may be another writer's.",
    )
    max_value_chars = param.Integer(
        default=200, bounds=(8, None),
        doc="Longest text kept from one value in profiles (top values, min/max) and suggested "
            "segments; longer values are cut and marked.",
    )
    profile_secret_columns = param.Boolean(
        default=False,
        doc="Profile columns named like secrets (password, token, ssn, ...) in full. Off: counts "
            "only (no values, no samples), and their data is not persisted.",
    )


_ENV_PREFIX = "CELLSYNC_"


def _coerce(p: param.Parameter, raw: str):
    if isinstance(p, param.Boolean):
        low = raw.strip().lower()
        if low in {"1", "true", "yes", "on"}:
            return True
        if low in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"expected a boolean (1/0, true/false), got {raw!r}")
    if isinstance(p, param.Integer):
        return int(raw.replace("_", ""))
    if isinstance(p, param.Number):
        return float(raw)
    return raw


def apply_environment(target: Settings, environ=None) -> None:
    """Set every param that has a CELLSYNC_<NAME> variable. Bad values raise SettingsError."""
    environ = os.environ if environ is None else environ
    for name, p in target.param.objects("existing").items():
        if name == "name":
            continue
        raw = environ.get(_ENV_PREFIX + name.upper())
        if raw is None or raw == "":
            continue
        try:
            setattr(target, name, _coerce(p, raw))
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{_ENV_PREFIX}{name.upper()}={raw!r}: {exc}") from None


settings = Settings(name="cellsync")
try:
    apply_environment(settings)
except SettingsError as _exc:  # a bad variable must not make `import cellsync` fail
    import warnings

    warnings.warn(f"cellsync: ignoring environment setting: {_exc}", stacklevel=2)

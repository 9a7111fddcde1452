"""Named exceptions. Every error CellSync raises on purpose derives from `CellsyncError`,
so callers (the CLI, the extension) can turn it into one line without a traceback."""


class CellsyncError(Exception):
    """Base class of every error CellSync raises on purpose."""


class StoreError(CellsyncError):
    """A store cannot be used as asked."""


class StoreNotFound(StoreError):
    """No store exists at the given path (and we were asked not to create one)."""


class StoreCorrupt(StoreError):
    """The path exists but is not a readable CellSync store."""


class StoreTooNew(StoreError):
    """The store was written by a newer CellSync with a schema this version does not know."""


class StoreReadOnly(StoreError):
    """A write was attempted on a store opened read-only."""


class VersionDataUnavailable(StoreError):
    """A version's data was not persisted (opt-out, sampling or a failed write)."""


class NotebookNotFound(CellsyncError):
    """The notebook to replay does not exist or is not a notebook."""


class ReplayError(CellsyncError):
    """Running a notebook failed (a cell raised and errors were not allowed)."""


class SettingsError(CellsyncError):
    """A setting or CELLSYNC_* environment variable has a value that cannot be used."""

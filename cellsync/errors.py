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


class StoreNotWritable(StoreError):
    """The store's folder or database cannot be written (a read-only folder or file system):
    it can still be opened read-only."""


class StoreBusy(StoreError):
    """Another connection held the store's lock for longer than the busy timeout. The store
    is fine; trying again later works."""


class VersionDataUnavailable(StoreError):
    """A version's data was not persisted (opt-out, sampling or a failed write)."""


class VersionDataUnreadable(VersionDataUnavailable):
    """A version's data was persisted but a file of it cannot be read (damaged or truncated)."""


class VersionDataPruned(VersionDataUnavailable):
    """A version's data was dropped by `cellsync prune`; its profile and diff are kept."""


class StoreInUse(StoreError):
    """A running kernel is recording into the store, and the operation (`cellsync prune`)
    must not run beside it."""


class NotebookNotFound(CellsyncError):
    """The notebook to replay does not exist or is not a notebook."""


class ReplayError(CellsyncError):
    """Running a notebook failed (a cell raised and errors were not allowed)."""


class SettingsError(CellsyncError):
    """A setting or CELLSYNC_* environment variable has a value that cannot be used."""

"""Version data: each version of a frame persisted so any process can rebuild it.

A version is stored either whole (every column as a Parquet file named by a hash of its
content, so a column seen before is never written twice) or as a delta on its parent: the
parent's rows to take (positions), the parent's columns that did not change on those rows,
and files for the columns that did. A filter on a million-row frame then costs a vector of
positions plus the changed columns, not a rewrite. A chain of deltas is cut by a full write
every `settings.full_version_every` versions so rebuilding stays fast.

- `records.py`   `DataPlan`, `ColumnRef`, `IndexRef`; labels as JSON
- `files.py`     `ColumnFiles`: content-addressed Parquet column files
- `encoding.py`  lossless column encodings (objects and nested values tagged by type)
- `write.py`     `persist`: whole or as a delta
- `read.py`      `rebuild`
"""

from .encoding import NotPersistable, decode_column, encode_column
from .files import ColumnFiles
from .read import NOT_PERSISTED, NOT_PERSISTED_POSITIONS, rebuild
from .records import ColumnRef, DataPlan, IndexRef, decode_label, encode_label, plan_file_keys
from .write import persist

__all__ = ["NOT_PERSISTED", "NOT_PERSISTED_POSITIONS", "ColumnFiles", "ColumnRef", "DataPlan", "IndexRef",
           "NotPersistable", "decode_column", "decode_label", "encode_column", "encode_label", "persist",
           "plan_file_keys", "rebuild"]

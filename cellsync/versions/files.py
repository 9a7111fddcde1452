"""`ColumnFiles`: the store's content-addressed Parquet column files (written once, read by
key, cached)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import VersionDataUnavailable, VersionDataUnreadable
from .records import ColumnRef
from .encoding import decode_column, encode_column, NotPersistable



# --- files ---------------------------------------------------------------------------------


class ColumnFiles:
    """Content-addressed column files under `<store>/data/`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def write_series(self, s: pd.Series) -> tuple[ColumnRef, int]:
        """Write a column once (content-keyed); return how to read it back and the bytes
        written now. A column no encoding keeps exactly is returned as `encoding="none"` with
        a "not persisted: <reason>" note, never approximated."""
        try:
            table, encoding, meta, written = encode_column(s, self)
        except NotPersistable as exc:
            return ColumnRef(label=None, encoding="none", dtype=str(s.dtype), note=f"not persisted: {exc}"), 0
        key = _table_key(table, encoding, str(s.dtype), meta)
        ref = ColumnRef(label=None, key=key, encoding=encoding, dtype=str(s.dtype), meta=meta)
        path = self._path(key, ".parquet")
        if path.exists():
            self.touch(path)
            return ref, written
        return ref, written + self._atomic(path, lambda tmp: pq.write_table(table, tmp))

    def read_series(self, key: str | ColumnRef) -> pd.Series:
        ref = key if isinstance(key, ColumnRef) else ColumnRef(label=None, key=key)
        path = self._path(ref.key, ".parquet")
        if not path.exists():
            raise VersionDataUnavailable(f"column file {ref.key} is missing from the store")
        table = self._read(path, lambda: pq.read_table(path))
        return self._read(path, lambda: decode_column(table, ref, self))

    def _read(self, path: Path, read):
        """A damaged file (truncated by a full disk, overwritten) is one named error, which a
        caller shows for that version only, never an ArrowInvalid traceback."""
        try:
            return read()
        except (pa.ArrowException, OSError, ValueError, KeyError, EOFError) as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            rel = path.relative_to(self.root.parent) if self.root.parent in path.parents else path
            raise VersionDataUnreadable(f"file {rel} is unreadable ({type(exc).__name__}: {first})") from None

    def touch(self, path: Path) -> None:
        """A file reused by a new version is young again, so a leftover sweep never takes it
        between this writer finding it and committing the version that needs it."""
        try:
            os.utime(path)
        except OSError:
            pass

    def write_positions(self, positions: np.ndarray, n_parent: int) -> tuple[str, int]:
        """Row positions into the parent. A filter (increasing positions, nothing added) is
        stored as a bit per parent row: 125 KB for a million rows instead of 8 MB."""
        positions = np.ascontiguousarray(positions, dtype=np.int64)
        increasing = len(positions) == 0 or (
            positions[0] >= 0 and bool(np.all(np.diff(positions) > 0)) and positions[-1] < n_parent
        )
        if increasing:
            mask = np.zeros(n_parent, dtype=bool)
            mask[positions] = True
            positions = np.packbits(mask)  # uint8: read back as a mask
        elif len(positions) and positions.max() < 2**31:
            positions = positions.astype(np.int32)  # a sort or sample: half the bytes of int64
        key = hashlib.blake2b(positions.tobytes() + str(positions.dtype).encode(), digest_size=16).hexdigest()
        path = self._path(key, ".npy")
        if path.exists():
            self.touch(path)
            return key, 0
        return key, self._atomic(path, lambda tmp: np.save(tmp, positions, allow_pickle=False))

    def read_positions(self, key: str, n_parent: int) -> np.ndarray:
        stored = self.read_stored_positions(key)
        if stored.dtype == np.uint8:
            return np.flatnonzero(np.unpackbits(stored, count=n_parent)).astype(np.int64)
        return stored.astype(np.int64, copy=False)

    def read_stored_positions(self, key: str) -> np.ndarray:
        """The row file as written: a packed bitmask (uint8, `np.packbits` order) of a filter,
        or int32/int64 positions."""
        path = self._path(key, ".npy")
        if not path.exists():
            raise VersionDataUnavailable(f"row file {key} is missing from the store")
        return self._read(path, lambda: np.load(path, allow_pickle=False))

    def parquet_path(self, key: str) -> Path:
        """Where a column file is (for readers that scan Parquet themselves: DuckDB)."""
        return self._path(key, ".parquet")

    def leftovers(self, referenced: set[str], min_age: float) -> list[Path]:
        """Files no committed version references (a killed writer's columns) and temporary
        files, older than `min_age` seconds: younger ones may belong to a writer at work."""
        if not self.root.is_dir():
            return []
        cutoff = time.time() - min_age
        out = []
        for path in self.root.glob("*/*"):
            if path.suffix == ".tmp" or (path.suffix in (".parquet", ".npy") and path.stem not in referenced):
                try:
                    if path.stat().st_mtime <= cutoff:
                        out.append(path)
                except OSError:
                    pass
        return out

    def remove_leftovers(self, referenced: set[str], min_age: float) -> tuple[int, int]:
        """Remove what `leftovers` finds; (files, bytes) removed. Each file's age is checked
        again right before it goes, in case a writer reused it meanwhile (see `touch`)."""
        return self._remove_untouched(self.leftovers(referenced, min_age), time.time() - min_age)

    def remove_keys(self, keys: set[str], not_after: float) -> tuple[int, int]:
        """Remove the files of `keys`; (files, bytes) removed. A file modified after
        `not_after` is left: a writer reused it meanwhile (see `touch`) for a version that
        will need it."""
        return self._remove_untouched(
            (self._path(key, suffix) for key in keys for suffix in (".parquet", ".npy")), not_after)

    @staticmethod
    def _remove_untouched(paths, cutoff: float) -> tuple[int, int]:
        files = size = 0
        for path in paths:
            try:
                st = path.stat()
                if st.st_mtime > cutoff:
                    continue
                path.unlink()
            except OSError:
                continue
            files += 1
            size += st.st_size
        return files, size

    def _atomic(self, path: Path, write) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            if str(path).endswith(".npy"):
                with open(tmp, "wb") as fh:
                    write(fh)
            else:
                write(tmp)
            size = os.path.getsize(tmp)
            os.replace(tmp, path)  # readers never see half a file
            return size
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _table_key(table: pa.Table, encoding: str, dtype: str, meta: dict | None) -> str:
    """The file's name: a hash of exactly what it holds and how to read it."""
    import json

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{encoding}|{dtype}|{json.dumps(meta, sort_keys=True, default=str)}|{table.schema}".encode())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    h.update(memoryview(sink.getvalue()))
    return h.hexdigest()

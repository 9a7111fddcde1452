"""Version data: each version of a frame persisted so any process can rebuild it.

A version is stored either whole (every column as a Parquet file named by a hash of its
content, so a column seen before is never written twice) or as a delta on its parent: the
parent's rows to take (positions), the parent's columns that did not change on those rows,
and files for the columns that did. A filter on a million-row frame then costs a vector of
positions plus the changed columns, not a rewrite. A chain of deltas is cut by a full write
every `settings.full_version_every` versions so rebuilding stays fast.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .config import Settings
from .errors import VersionDataUnavailable, VersionDataUnreadable
from .records import Record


@dataclass(frozen=True)
class ColumnRef(Record):
    label: Any  # encoded label (see encode_label)
    key: str | None = None  # column file, or
    parent: int | None = None  # position of the same column in the base version
    as_text: bool = False  # the values could not be stored natively and are kept as text


@dataclass(frozen=True)
class IndexRef(Record):
    kind: str  # range | levels | base (the base version's labels of the kept rows)
    start: int = 0
    stop: int = 0
    step: int = 1
    keys: tuple[str, ...] = ()
    names: tuple[Any, ...] = ()  # encoded level names
    columns_names: tuple[Any, ...] = ()  # encoded names of the column axis


@dataclass(frozen=True)
class DataPlan(Record):
    kind: str  # full | delta | none
    rows: int = 0
    base: str | None = None  # parent version id (delta)
    depth: int = 0  # deltas between this version and a full one
    parent_rows: str | None = None  # key of positions into the parent (-1: added row)
    parent_count: int | None = None  # rows of the parent, to read a bitmask of positions
    columns: tuple[ColumnRef, ...] = ()
    index: IndexRef | None = None
    column_levels: int = 1
    sampled: bool = False  # rows are a seeded sample of the frame (see sample_of)
    sample_of: int | None = None  # the frame's real row count when sampled
    note: str | None = None
    bytes_written: int = 0


def plan_file_keys(plan: DataPlan) -> set[str]:
    """Every data file a plan needs (columns, index levels, row positions)."""
    keys = {ref.key for ref in plan.columns if ref.key}
    if plan.index is not None:
        keys.update(plan.index.keys)
    if plan.parent_rows:
        keys.add(plan.parent_rows)
    return keys


# --- labels --------------------------------------------------------------------------------


def encode_label(label: Any) -> Any:
    if isinstance(label, bool) or label is None:
        return {"b": label}
    if isinstance(label, (int, np.integer)):
        return {"i": int(label)}
    if isinstance(label, (float, np.floating)):
        return {"f": float(label)}
    if isinstance(label, str):
        return label
    if isinstance(label, tuple):
        return {"t": [encode_label(x) for x in label]}
    return {"r": str(label)}  # timestamps and other objects come back as their text


def decode_label(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "t" in value:
            return tuple(decode_label(x) for x in value["t"])
        for tag in ("b", "i", "f", "r"):
            if tag in value:
                return value[tag]
    return value


# --- files ---------------------------------------------------------------------------------


class ColumnFiles:
    """Content-addressed column files under `<store>/data/`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / key[:2] / f"{key}{suffix}"

    def write_series(self, s: pd.Series) -> tuple[str, bool, int]:
        """Write a column once; return (key, stored_as_text, bytes written now)."""
        as_text = False
        try:
            table = pa.Table.from_pandas(s.to_frame("v"), preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            s = s.map(lambda v: None if v is None else repr(v)).astype(object)
            table = pa.Table.from_pandas(s.to_frame("v"), preserve_index=False)
            as_text = True
        key = _content_key(s, extra=str(table.schema))
        path = self._path(key, ".parquet")
        if path.exists():
            self.touch(path)
            return key, as_text, 0
        return key, as_text, self._atomic(path, lambda tmp: pq.write_table(table, tmp))

    def read_series(self, key: str) -> pd.Series:
        path = self._path(key, ".parquet")
        if not path.exists():
            raise VersionDataUnavailable(f"column file {key} is missing from the store")
        return self._read(path, lambda: pq.read_table(path).to_pandas()["v"])

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
        path = self._path(key, ".npy")
        if not path.exists():
            raise VersionDataUnavailable(f"row file {key} is missing from the store")
        stored = self._read(path, lambda: np.load(path, allow_pickle=False))
        if stored.dtype == np.uint8:
            return np.flatnonzero(np.unpackbits(stored, count=n_parent)).astype(np.int64)
        return stored.astype(np.int64, copy=False)

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
        files = size = 0
        cutoff = time.time() - min_age
        for path in self.leftovers(referenced, min_age):
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


def _content_key(s: pd.Series, extra: str = "") -> str:
    from .diff import row_hashes

    h = hashlib.blake2b(digest_size=16)
    h.update(f"{s.dtype}|{len(s)}|{extra}".encode())
    h.update(row_hashes(s.to_frame()).tobytes())
    return h.hexdigest()


# --- writing -------------------------------------------------------------------------------


def persist(
    files: ColumnFiles,
    frame: pd.DataFrame,
    cfg: Settings,
    parent: DataPlan | None = None,
    parent_id: str | None = None,
    parent_positions: np.ndarray | None = None,
    same_columns: dict[int, int] | None = None,
    same_index: bool = False,
) -> DataPlan:
    """Persist one version and return how to rebuild it.

    parent_positions: for each row of `frame`, its position in the parent version (-1: added).
    same_columns: frame column position -> parent column position, for columns whose values
    on the kept rows equal the parent's (from the diff).
    same_index: the row labels are the parent's labels of the kept rows (from the diff).
    """
    if not cfg.persist_data:
        return DataPlan(kind="none", rows=len(frame), note="persist_data is off")
    written = 0
    parent_rows = None
    if parent_positions is not None:
        n_parent = parent.rows if parent is not None and not parent.sampled else (
            int(parent_positions.max()) + 1 if len(parent_positions) else 0
        )
        parent_rows, n = files.write_positions(parent_positions, n_parent)
        written += n

    can_delta = (
        parent is not None
        and parent.kind in ("full", "delta")
        and not parent.sampled
        and parent_positions is not None
        and len(frame) <= cfg.max_persist_rows
        and bool((parent_positions >= 0).all())
        and parent.depth + 1 < cfg.full_version_every
    )
    if can_delta:
        same_columns = same_columns or {}
        refs = []
        for j in range(frame.shape[1]):
            label = encode_label(frame.columns[j])
            if j in same_columns:
                refs.append(ColumnRef(label=label, parent=same_columns[j]))
            else:
                key, as_text, n = files.write_series(frame.iloc[:, j])
                written += n
                refs.append(ColumnRef(label=label, key=key, as_text=as_text))
        if same_index and not isinstance(frame.index, pd.RangeIndex):
            index, n = IndexRef(kind="base", columns_names=tuple(encode_label(x) for x in frame.columns.names)), 0
        else:
            index, n = _write_index(files, frame)
        written += n
        return DataPlan(
            kind="delta",
            rows=len(frame),
            base=parent_id,
            depth=parent.depth + 1,
            parent_rows=parent_rows,
            parent_count=n_parent,
            columns=tuple(refs),
            index=index,
            column_levels=frame.columns.nlevels,
            bytes_written=written,
        )

    sampled, sample_of = False, None
    if len(frame) > cfg.max_persist_rows:
        rng = np.random.default_rng(cfg.sample_seed)
        take = np.sort(rng.choice(len(frame), cfg.max_persist_rows, replace=False))
        sample_of = len(frame)
        frame = frame.iloc[take]
        sampled = True
    refs = []
    for j in range(frame.shape[1]):
        key, as_text, n = files.write_series(frame.iloc[:, j])
        written += n
        refs.append(ColumnRef(label=encode_label(frame.columns[j]), key=key, as_text=as_text))
    index, n = _write_index(files, frame)
    written += n
    return DataPlan(
        kind="full",
        rows=len(frame),
        base=parent_id,
        parent_rows=parent_rows,
        parent_count=n_parent if parent_positions is not None else None,
        columns=tuple(refs),
        index=index,
        column_levels=frame.columns.nlevels,
        sampled=sampled,
        sample_of=sample_of,
        note=f"seeded sample of {len(frame):,} of {sample_of:,} rows" if sampled else None,
        bytes_written=written,
    )


def _write_index(files: ColumnFiles, frame: pd.DataFrame):
    idx = frame.index
    col_names = tuple(encode_label(n) for n in frame.columns.names)
    if isinstance(idx, pd.RangeIndex):
        return IndexRef(
            kind="range",
            start=idx.start,
            stop=idx.stop,
            step=idx.step,
            names=(encode_label(idx.name),),
            columns_names=col_names,
        ), 0
    keys, written = [], 0
    for level in range(idx.nlevels):
        values = idx.get_level_values(level)
        key, _, n = files.write_series(pd.Series(values, copy=False))
        keys.append(key)
        written += n
    return IndexRef(
        kind="levels",
        keys=tuple(keys),
        names=tuple(encode_label(n) for n in idx.names),
        columns_names=col_names,
    ), written


# --- reading -------------------------------------------------------------------------------


def rebuild(
    files: ColumnFiles, plan: DataPlan, load_plan, positions: list[int] | None = None, cache: dict | None = None,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rebuild a version's frame, or only the columns at `positions` (reading no other column
    file anywhere down the delta chain). `load_plan(version_id)` returns a base's DataPlan;
    `cache` (optional) shares rebuilt bases between calls, e.g. across a SnapGrid query.
    `rows` (positions of this version's rows) builds only those rows: each level of the chain
    then gathers a handful of rows instead of all of them (the first rows a filter removed)."""
    if plan.kind == "none":
        raise VersionDataUnavailable(plan.note or "this version's data was not persisted")
    wanted = list(range(len(plan.columns))) if positions is None else list(positions)
    base = None
    take = None
    base_at: dict[int, int] = {}
    if plan.kind == "delta":
        needed = sorted({plan.columns[j].parent for j in wanted if plan.columns[j].parent is not None})
        take = files.read_positions(plan.parent_rows, plan.parent_count) if plan.parent_rows else None
        if rows is not None:
            # the base built at exactly the rows wanted here: nothing left to take
            base_rows = take[rows] if take is not None else rows
            base = rebuild(files, load_plan(plan.base), load_plan, needed, None, base_rows)
            take = None
        else:
            key = (plan.base, tuple(needed))
            if cache is not None and key in cache:
                base = cache[key]
            else:
                base = rebuild(files, load_plan(plan.base), load_plan, needed, cache)
                if cache is not None:
                    cache[key] = base
        base_at = {p: i for i, p in enumerate(needed)}
    arrays = []
    for j in wanted:
        ref = plan.columns[j]
        if ref.parent is not None:
            col = base.iloc[:, base_at[ref.parent]]
            arrays.append(col.iloc[take] if take is not None else col)
        else:
            own = files.read_series(ref.key)
            arrays.append(own.iloc[rows] if rows is not None else own)
    labels = [decode_label(plan.columns[j].label) for j in wanted]
    if plan.column_levels > 1:
        columns = pd.MultiIndex.from_tuples(labels) if labels else pd.MultiIndex.from_tuples([], names=[None] * plan.column_levels)
    else:
        columns = pd.Index(labels, dtype=object if not labels else None, tupleize_cols=False)
    if plan.index is not None and plan.index.kind == "base":
        index = base.index.take(take) if take is not None else base.index
    else:
        index = _read_index(files, plan.index, plan.rows)
        if rows is not None:
            index = index[rows]
    data = {i: pd.Series(a.array, index=index, copy=False) for i, a in enumerate(arrays)}
    frame = pd.DataFrame(data, index=index) if data else pd.DataFrame(index=index)
    frame.columns = columns if len(labels) else frame.columns
    if plan.index is not None and plan.index.columns_names and len(labels):
        frame.columns.names = [decode_label(n) for n in plan.index.columns_names]
    return frame


def _read_index(files: ColumnFiles, ref: IndexRef | None, n_rows: int) -> pd.Index:
    if ref is None:
        return pd.RangeIndex(n_rows)
    names = [decode_label(n) for n in ref.names]
    if ref.kind == "range":
        return pd.RangeIndex(ref.start, ref.stop, ref.step, name=names[0] if names else None)
    levels = [files.read_series(k) for k in ref.keys]
    if len(levels) == 1:
        return pd.Index(levels[0].array, name=names[0] if names else None)
    return pd.MultiIndex.from_arrays([lv.array for lv in levels], names=names)

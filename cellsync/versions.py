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
import json
import os
import tempfile
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .config import Settings
from .errors import VersionDataPruned, VersionDataUnavailable, VersionDataUnreadable
from .records import Record
from .redact import secret_column


@dataclass(frozen=True)
class ColumnRef(Record):
    label: Any  # encoded label (see encode_label)
    key: str | None = None  # column file, or
    parent: int | None = None  # position of the same column in the base version
    as_text: bool = False  # stores before the lossless encodings: values kept as their repr text
    encoding: str = "arrow"  # how the file holds the values (see encode_column); "none": not kept
    dtype: str | None = None  # the column's pandas dtype, restored on reading
    meta: dict | None = None  # what the encoding needs to decode (fill value, categories, ...)
    note: str | None = None  # encoding "none": "not persisted: <reason>"
    # a full version's column whose values equal the base's column at this position on the
    # rows `parent_rows` names (from the diff): readers may carry what they know of the base
    # (SnapGrid's segment masks) instead of reading the column again
    same_as: int | None = None


@dataclass(frozen=True)
class IndexRef(Record):
    kind: str  # range | levels | base (the base version's labels of the kept rows)
    start: int = 0
    stop: int = 0
    step: int = 1
    keys: tuple[str, ...] = ()
    names: tuple[Any, ...] = ()  # encoded level names
    columns_names: tuple[Any, ...] = ()  # encoded names of the column axis
    levels: tuple[dict, ...] = ()  # per level: encoding, dtype, meta (ColumnRef fields); old stores: ()
    freq: str | None = None  # a DatetimeIndex/TimedeltaIndex's freq, which values alone lose


@dataclass(frozen=True)
class DataPlan(Record):
    kind: str  # full | delta | none | pruned (dropped by `cellsync prune`; see store/budget.py)
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
    series: bool = False  # the version was a Series: `Store.load` gives it back as one
    columns_dtype: str | None = None  # dtype of the column labels' Index (object vs str vs int64)


def _ref_keys(meta: Any) -> set[str]:
    """Keys of files an encoding's meta points to (a categorical's categories)."""
    if isinstance(meta, dict):
        out = {meta["key"]} if isinstance(meta.get("key"), str) and "encoding" in meta else set()
        for value in meta.values():
            out |= _ref_keys(value)
        return out
    return set()


def plan_file_keys(plan: DataPlan) -> set[str]:
    """Every data file a plan needs (columns, index levels, row positions)."""
    keys = {ref.key for ref in plan.columns if ref.key}
    for ref in plan.columns:
        keys |= _ref_keys(ref.meta)
    if plan.index is not None:
        keys.update(plan.index.keys)
        for level in plan.index.levels:
            keys |= _ref_keys(level.get("meta"))
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


# --- lossless column encodings -------------------------------------------------------------
#
# Arrow keeps most dtypes exactly; the rest get an encoding of their own, and a column none of
# them keeps exactly is marked "not persisted: <reason>" (the rest of the version is kept).
# Nothing is ever pickled: a store may come from a stranger, and unpickling runs code.


class NotPersistable(Exception):
    """This column cannot be stored exactly without pickle (the reason is the message)."""


def encode_column(s: pd.Series, files: "ColumnFiles") -> tuple[pa.Table, str, dict | None, int]:
    """(table with the values, encoding name, meta for decoding, bytes written for parts)."""
    dtype = s.dtype
    if isinstance(dtype, pd.SparseDtype):
        dense = pd.Series(np.asarray(s.sparse.to_dense()), copy=False)
        table, enc, meta, n = encode_column(dense, files)
        return table, "sparse", {"fill": _tag(dtype.fill_value), "subtype": str(dtype.subtype),
                                 "inner": {"encoding": enc, "meta": meta}}, n
    if isinstance(dtype, pd.CategoricalDtype):
        # codes plus the categories as a column of their own, encoded like any column: an
        # Arrow dictionary cannot hold pd.cut's intervals, and turns object categories into str
        cats, n = files.write_series(pd.Series(dtype.categories, copy=False))
        if cats.encoding == "none":
            raise NotPersistable(f"its categories: {cats.note.removeprefix('not persisted: ')}")
        codes = pa.table({"v": pa.array(np.asarray(s.cat.codes))})
        return codes, "categorical", {"categories": _ref_meta(cats), "ordered": bool(dtype.ordered)}, n
    if isinstance(dtype, pd.ArrowDtype):
        # the Arrow array itself, without pandas metadata, which pyarrow cannot read back for
        # nested types ("list<item: int64>[pyarrow]" not understood)
        return pa.table({"v": pa.chunked_array(s.array._pa_array)}), "arrowdtype", None, 0
    if dtype.kind == "c":
        values = np.asarray(s)
        return pa.table({"re": values.real, "im": values.imag}), "complex", None, 0
    if dtype == object:
        return _encode_objects(s)
    try:
        return _arrow_table(s), "arrow", None, 0
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise NotPersistable(f"{dtype} values cannot be stored by Arrow ({type(exc).__name__})") from None


def _arrow_table(s: pd.Series) -> pa.Table:
    return pa.Table.from_pandas(s.to_frame("v"), preserve_index=False)


def _ref_meta(ref: "ColumnRef") -> dict:
    return {"key": ref.key, "encoding": ref.encoding, "dtype": ref.dtype, "meta": ref.meta}


def _missing_kind(v: Any) -> str | None:
    if v is None:
        return "none"
    if v is pd.NA:
        return "na"
    if v is pd.NaT:
        return "nat"
    if isinstance(v, float) and v != v:
        return "nan"
    return None


def _encode_objects(s: pd.Series) -> tuple[pa.Table, str, dict | None, int]:
    values = np.asarray(s, dtype=object)
    inferred = pd.api.types.infer_dtype(values, skipna=True)
    if inferred in ("string", "empty"):
        # text, perhaps with missing values: Arrow strings, plus which kind each missing was
        kinds = [_missing_kind(v) for v in values] if s.isna().any() else []
        used = sorted({k for k in kinds if k})
        if all(isinstance(v, str) or k for v, k in zip(values, kinds or [None] * len(values))):
            strings = pa.array([None if (kinds and kinds[i]) else v for i, v in enumerate(values)], type=pa.string())
            if len(used) <= 1:
                return pa.table({"v": strings}), "text", {"missing": used[0] if used else None}, 0
            codes = pa.array([used.index(k) if k else -1 for k in kinds], type=pa.int8())
            return pa.table({"v": strings, "m": codes}), "text", {"missing": used}, 0
    encoded = []
    for v in values:
        encoded.append(json.dumps(_tag(v), allow_nan=False, separators=(",", ":")))
    return pa.table({"v": pa.array(encoded, type=pa.string())}), "json", None, 0


_MAX_DEPTH = 64


def _tag(v: Any, depth: int = 0) -> Any:
    """A Python value as JSON that says exactly what it was; NotPersistable if that is not
    possible without pickle."""
    if depth > _MAX_DEPTH:
        raise NotPersistable(f"values nested deeper than {_MAX_DEPTH}")
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return {"bool": bool(v)}
    if isinstance(v, (int, np.integer)):
        return {"int": int(v)} if not isinstance(v, np.integer) else {"int": int(v), "np": str(v.dtype)}
    if isinstance(v, (float, np.floating)):
        f = float(v)
        out = {"float": f if np.isfinite(f) else repr(f)}
        return out if type(v) is float else {**out, "np": str(np.dtype(type(v)))}
    if isinstance(v, (complex, np.complexfloating)):
        return {"complex": [repr(float(v.real)), repr(float(v.imag))]}
    if v is pd.NA:
        return {"na": 1}
    if v is pd.NaT:
        return {"nat": 1}
    if isinstance(v, pd.Timestamp):
        return {"ts": v.value, "unit": v.unit, "tz": None if v.tz is None else str(v.tz)}
    if isinstance(v, pd.Timedelta):
        return {"td": v.value, "unit": v.unit}
    if isinstance(v, pd.Period):
        return {"period": str(v), "freq": v.freqstr}
    if isinstance(v, pd.Interval):
        return {"interval": [_tag(v.left, depth + 1), _tag(v.right, depth + 1)], "closed": v.closed}
    import datetime as _dt
    import decimal

    if isinstance(v, _dt.datetime):
        if v.tzinfo is not None and v.tzinfo.utcoffset(v) is not None and not isinstance(v.tzinfo, _dt.timezone):
            raise NotPersistable(f"datetime values with a {type(v.tzinfo).__name__} time zone")
        return {"datetime": v.isoformat()}
    if isinstance(v, _dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, _dt.time):
        return {"time": v.isoformat()}
    if isinstance(v, _dt.timedelta):
        return {"timedelta": [v.days, v.seconds, v.microseconds]}
    if isinstance(v, decimal.Decimal):
        return {"decimal": str(v)}
    if isinstance(v, bytes):
        import base64

        return {"bytes": base64.b64encode(v).decode()}
    if isinstance(v, list):
        return [_tag(x, depth + 1) for x in v]
    if isinstance(v, tuple) and type(v) is tuple:
        return {"tuple": [_tag(x, depth + 1) for x in v]}
    if isinstance(v, (set, frozenset)):
        return {"frozenset" if isinstance(v, frozenset) else "set": [_tag(x, depth + 1) for x in v]}
    if isinstance(v, dict) and type(v) is dict:
        return {"dict": [[_tag(k, depth + 1), _tag(x, depth + 1)] for k, x in v.items()]}
    raise NotPersistable(f"objects of type {type(v).__name__} cannot be stored without pickle")


def _untag(t: Any) -> Any:
    if t is None or isinstance(t, str):
        return t
    if isinstance(t, list):
        return [_untag(x) for x in t]
    (kind, value), *rest = t.items()
    extra = dict(rest)
    if kind == "bool":
        return value
    if kind == "int":
        return np.dtype(extra["np"]).type(value) if "np" in extra else value
    if kind == "float":
        f = float(value)
        return np.dtype(extra["np"]).type(f) if "np" in extra else f
    if kind == "complex":
        return complex(float(value[0]), float(value[1]))
    if kind == "na":
        return pd.NA
    if kind == "nat":
        return pd.NaT
    if kind == "ts":
        ts = pd.Timestamp(value, unit="ns", tz="UTC" if extra["tz"] else None)
        if extra["tz"]:
            ts = ts.tz_convert(extra["tz"])
        return ts.as_unit(extra["unit"]) if extra.get("unit") else ts
    if kind == "td":
        td = pd.Timedelta(value, unit="ns")
        return td.as_unit(extra["unit"]) if extra.get("unit") else td
    if kind == "period":
        return pd.Period(value, freq=extra["freq"])
    if kind == "interval":
        return pd.Interval(_untag(value[0]), _untag(value[1]), closed=extra["closed"])
    import datetime as _dt
    import decimal

    if kind == "datetime":
        return _dt.datetime.fromisoformat(value)
    if kind == "date":
        return _dt.date.fromisoformat(value)
    if kind == "time":
        return _dt.time.fromisoformat(value)
    if kind == "timedelta":
        return _dt.timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    if kind == "decimal":
        return decimal.Decimal(value)
    if kind == "bytes":
        import base64

        return base64.b64decode(value)
    if kind == "tuple":
        return tuple(_untag(x) for x in value)
    if kind == "set":
        return {_untag(x) for x in value}
    if kind == "frozenset":
        return frozenset(_untag(x) for x in value)
    if kind == "dict":
        return {_untag(k): _untag(x) for k, x in value}
    raise ValueError(f"unknown value tag {kind!r}")


_MISSING = {"none": None, "nan": np.nan, "na": pd.NA, "nat": pd.NaT}


def decode_column(table: pa.Table, ref: "ColumnRef", files: "ColumnFiles") -> pd.Series:
    enc, meta = ref.encoding, ref.meta or {}
    if ref.as_text or enc == "arrow":
        out = table.to_pandas()["v"]
    elif enc == "text":
        strings = table.column("v").to_pylist()
        missing = meta.get("missing")
        if isinstance(missing, list):
            codes = table.column("m").to_pylist()
            strings = [_MISSING[missing[c]] if c >= 0 else v for v, c in zip(strings, codes)]
        elif missing:
            fill = _MISSING[missing]
            strings = [fill if v is None else v for v in strings]
        out = _object_series(strings)
    elif enc == "json":
        out = _object_series([_untag(json.loads(v)) for v in table.column("v").to_pylist()])
    elif enc == "arrowdtype":
        out = pd.Series(pd.arrays.ArrowExtensionArray(table.column("v")))
    elif enc == "complex":
        out = pd.Series(table.column("re").to_numpy() + 1j * table.column("im").to_numpy())
    elif enc == "categorical":
        cats = files.read_series(ColumnRef(label=None, **meta["categories"]))
        dtype = pd.CategoricalDtype(pd.Index(cats.array), ordered=meta["ordered"])
        out = pd.Series(pd.Categorical.from_codes(table.column("v").to_numpy(), dtype=dtype))
    elif enc == "sparse":
        inner = ColumnRef(label=None, encoding=meta["inner"]["encoding"], meta=meta["inner"]["meta"],
                          dtype=meta["subtype"])
        dense = decode_column(table, inner, files)
        sparse = pd.SparseDtype(np.dtype(meta["subtype"]), _untag(meta["fill"]))
        out = pd.Series(pd.arrays.SparseArray(dense.to_numpy(), dtype=sparse))
    else:
        raise ValueError(f"unknown column encoding {enc!r}")
    return _restore_dtype(out, ref.dtype) if enc in ("arrow", "complex") and not ref.as_text else out


def _object_series(values: list) -> pd.Series:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return pd.Series(arr, dtype=object, copy=False)


def _restore_dtype(s: pd.Series, dtype: str | None) -> pd.Series:
    """Arrow gives back the values exactly but sometimes another unit or a wider type
    (Parquet has no seconds unit; float16 is kept; object ints come back int64)."""
    if dtype is None or str(s.dtype) == dtype:
        return s
    try:
        return s.astype(dtype)
    except (TypeError, ValueError):
        return s


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
    series: bool = False,
    sample_rows: int | None = None,
) -> DataPlan:
    """Persist one version and return how to rebuild it.

    parent_positions: for each row of `frame`, its position in the parent version (-1: added).
    same_columns: frame column position -> parent column position, for columns whose values
    on the kept rows equal the parent's (from the diff).
    same_index: the row labels are the parent's labels of the kept rows (from the diff).
    series: the version was a Series (`frame` is it as one column); read back as a Series.
    sample_rows: the store is past its budget (settings.max_store_mb): keep at most this many
    rows, a seeded sample, and never a delta (a delta keeps its parent's full data alive).
    """
    if not cfg.persist_data:
        return DataPlan(kind="none", rows=len(frame), note="persist_data is off", series=series)

    def column(j: int) -> tuple[ColumnRef, int]:
        label = frame.columns[j]
        if not cfg.profile_secret_columns and secret_column(label):
            return ColumnRef(label=encode_label(label), encoding="none", dtype=str(frame.dtypes.iloc[j]),
                             note="not persisted: named like a secret (settings.profile_secret_columns)"), 0
        ref, n = files.write_series(frame.iloc[:, j])
        return dataclasses.replace(ref, label=encode_label(label)), n

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
        and sample_rows is None
    )
    if can_delta:
        same_columns = same_columns or {}
        refs = []
        for j in range(frame.shape[1]):
            label = encode_label(frame.columns[j])
            if j in same_columns:
                refs.append(ColumnRef(label=label, parent=same_columns[j]))
            else:
                ref, n = column(j)
                written += n
                refs.append(ref)
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
            series=series,
            columns_dtype=_columns_dtype(frame),
        )

    sampled, sample_of = False, None
    limit = cfg.max_persist_rows if sample_rows is None else min(sample_rows, cfg.max_persist_rows)
    if len(frame) > limit:
        rng = np.random.default_rng(cfg.sample_seed)
        take = np.sort(rng.choice(len(frame), limit, replace=False))
        sample_of = len(frame)
        frame = frame.iloc[take]
        sampled = True
    # whole, though its parent had the same values: the chain was long, or rows were added
    carry = (same_columns or {}) if (
        not sampled and parent is not None and parent.kind in ("full", "delta") and not parent.sampled
        and parent_positions is not None and bool((parent_positions >= 0).all())) else {}
    refs = []
    for j in range(frame.shape[1]):
        ref, n = column(j)
        written += n
        refs.append(dataclasses.replace(ref, same_as=carry[j]) if j in carry and ref.encoding != "none" else ref)
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
        series=series,
        columns_dtype=_columns_dtype(frame),
    )


def _columns_dtype(frame: pd.DataFrame) -> str | None:
    return None if isinstance(frame.columns, pd.MultiIndex) else str(frame.columns.dtype)


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
    keys, levels, written = [], [], 0
    for level in range(idx.nlevels):
        values = idx.get_level_values(level)
        ref, n = files.write_series(pd.Series(values, copy=False))
        if ref.encoding == "none":
            raise NotPersistable(f"the row index: {ref.note}")
        keys.append(ref.key)
        levels.append({"encoding": ref.encoding, "dtype": ref.dtype, "meta": ref.meta})
        written += n
    freq = getattr(idx, "freq", None) if isinstance(idx, (pd.DatetimeIndex, pd.TimedeltaIndex)) else None
    return IndexRef(
        kind="levels",
        keys=tuple(keys),
        names=tuple(encode_label(n) for n in idx.names),
        columns_names=col_names,
        levels=tuple(levels),
        freq=freq.freqstr if freq is not None else None,
    ), written


# --- reading -------------------------------------------------------------------------------


def rebuild(
    files: ColumnFiles, plan: DataPlan, load_plan, positions: list[int] | None = None, cache: dict | None = None,
    rows: np.ndarray | None = None, strict: bool = False,
) -> pd.DataFrame:
    """Rebuild a version's frame, or only the columns at `positions` (reading no other column
    file anywhere down the delta chain). `load_plan(version_id)` returns a base's DataPlan;
    `cache` (optional) shares rebuilt bases between calls, e.g. across a SnapGrid query.
    `rows` (positions of this version's rows) builds only those rows: each level of the chain
    then gathers a handful of rows instead of all of them (the first rows a filter removed).
    A column that was not persisted is all NA, named in `frame.attrs["cellsync_not_persisted"]`
    with its reason; `strict=True` raises VersionDataUnavailable for it instead (SnapGrid: a
    segment must not be counted on values that are not there)."""
    if plan.kind == "none":
        raise VersionDataUnavailable(plan.note or "this version's data was not persisted")
    if plan.kind == "pruned":
        raise VersionDataPruned(plan.note or "this version's data was pruned")
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
            base = rebuild(files, load_plan(plan.base), load_plan, needed, None, base_rows, strict)
            take = None
        else:
            key = (plan.base, tuple(needed))
            if cache is not None and key in cache:
                base = cache[key]
            else:
                base = rebuild(files, load_plan(plan.base), load_plan, needed, cache, strict=strict)
                if cache is not None:
                    cache[key] = base
        base_at = {p: i for i, p in enumerate(needed)}
    arrays = []
    absent: dict[int, str] = {}  # position in `wanted` -> why that column was not persisted
    base_absent = base.attrs.get(NOT_PERSISTED_POSITIONS, {}) if base is not None else {}
    n_rows = plan.rows if rows is None else len(rows)
    for i, j in enumerate(wanted):
        ref = plan.columns[j]
        if ref.parent is not None:
            col = base.iloc[:, base_at[ref.parent]]
            arrays.append(col.iloc[take] if take is not None else col)
            if base_at[ref.parent] in base_absent:
                absent[i] = base_absent[base_at[ref.parent]]
        elif ref.encoding == "none":
            if strict:
                raise VersionDataUnavailable(f"column {decode_label(ref.label)!r}: {ref.note}")
            arrays.append(pd.Series(pd.array([pd.NA] * n_rows, dtype=object)))
            absent[i] = ref.note or "not persisted"
        else:
            own = files.read_series(ref)
            arrays.append(own.iloc[rows] if rows is not None else own)
    labels = [decode_label(plan.columns[j].label) for j in wanted]
    if plan.column_levels > 1:
        columns = pd.MultiIndex.from_tuples(labels) if labels else pd.MultiIndex.from_tuples([], names=[None] * plan.column_levels)
    else:
        columns = pd.Index(labels, dtype=object if not labels else None, tupleize_cols=False)
        if plan.columns_dtype and str(columns.dtype) != plan.columns_dtype:
            try:
                columns = columns.astype(plan.columns_dtype)
            except (TypeError, ValueError):
                pass
    if plan.index is not None and plan.index.kind == "base":
        index = base.index.take(take) if take is not None else base.index
    else:
        index = _read_index(files, plan.index, plan.rows)
        if rows is not None:
            index = index[rows]
    # dtype given: from an object array pandas 3 would infer `str`, which is not what was stored
    data = {i: pd.Series(a.array, index=index, copy=False, dtype=a.dtype) for i, a in enumerate(arrays)}
    frame = pd.DataFrame(data, index=index) if data else pd.DataFrame(index=index)
    frame.columns = columns if len(labels) else frame.columns
    if plan.index is not None and plan.index.columns_names and len(labels):
        frame.columns.names = [decode_label(n) for n in plan.index.columns_names]
    if absent:
        # the documented marker: these columns hold NA because their values were not kept
        frame.attrs[NOT_PERSISTED_POSITIONS] = absent
        frame.attrs[NOT_PERSISTED] = {labels[i]: why for i, why in absent.items()}
    return frame


NOT_PERSISTED = "cellsync_not_persisted"  # frame.attrs: column label -> "not persisted: <reason>"
NOT_PERSISTED_POSITIONS = "cellsync_not_persisted_positions"


def _read_index(files: ColumnFiles, ref: IndexRef | None, n_rows: int) -> pd.Index:
    if ref is None:
        return pd.RangeIndex(n_rows)
    names = [decode_label(n) for n in ref.names]
    if ref.kind == "range":
        return pd.RangeIndex(ref.start, ref.stop, ref.step, name=names[0] if names else None)
    encodings = ref.levels or ({},) * len(ref.keys)
    levels = [files.read_series(ColumnRef(label=None, key=k, **enc)) for k, enc in zip(ref.keys, encodings)]
    if len(levels) == 1:
        index = pd.Index(levels[0].array, name=names[0] if names else None, copy=False, dtype=levels[0].dtype)
        if ref.freq is not None and isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)):
            index = type(index)(index, freq=ref.freq)
        return index
    return pd.MultiIndex.from_arrays([pd.Index(lv.array, dtype=lv.dtype) for lv in levels], names=names)

"""Lossless column encodings: a pandas column to an Arrow table and back, objects and
nested values tagged by type."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .records import ColumnRef

if TYPE_CHECKING:
    from .files import ColumnFiles



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

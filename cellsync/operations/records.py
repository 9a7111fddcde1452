"""The records of the operation model: `Operation` (stored with each version) and `Change`
(what the worker hands `classify`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..lineage import Binding
from ..records import Record

KINDS = (
    "create", "filter", "split", "extract", "reshape", "relabel", "reorder", "columns",
    "add_rows", "combine", "model_transform", "copy", "alias", "not_table", "delete", "changed",
)



@dataclass(frozen=True)
class Operation(Record):
    """What one change to one frame was. `detail` holds the kind's own facts (all measured or
    read from the code): a filter's condition and the columns it reads, a split's parts,
    an index's old and new kind, a join's keys and matches, an estimator's name."""

    kind: str
    verb: str | None = None  # the call or statement that did it ("dropna", "setitem", ...)
    detail: dict = field(default_factory=dict)
    evidence: str = "data"  # data | code+data: whether the code's intent agreed with the data
    series: bool = False  # the frame is a Series: its rows are "values"


@dataclass
class Change:
    """The worker's view of one name's new version: what `classify` reads."""

    name: str
    change: str  # new | rebound | mutated | alias | deleted
    version_id: str
    is_series: bool = False
    parent: str | None = None
    parent_version: str | None = None
    parent_is_series: bool = False
    frame: pd.DataFrame | None = None
    parent_frame: pd.DataFrame | None = None
    diff: Any = None  # FrameDiff
    match: Any = None  # RowMatch
    binding: Binding | None = None
    mutations: list = field(default_factory=list)  # statements that changed it in place
    now: dict | None = None  # for a name that no longer holds a frame: what it holds
    deleted_by_code: bool = False
    others: dict = field(default_factory=dict)  # other frames the statement read: name -> frame
    estimators: dict = field(default_factory=dict)  # name -> class name, from the namespace


# --- reading the code ------------------------------------------------------------------------



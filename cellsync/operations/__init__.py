"""The operation model: what one change to a frame *was*, in a closed vocabulary.

Every frame version gets one `Operation`, decided from the code (the cell's AST, through
`lineage`) and the evidence (the diff, shapes, types, row identity) together. Neither alone is
enough: `dropna` may drop rows or columns, `h = h + 1` looks like new rows to a content hash,
`grid.iloc[0]` is a row taken out, not rows removed. Where the two disagree, the evidence wins
and the code's intent is not repeated; where neither is clear, the kind is `changed` and only
measured facts are stated (say less rather than something false).

The vocabulary (docs/operations.md has an example of each):
    create          a table from a file, a constructor or an unknown source
    filter          rows dropped by a predicate, dedupe, head/tail/sample, label or position
    split           several outputs whose rows are disjoint parts of one input
    extract         a row or a column taken out of a table as a series
    reshape         rows that are not rows of the input: groupby/aggregate, pivot, melt,
                    stack, transpose, resample, value_counts, describe
    relabel         the row labels replaced or moved (set/reset_index, `df.index = ...`),
                    columns renamed
    reorder         the same rows in another order
    columns         columns added, dropped, retyped or rewritten; rows kept
    add_rows        rows (or a series' entries) appended in place
    combine         merge / join / concat with another table
    model_transform an estimator's transform/predict output (scaler, encoder, PCA)
    copy            a new name with the very same content
    alias           another name for the same object
    not_table       the name now holds something CellSync does not follow (an array, a list)
    delete          the name was deleted (`del`)
    changed         a change none of the above describes: only measured facts are stated
"""

from __future__ import annotations

from .classify import classify, classify_cell, find_splits, index_kind
from .code import (
    COMBINE_CALLS, CONSTRUCTORS, FILTER_CALLS, MODEL_METHODS, RELABEL_CALLS, ROW_PRESERVING,
    SORT_CALLS, SPLIT_CALLS, WINDOWS, chain_verbs, code_of, columns_read, condition_text,
    filter_detail, follows_rows, is_mask, model_call, reshapes, same_rows, verbs,
)
from .parents import choose_parent, keeps_code_parent, relatedness
from .records import KINDS, Change, Operation

__all__ = [
    "KINDS", "Change", "Operation", "classify", "classify_cell", "choose_parent", "chain_verbs",
    "code_of", "columns_read", "condition_text", "filter_detail", "find_splits", "follows_rows",
    "index_kind", "is_mask", "keeps_code_parent", "model_call", "relatedness", "reshapes",
    "same_rows", "verbs", "COMBINE_CALLS", "CONSTRUCTORS", "FILTER_CALLS", "MODEL_METHODS",
    "RELABEL_CALLS", "ROW_PRESERVING", "SORT_CALLS", "SPLIT_CALLS", "WINDOWS",
]

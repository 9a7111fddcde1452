"""Segments: named predicates over a frame's columns, written as text by people
(`age >= 80`, `income is missing`), and what each cell did to them.

- `grammar.py`   text → spec (a small recursive-descent parser; nothing is ever `eval`ed), and back
- `segment.py`   the `Segment` record: checked against a frame, evaluated to a mask
- `suggest.py`   segments proposed from a profile; which ones are about values
- `impacts.py`   `impacts`: what a cell did to each segment (`SegmentImpact`)
"""

from .grammar import SegmentError, columns_of, parse, to_text
from .impacts import SegmentImpact, impacts
from .segment import Segment
from .suggest import by_construction, is_value_segment, suggest

__all__ = ["Segment", "SegmentError", "SegmentImpact", "by_construction", "columns_of", "impacts",
           "is_value_segment", "parse", "suggest", "to_text"]

"""A dict that forgets its oldest entries: caches of recent versions in the worker and store."""

from __future__ import annotations

from collections import OrderedDict


class BoundedDict(OrderedDict):
    """Keeps the `maxsize` most recently set or read entries."""

    def __init__(self, maxsize: int = 256):
        super().__init__()
        self.maxsize = maxsize

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)

    def get(self, key, default=None):
        if key in self:
            self.move_to_end(key)
            return super().__getitem__(key)
        return default

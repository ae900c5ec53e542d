"""A small least-recently-used cache."""

from collections import OrderedDict

_MISSING = object()


class LRUCache:
    """Mapping with a fixed capacity that evicts the least recently used key.

    A key counts as *used* when it is stored with ``put`` or read with ``get``
    (a hit). ``in`` checks and ``keys()`` do not change the order.
    """

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = OrderedDict()

    def get(self, key, default=None):
        """Return the value for ``key`` (marking it as recently used) or ``default``."""
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            return default
        self._data.move_to_end(key)
        return value

    def put(self, key, value):
        """Store ``value`` under ``key``, evicting the least recently used key if full."""
        if key in self._data:
            self._data.move_to_end(key)
        elif len(self._data) >= self.capacity:
            self._data.popitem(last=False)
        self._data[key] = value

    def keys(self):
        """Keys from least to most recently used."""
        return list(self._data)

    def __contains__(self, key):
        return key in self._data

    def __len__(self):
        return len(self._data)

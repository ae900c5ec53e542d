"""A small least-recently-used cache."""


class LRUCache:
    """Mapping with a fixed capacity that evicts the least recently used key.

    A key counts as *used* when it is stored with ``put`` or read with ``get``
    (a hit). ``in`` checks and ``keys()`` do not change the order.
    """

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = {}

    def get(self, key, default=None):
        """Return the value for ``key`` (marking it as recently used) or ``default``."""
        return self._data.get(key, default)

    def put(self, key, value):
        """Store ``value`` under ``key``, evicting the least recently used key if full."""
        if len(self._data) >= self.capacity:
            oldest = next(iter(self._data))
            del self._data[oldest]
        self._data[key] = value

    def keys(self):
        """Keys from least to most recently used."""
        return list(self._data)

    def __contains__(self, key):
        return key in self._data

    def __len__(self):
        return len(self._data)

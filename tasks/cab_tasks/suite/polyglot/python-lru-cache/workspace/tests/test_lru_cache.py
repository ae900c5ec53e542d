import pytest

from lru_cache import LRUCache


def test_put_and_get():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    assert cache.get("b") == 2
    assert cache.get("missing") is None
    assert cache.get("missing", 0) == 0


def test_evicts_oldest_when_untouched():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert "a" not in cache
    assert len(cache) == 2


def test_invalid_capacity():
    with pytest.raises(ValueError):
        LRUCache(0)


def test_get_marks_key_as_recently_used():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert "a" in cache
    assert "b" not in cache
    assert cache.keys() == ["a", "c"]


def test_updating_existing_key_does_not_evict():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    assert len(cache) == 2
    assert cache.get("b") == 2
    assert cache.get("a") == 10


def test_update_refreshes_recency():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, key.upper())
    cache.put("a", "A2")
    cache.put("d", "D")
    assert cache.keys() == ["c", "a", "d"]


def test_contains_and_falsy_values_do_not_confuse_recency():
    cache = LRUCache(2)
    cache.put("zero", 0)
    cache.put("none", None)
    assert "zero" in cache  # membership test must not refresh
    assert cache.get("zero", "default") == 0
    cache.put("x", 1)
    assert cache.keys() == ["zero", "x"]

from lru_cache import LRUCache


def test_rpa56t_several_hits_reorder_before_eviction():
    cache = LRUCache(3)
    for key in "abc":
        cache.put(key, ord(key))
    assert cache.get("a") == ord("a")
    assert cache.get("b") == ord("b")
    cache.put("d", 4)
    assert "c" not in cache
    assert cache.keys() == ["a", "b", "d"]


def test_rpa56t_updates_in_a_full_cache_keep_every_key():
    cache = LRUCache(2)
    cache.put("x", 1)
    cache.put("y", 2)
    cache.put("y", 20)
    cache.put("x", 10)
    assert cache.keys() == ["y", "x"]
    cache.put("z", 3)
    assert cache.keys() == ["x", "z"]
    assert cache.get("x") == 10


def test_rpa56t_hit_on_a_none_value_counts_as_use():
    cache = LRUCache(2)
    cache.put("k", None)
    cache.put("j", 1)
    assert cache.get("k", "default") is None
    cache.put("m", 2)
    assert cache.keys() == ["k", "m"]


def test_rpa56t_misses_and_membership_do_not_reorder():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache
    assert cache.get("nope", 5) == 5
    cache.put("c", 3)
    assert cache.keys() == ["b", "c"]

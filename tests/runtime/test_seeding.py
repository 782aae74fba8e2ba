"""Per-entity generators derived from a seed."""

from lecture31._runtime.seeding import derivedRng


def test_unseeded_means_the_module_level_random_functions():
    assert derivedRng(None, "shard", 3) is None


def test_same_seed_and_labels_give_the_same_stream():
    first = derivedRng(7, "shard", 3)
    second = derivedRng(7, "shard", 3)
    assert [first.random() for _ in range(5)] == [second.random() for _ in range(5)]


def test_different_labels_or_seeds_give_different_streams():
    draws = {
        (seed, label): derivedRng(seed, "shard", label).random()
        for seed in (1, 2)
        for label in (0, 1)
    }
    assert len(set(draws.values())) == 4

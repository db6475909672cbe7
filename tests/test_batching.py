"""The one batcher: each constraint cuts where it should, and its callers' policies are its parameters."""
from narspeech.batching import chunks, make_batches


def test_count_cap_and_order():
    assert make_batches([5, 1, 3, 2], max_items=2) == [[1, 3], [2, 0]]
    assert make_batches([5, 1, 3, 2], max_items=2, longest_first=True) == [[0, 2], [3, 1]]


def test_padded_size_cap_is_tight_and_an_oversized_item_comes_alone():
    lengths = [4, 4, 4, 9, 30]
    batches = make_batches(lengths, max_padded=12)
    assert batches == [[0, 1, 2], [3], [4]]
    for b, nxt in zip(batches, batches[1:]):  # greedy: the next item would have overflowed
        assert max(lengths[i] for i in b) * len(b) <= 12 or len(b) == 1
        assert max(lengths[i] for i in b + [nxt[0]]) * (len(b) + 1) > 12


def test_length_ratio_keeps_short_items_out_of_long_batches():
    lengths = [10, 9, 6, 5, 4, 2]
    batches = make_batches(lengths, max_ratio=2.0, longest_first=True)
    assert batches == [[0, 1, 2, 3], [4, 5]]
    for b in batches:
        assert max(lengths[i] for i in b) <= 2.0 * min(lengths[i] for i in b)


def test_chunks():
    assert chunks(5, 2) == [[0, 1], [2, 3], [4]]
    assert chunks(3, 0) == [[0, 1, 2]]

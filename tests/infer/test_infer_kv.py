"""RoomyLayer: appending in place gives exactly the keys and values that concatenation gives."""

from __future__ import annotations

import torch

from socratic_distill.infer import kv


def test_roomy_layer_matches_concatenation_across_replacements():
    torch.manual_seed(0)
    roomy, plain = kv.RoomyLayer(), kv.DynamicLayer()
    rows = 4
    for number, length in enumerate((5, 1, 1, 70, 1)):
        if number == 3:  # the decoding loop drops a row and cuts a column, as `_Batch.keep` does
            rows = 3
            for layer in (roomy, plain):
                layer.batch_select_indices(torch.tensor([0, 2, 3]))
            roomy.drop_leading(1)
            plain.keys, plain.values = plain.keys[..., 1:, :], plain.values[..., 1:, :]
        new = torch.randn(rows, 2, length, 8)
        got, expected = roomy.update(new, -new), plain.update(new, -new)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_roomy_layer_appends_without_moving_the_cache():
    layer = kv.RoomyLayer()
    layer.update(torch.randn(2, 2, 10, 4), torch.randn(2, 2, 10, 4))
    storage = layer.keys.untyped_storage().data_ptr()
    for _ in range(20):
        layer.update(torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4))
    assert layer.keys.shape[-2] == 30
    assert layer.keys.untyped_storage().data_ptr() == storage  # no copy while there is room


def test_cutting_leading_columns_copies_nothing():
    layer = kv.RoomyLayer()
    layer.update(torch.randn(2, 2, 10, 4), torch.randn(2, 2, 10, 4))
    storage = layer.keys.untyped_storage().data_ptr()
    kept = layer.keys[..., 3:, :].clone()
    layer.drop_leading(3)
    step = torch.randn(2, 2, 1, 4)
    keys, _ = layer.update(step, step)
    assert torch.equal(keys, torch.cat([kept, step], dim=-2))
    assert layer.keys.untyped_storage().data_ptr() == storage


def test_stacking_left_pads_each_piece_and_leaves_room():
    from transformers import DynamicCache

    torch.manual_seed(0)
    pieces = [(torch.randn(rows, 2, width, 4), torch.randn(rows, 2, width, 4))
              for rows, width in ((2, 7), (1, 3), (3, 0))]
    cache = DynamicCache()
    cache.layers = [kv.RoomyLayer()]
    kv.stack_left_padded(cache, [pieces], 9, spare=100)
    layer = cache.layers[0]
    for got, index in ((layer.keys, 0), (layer.values, 1)):
        expected = torch.cat([torch.nn.functional.pad(piece[index], [0, 0, 9 - piece[index].shape[-2], 0])
                              for piece in pieces])
        assert torch.equal(got, expected)  # zeros, not stale memory, in the padding
    storage = layer.keys.untyped_storage().data_ptr()
    layer.update(torch.randn(6, 2, 100, 4), torch.randn(6, 2, 100, 4))
    assert layer.keys.shape == (6, 2, 109, 4)
    assert layer.keys.untyped_storage().data_ptr() == storage  # the room was big enough


def test_compaction_moves_only_rows_from_beyond_the_kept_ones():
    assert kv.compaction_order(6, [0, 2, 3, 5]) == [0, 5, 2, 3]
    assert kv.compaction_order(4, [1, 2]) == [2, 1]
    assert kv.compaction_order(3, [0, 1, 2]) == [0, 1, 2]
    for count, keep in ((8, [1, 4, 6, 7]), (5, [4]), (5, [0, 1])):
        assert sorted(kv.compaction_order(count, keep)) == keep


def test_compacting_in_place_keeps_the_right_rows_and_copies_only_movers():
    torch.manual_seed(0)
    roomy, plain = kv.RoomyLayer(), kv.DynamicLayer()
    new = torch.randn(6, 2, 5, 8)
    roomy.update(new, -new)
    plain.update(new, -new)
    storage = roomy.keys.untyped_storage().data_ptr()
    order = torch.tensor(kv.compaction_order(6, [0, 2, 3, 5]))
    for layer in (roomy, plain):
        layer.batch_select_indices(order)
    assert roomy.keys.untyped_storage().data_ptr() == storage  # compacted in place
    step = torch.randn(4, 2, 1, 8)
    got, expected = roomy.update(step, -step), plain.update(step, -step)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
    # An order that would overwrite a row before it moves falls back to copying.
    for layer in (roomy, plain):
        layer.batch_select_indices(torch.tensor([3, 0]))
    got, expected = roomy.update(step[:2], step[:2]), plain.update(step[:2], step[:2])
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_caches_placed_in_a_shared_room_join_without_copying():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50))
    torch.manual_seed(0)
    shared = kv.SharedRoom(rows=3, width=7)
    placed = [kv.new_cache(model, shared, slice(0, 2), 7 - 5), kv.new_cache(model, shared, slice(2, 3), 0)]
    plain = [kv.new_cache(model), kv.new_cache(model)]
    for index, (rows, width) in enumerate(((2, 5), (1, 7))):
        for layer in range(2):
            new = torch.randn(rows, 2, width, 8)
            placed[index].layers[layer].update(new, -new)
            plain[index].layers[layer].update(new, -new)
    joined = shared.cache(model)
    for layer in range(2):
        pieces = [kv.layers(cache)[layer] for cache in plain]
        for got, part in ((joined.layers[layer].keys, 0), (joined.layers[layer].values, 1)):
            expected = torch.cat([torch.nn.functional.pad(piece[part], [0, 0, 7 - piece[part].shape[-2], 0])
                                  for piece in pieces])
            assert torch.equal(got, expected)
        # The joined cache is the placed caches' own memory: row 0 starts two columns earlier.
        assert joined.layers[layer].keys.data_ptr() == placed[0].layers[layer].keys.data_ptr() - 2 * 8 * 4


def test_a_forward_without_a_known_cache_argument_is_an_error():
    """Guessing a name the forward ignores would run every step without its cache."""
    import pytest

    from socratic_distill.versions import UnsupportedVersion

    class Renamed(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None, kv_state=None, logits_to_keep=0):
            return input_ids

    with pytest.raises(UnsupportedVersion, match="neither `cache` nor `past_key_values`"):
        kv.forward_kwargs(Renamed())


def test_the_cache_argument_of_transformers_models_is_found(model):
    cache, keep = kv.forward_kwargs(model)
    assert cache in ("cache", "past_key_values") and keep == "logits_to_keep"

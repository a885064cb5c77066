"""KV-cache plumbing over transformers' `DynamicCache`, for `generate`.

The decoding loop needs a few things that transformers keeps inside its own `generate`: the
per-layer key and value tensors (to merge two batches or keep a prefix), the name of the
cache argument (`cache` in newer transformers releases, `past_key_values` in older ones), and
a store of earlier prompts' keys and values (`PrefixCache`). They live here, apart from the
decoding logic.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from socratic_distill.infer import buffers
from socratic_distill.versions import UnsupportedVersion, internal

DynamicCache = internal("transformers", "DynamicCache")
DynamicLayer = internal("transformers.cache_utils", "DynamicLayer")

KV = tuple[torch.Tensor, torch.Tensor]  # one layer's keys and values [batch, heads, tokens, dim]


class PrefixCache:
    """The KV cache of earlier prompts, one per key, reused when a new prompt extends one.

    The Socratic turns re-read a growing sequence: with a key per problem, each turn computes
    only the tokens that are new since that problem's previous prompt (as vLLM's automatic
    prefix caching does). Keys are the caller's; `drop` frees a finished problem's entry.
    """

    def __init__(self) -> None:
        self.entries: dict[Hashable, tuple[list[int], list[KV]]] = {}  # token ids, [heads, T, dim]
        self.reused_tokens = 0
        self.computed_tokens = 0

    def lookup(self, key: Hashable, prompt: list[int]) -> tuple[int, list[KV]]:
        """How many leading tokens of `prompt` the key's entry holds, and its keys and values."""
        ids, kv = self.entries.get(key, ([], []))
        shared = 0
        for old, new in zip(ids, prompt[:-1], strict=False):  # the last token is always computed
            if old != new:
                break
            shared += 1
        return shared, kv

    def drop(self, keys: Sequence[Hashable]) -> None:
        for key in keys:
            self.entries.pop(key, None)


def new_cache(model: Any, shared: SharedRoom | None = None, rows: slice | None = None,
              first: int = 0):
    """An empty `DynamicCache` for `model`, its full-attention layers appending in place.

    With `shared`, those layers write into `shared`'s buffers at `rows`, from column `first` on.
    """
    cache = DynamicCache(config=model.config)
    cache.layers = [
        RoomyLayer(None if shared is None else (shared, index, rows, first))
        if type(layer) is DynamicLayer else layer
        for index, layer in enumerate(cache.layers)
    ]
    return cache


def room_length(used: int, spare: int = 0) -> int:
    """Positions to allocate for `used` ones: room for at least `spare` more, and for half as
    many again (64 at least), so that appends rarely move the cache."""
    return used + max(64, used // 2, spare)


class SharedRoom:
    """One buffer per layer that several caches write into, each at its own rows and from its own
    first column, right-aligned at `width`: batches prefilled apart then decode as one batch
    (`cache`) with no merging copy."""

    def __init__(self, rows: int, width: int) -> None:
        self.rows, self.width = rows, width
        self.buffers: dict[int, KV] = {}

    def room(self, layer: int, like: torch.Tensor, rows: slice, first: int) -> KV:
        """The part of layer `layer`'s buffers for `rows` from column `first` on; the columns
        before it are zeroed (padding: masked, but finite)."""
        if layer not in self.buffers:
            shape = (self.rows, like.shape[1], room_length(self.width), like.shape[-1])
            self.buffers[layer] = (buffers.empty(shape, like), buffers.empty(shape, like))
        for buffer in self.buffers[layer]:
            buffer[rows, :, :first].zero_()
        keys, values = self.buffers[layer]
        return keys[rows, :, first:], values[rows, :, first:]

    def cache(self, model: Any):
        """A cache over every row of the buffers, `width` columns used."""
        cache = new_cache(model)
        for index, pair in self.buffers.items():
            layer = cache.layers[index]
            layer.lazy_initialization(*pair)
            layer._room = pair
            layer._view_room(self.width)
        return cache


class RoomyLayer(DynamicLayer):
    """A `DynamicLayer` that appends new keys and values in place, into spare room.

    `DynamicLayer` concatenates at every step, copying the whole cache of every row to add one
    token. Here keys and values are views into buffers with room to spare, and a step writes
    its tokens after the used part. When the decoding loop replaces `keys`/`values` (rows
    leave, columns are cut, batches merge), the identity check notices and the next step moves
    them into fresh buffers, once.
    """

    def __init__(self, placement: tuple[SharedRoom, int, slice, int] | None = None) -> None:
        super().__init__()
        self.placement = placement  # (shared room, layer index, rows, first column), or None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        used = self.get_seq_length()
        end = used + key_states.shape[-2]
        if not self._appends_in_place(end):
            self._move_to_new_room(key_states, end)
        self._room[0][..., used:end, :] = key_states
        self._room[1][..., used:end, :] = value_states
        self._view_room(end)
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep the rows `indices`, spare room included.

        When every row either stays in its slot or moves in from beyond the kept ones (see
        `compaction_order`), only the moved rows are copied, in place; else all kept rows are.
        """
        used = self.get_seq_length()
        if not (used and self._appends_in_place(used)):
            return super().batch_select_indices(indices)
        slots = torch.arange(len(indices), device=indices.device)
        moved = indices != slots
        targets, sources = slots[moved], indices[moved]
        if bool((sources >= len(indices)).all()):  # no source is overwritten
            for buffer in self._room:  # the used columns only: the rest is spare room
                buffer[targets, :, :used] = buffer[sources, :, :used]
            self._room = (self._room[0][:len(indices)], self._room[1][:len(indices)])
        else:
            self._room = (self._room[0][indices], self._room[1][indices])
        self._view_room(used)

    def drop_leading(self, count: int) -> None:
        """Forget the first `count` positions (padding no row needs any more), without copying."""
        used = self.get_seq_length()
        if not self._appends_in_place(used):
            self.keys, self.values = self.keys[..., count:, :], self.values[..., count:, :]
            return
        self._room = (self._room[0][..., count:, :], self._room[1][..., count:, :])
        self._view_room(used - count)

    def adopt(self, pieces: Sequence[KV], width: int, spare: int = 0) -> None:
        """Hold `pieces` (keys, values of some rows each) stacked along the rows, each
        left-padded with zeros to `width` positions, with room for at least `spare` more: one
        copy of each piece, where stacking padded tensors and then moving them costs three."""
        like = pieces[0][0]
        rows = sum(keys.shape[0] for keys, _ in pieces)
        self._room = self._new_room(like, rows, room_length(width, spare))
        start = 0
        for piece in pieces:
            count, used = piece[0].shape[0], piece[0].shape[-2]
            for buffer, part in zip(self._room, piece, strict=True):
                buffer[start:start + count, :, :width - used].zero_()  # masked, but finite
                buffer[start:start + count, :, width - used:width] = part
            start += count
        self._view_room(width)

    def _view_room(self, end: int) -> None:
        self.keys, self.values = self._room[0][..., :end, :], self._room[1][..., :end, :]
        self._views = (self.keys, self.values)

    def _appends_in_place(self, end: int) -> bool:
        views = getattr(self, "_views", None)
        return (
            views is not None
            and views[0] is self.keys
            and views[1] is self.values
            and end <= self._room[0].shape[-2]
        )

    def _new_room(self, like: torch.Tensor, rows: int, length: int) -> KV:
        """Fresh buffers of `rows` x `length` positions, or this layer's place in a shared room."""
        if self.placement is not None:
            shared, index, rows_slice, first = self.placement
            self.placement = None  # a place is taken once; the shared room's width bounds it
            return shared.room(index, like, rows_slice, first)
        shape = (rows, like.shape[1], length, like.shape[-1])
        return buffers.empty(shape, like), buffers.empty(shape, like)

    def _move_to_new_room(self, like: torch.Tensor, end: int) -> None:
        used = self.get_seq_length()
        self._room = self._new_room(like, like.shape[0], room_length(end))
        if used:
            self._room[0][..., :used, :] = self.keys
            self._room[1][..., :used, :] = self.values


def accepts(model: Any, *names: str) -> str | None:
    """The first of `names` that the model's forward takes, looked up along its MRO."""
    for cls in type(model).__mro__:
        method = cls.__dict__.get("forward")
        parameters = inspect.signature(method).parameters if method else {}
        found = next((name for name in names if name in parameters), None)
        if found:
            return found
    return None


def forward_kwargs(model: Any) -> tuple[str, str | None]:
    """The names of the cache and logits-to-keep arguments of `model`'s forward.

    A forward that takes neither cache name is an error, not a guess: passed under a name the
    model ignores, the cache would be silently dropped and every step would see one token.
    """
    # transformers renamed `past_key_values` to `cache` after 5.17; 4.50 renamed `num_logits_to_keep`.
    cache = accepts(model, "cache", "past_key_values")
    if cache is None:
        raise UnsupportedVersion(
            f"{type(model).__name__}.forward takes neither `cache` nor `past_key_values`: "
            "this transformers release or model class passes the KV cache in a way "
            "socratic-distill does not know"
        )
    return cache, accepts(model, "logits_to_keep", "num_logits_to_keep")


def forward(model: Any, ids, mask, positions, cache, names: tuple[str, str | None],
            row_groups: list | None = None):
    """One forward pass that extends `cache`; the float logits of each row's last position.
    `row_groups` goes to the attention function (`attention.grouped_sdpa`) when given."""
    cache_name, keep_name = names
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        **{cache_name: cache},
        **({keep_name: 1} if keep_name else {}),
        **({"row_groups": row_groups} if row_groups is not None else {}),
    )
    return out.logits[:, -1, :].float()


def full_attention_only(model: Any) -> bool:
    """Whether every layer of `model`'s cache holds the full prefix (no sliding windows)."""
    return layers(new_cache(model)) is not None


def layers(cache) -> list[KV] | None:
    """Each layer's keys and values; None when the cache is not a plain full one."""
    if any(type(layer) not in (DynamicLayer, RoomyLayer) for layer in cache.layers):
        return None  # sliding windows and the like hold no full prefix
    return [(layer.keys, layer.values) for layer in cache.layers]


def compaction_order(count: int, keep: Sequence[int]) -> list[int]:
    """The rows `keep` of a batch of `count`, ordered so that compacting moves the fewest: a
    kept row in the first `len(keep)` slots stays there, and the others fill the freed slots."""
    kept = set(keep)
    holes = (slot for slot in range(len(keep)) if slot not in kept)
    order = list(range(len(keep)))
    for row in (row for row in keep if row >= len(keep)):
        order[next(holes)] = row
    return order


def drop_leading_columns(cache, count: int) -> None:
    """Cut the first `count` cache positions of every layer (views; no copy where possible)."""
    for layer in cache.layers:
        if isinstance(layer, RoomyLayer):
            layer.drop_leading(count)
        else:
            layer.keys, layer.values = layer.keys[..., count:, :], layer.values[..., count:, :]


def stack_left_padded(cache, layer_pieces: Sequence[Sequence[KV]], width: int,
                      spare: int = 0) -> None:
    """Fill layer `i` of `cache` with the rows of `layer_pieces[i]`, in order, each piece
    left-padded with zeros to `width` positions, with room for `spare` more (one copy)."""
    for index, pieces in enumerate(layer_pieces):
        # The old layer's tensors live on in `pieces`; its place in a shared room passes on.
        layer = cache.layers[index] = RoomyLayer(getattr(cache.layers[index], "placement", None))
        layer.lazy_initialization(*pieces[0])
        layer.adopt(pieces, width, spare)

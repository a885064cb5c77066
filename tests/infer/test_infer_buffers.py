"""Recycled cache buffers: reused across calls and threads, never shared inside one call."""

from __future__ import annotations

import threading

import torch
from infer_helpers import make_model, make_problems

from socratic_distill.infer import buffers
from socratic_distill.infer.generate import PrefixCache, generate, generate_naive

LIKE = torch.empty(0)


def pointers(shapes) -> list[int]:
    return [buffers.empty(shape, LIKE).data_ptr() for shape in shapes]


def test_pieces_do_not_overlap_and_come_back_next_call():
    shapes = [(3, 5, 7), (100,), (2, 64)]
    with buffers.recycling(torch.device("cpu")):
        pointers(shapes)  # the first call may find no slab large enough
    with buffers.recycling(torch.device("cpu")):
        first = pointers(shapes)
        ends = [ptr + torch.Size(shape).numel() * 4 for ptr, shape in zip(first, shapes, strict=True)]
        assert all(end <= start for end, start in zip(ends, first[1:], strict=False))
        with buffers.recycling(torch.device("cpu")):  # nested: the same slab, no release
            inner = buffers.empty((4,), LIKE).data_ptr()
        assert inner >= ends[-1]
        assert buffers.empty((4,), LIKE).data_ptr() > inner
    with buffers.recycling(torch.device("cpu")):
        assert pointers(shapes) == first
    assert buffers.empty((3, 5, 7), LIKE).data_ptr() not in first  # outside a block: fresh


def in_slab(tensor: torch.Tensor) -> bool:
    memory = buffers._local.slab.memory
    return memory.data_ptr() <= tensor.data_ptr() < memory.data_ptr() + memory.numel()


def test_a_call_larger_than_the_slab_grows_it():
    with buffers.recycling(torch.device("cpu")):
        count = buffers._local.slab.memory.numel() // 4 + 1000  # floats: more than it holds
        big = buffers.empty((count,), LIKE)
        assert big.shape == (count,) and not in_slab(big)
    with buffers.recycling(torch.device("cpu")):
        again = buffers.empty((count,), LIKE)
        assert in_slab(again)
    with buffers.recycling(torch.device("cpu")):
        assert buffers.empty((count,), LIKE).data_ptr() == again.data_ptr()


def test_a_call_beyond_the_cap_leaves_the_slab_as_it_was(monkeypatch):
    monkeypatch.setattr(buffers, "MAX_BYTES", 1 << 20)
    with buffers.recycling(torch.device("cpu")):
        buffers._local.slab.memory = torch.empty(0, dtype=torch.uint8)  # start small
        buffers.empty((1 << 16,), LIKE)  # 256 KiB: under the cap
    with buffers.recycling(torch.device("cpu")):
        kept = buffers._local.slab.memory
        assert 1 << 18 <= kept.numel() <= 1 << 20
        buffers.empty((1 << 19,), LIKE)  # 2 MiB: beyond the cap, from fresh memory
    with buffers.recycling(torch.device("cpu")):
        assert buffers._local.slab.memory.data_ptr() == kept.data_ptr()
        assert buffers._local.slab.memory.numel() == kept.numel()
    with buffers.recycling(torch.device("cpu")):
        buffers.empty((220_000,), LIKE)  # 880 KB: more than the slab, under the cap
    with buffers.recycling(torch.device("cpu")):
        assert buffers._local.slab.memory.numel() == 1 << 20  # grown, but no further than the cap


def test_the_slab_outlives_its_thread():
    seen = []

    def call():
        with buffers.recycling(torch.device("cpu")):
            seen.append(buffers.empty((1000,), LIKE).data_ptr())

    for _ in range(3):
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
    assert seen[1] == seen[2]


def test_stale_values_in_recycled_buffers_change_nothing(tok, monkeypatch):
    """Every recycled byte is NaN before each call: a cache column that is read but was never
    written in this call would turn the logits to NaN and change the text."""
    release = buffers.Slab.release

    def poisoned(self):
        release(self)
        self.memory.fill_(255)  # 0xFFFFFFFF is a float32 NaN

    monkeypatch.setattr(buffers.Slab, "release", poisoned)
    model = make_model(tok, seed=2)
    texts = [p.question for p in make_problems(8)]
    prompts = [texts[i][: 6 + 13 * i] for i in range(8)]
    cache, keys = PrefixCache(), list(range(8))
    for _ in range(3):  # the first call grows the slab; the later ones cut from it
        first = generate(model, tok, prompts, max_new_tokens=6, batch_size=8,
                         prefix_cache=cache, prefix_keys=keys)
    longer = [p + g.text + " so" for p, g in zip(prompts, first, strict=True)]
    reused = generate(model, tok, longer, max_new_tokens=10, batch_size=8, prefix_cache=cache,
                      prefix_keys=keys)
    assert first == generate_naive(model, tok, prompts, max_new_tokens=6)
    assert reused == generate_naive(model, tok, longer, max_new_tokens=10)


def test_concurrent_calls_cut_from_different_slabs(tok):
    """Two threads generating at once each get a slab of their own; the text is unchanged."""
    model = make_model(tok, seed=4)
    prompts = [p.question[: 10 + 7 * i] for i, p in enumerate(make_problems(6))]
    expected = generate_naive(model, tok, prompts, max_new_tokens=16)
    started, results, slabs = threading.Barrier(2), {}, {}

    def work(name):
        with buffers.recycling(torch.device("cpu")):
            slabs[name] = buffers._local.slab
            started.wait()  # both blocks are open at once
            results[name] = generate(model, tok, prompts, max_new_tokens=16, batch_size=6)

    threads = [threading.Thread(target=work, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slabs["a"] is not slabs["b"]
    assert results["a"] == expected and results["b"] == expected

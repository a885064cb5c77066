"""Attention per run of rows: the cheapest runs, the same values as SDPA, the same text."""

from __future__ import annotations

import itertools
import random

import torch
from infer_helpers import make_model, make_problems, tiny_mistral
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from socratic_distill.infer import attention
from socratic_distill.infer.generate import PrefixCache, generate, generate_naive, hf_generator


def left_padded(firsts: list[int], width: int) -> torch.Tensor:
    mask = torch.zeros(len(firsts), width, dtype=torch.long)
    for row, first in enumerate(firsts):
        mask[row, first:] = 1
    return mask


def cost(runs, width, call_cost):
    return sum(call_cost + (end - start) * (width - column) for start, end, column in runs)


def test_row_groups_cut_where_padding_changes():
    mask = left_padded([0, 0, 50, 50, 200, 200], 256)
    assert attention.row_groups(mask, call_cost=8) == [(0, 2, 0), (2, 4, 50), (4, 6, 200)]
    assert attention.row_groups(mask, call_cost=10_000) == [(0, 6, 0)]


def test_row_groups_are_the_cheapest_cut():
    rng = random.Random(0)
    for _ in range(30):
        firsts = [rng.randrange(0, 90) for _ in range(rng.randrange(1, 8))]
        call_cost = rng.choice([0, 16, 128])
        runs = attention.row_groups(left_padded(firsts, 96), call_cost)
        # contiguous, covering every row once, each run from its rows' first real column
        assert [start for start, _, _ in runs] == [0] + [end for _, end, _ in runs[:-1]]
        assert runs[-1][1] == len(firsts)
        assert all(column == min(firsts[start:end]) for start, end, column in runs)
        best = min(
            cost([(a, b, min(firsts[a:b]))
                  for a, b in zip((0, *cuts), (*cuts, len(firsts)), strict=True)], 96, call_cost)
            for k in range(len(firsts))
            for cuts in itertools.combinations(range(1, len(firsts)), k)
        )
        assert cost(runs, 96, call_cost) == best


def test_row_groups_runs_are_bounded(monkeypatch):
    monkeypatch.setattr(attention, "MAX_RUN_ROWS", 4)
    runs = attention.row_groups(left_padded([0] * 10, 16), call_cost=100)
    assert len(runs) == 3 and all(end - start <= 4 for start, end, _ in runs)  # fewest calls
    assert [start for start, _, _ in runs] == [0] + [end for _, end, _ in runs[:-1]]
    assert runs[-1][1] == 10


def sdpa_mask(firsts: list[int], queries: int, width: int) -> torch.Tensor:
    """[rows, 1, queries, width]: a left-padded causal mask, the queries being the last columns."""
    columns = torch.arange(width)
    ends = torch.arange(width - queries, width)
    causal = columns[None, :] <= ends[:, None]
    return torch.stack([causal & (columns >= first)[None, :] for first in firsts])[:, None]


def test_grouped_sdpa_equals_sdpa(tok):
    torch.manual_seed(0)
    module = make_model(tok, layers=1, width=32).transformer.h[0].attn
    firsts = [0, 3, 40, 41, 47, 10]
    for queries in (1, 5):
        q = torch.randn(len(firsts), 2, queries, 16)
        k, v = torch.randn(len(firsts), 2, 48, 16), torch.randn(len(firsts), 2, 48, 16)
        mask = sdpa_mask(firsts, queries, 48)
        groups = attention.row_groups(mask[:, 0, -1], call_cost=0)
        assert len(groups) > 2 and any(column > 0 for _, _, column in groups)
        expected, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.25)
        got, _ = attention.grouped_sdpa(module, q, k, v, mask, row_groups=groups, scaling=0.25)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_install_switches_sdpa_only(tok):
    model = make_model(tok)
    assert model.config._attn_implementation == "sdpa"
    assert attention.install(model) and attention.install(model)
    assert attention.installed(model)
    eager = make_model(tok)
    eager.set_attn_implementation("eager")
    assert not attention.install(eager) and not attention.installed(eager)
    closed = make_model(tok)
    closed.forward = lambda input_ids=None, attention_mask=None: None  # no **kwargs to pass on
    assert not attention.install(closed) and not attention.installed(closed)


def test_grouped_decoding_equals_naive_with_reused_prefixes(tok, monkeypatch):
    """Rows reusing prefixes of unlike lengths are padded unlike; the text stays the naive one."""
    monkeypatch.setattr(attention, "CALL_COST_COLUMNS", 0)  # a run wherever padding changes
    model = make_model(tok, seed=3)
    fn = hf_generator(model, tok)
    assert attention.installed(model)
    texts = [p.question for p in make_problems(8)]
    prompts = [texts[i][: 8 + 12 * i] for i in range(8)]
    cache, keys = PrefixCache(), list(range(8))
    first = fn(prompts, max_new_tokens=6, batch_size=8, prefix_cache=cache, prefix_keys=keys)
    longer = [p + g.text + " so" for p, g in zip(prompts, first, strict=True)]
    groups = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: groups.append(kwargs.get("row_groups")), with_kwargs=True)
    try:
        reused = fn(longer, max_new_tokens=12, batch_size=8, prefix_cache=cache,
                    prefix_keys=keys)
    finally:
        hook.remove()
    assert any(g and len(g) > 1 and g[-1][2] > 0 for g in groups)  # padding was skipped
    assert reused == generate_naive(model, tok, longer, max_new_tokens=12)
    assert reused == generate(make_model(tok, seed=3), tok, longer, max_new_tokens=12)


def test_sliding_window_models_keep_sdpa(tok):
    """Their keys are a window, not the mask's columns, so runs could not index them."""
    model = tiny_mistral(tok, sliding_window=8)
    assert not attention.install(model) and model.config._attn_implementation == "sdpa"


def test_grouped_query_attention_equals_naive(tok, monkeypatch):
    """Llama-style layers (grouped-query attention, as SmolLM2's) through runs of rows."""
    monkeypatch.setattr(attention, "CALL_COST_COLUMNS", 0)
    model = tiny_mistral(tok, sliding_window=None)
    fn = hf_generator(model, tok)
    assert attention.installed(model)
    prompts = [p.question[: 6 + 14 * i] for i, p in enumerate(make_problems(6))]
    batched = fn(prompts, max_new_tokens=10, batch_size=6)
    assert batched == generate_naive(model, tok, prompts, max_new_tokens=10)
    assert len({g.text for g in batched}) > 3 and all(g.completion_tokens for g in batched)

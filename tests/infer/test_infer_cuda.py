"""The GPU path: sampling, grouped prefill, batch refill and the Socratic turns on CUDA.

Marked `cuda`; they skip on machines without a GPU (CI's). Run them where one is:
`pytest -m cuda`.
"""

from __future__ import annotations

import pytest
import torch
from infer_helpers import make_model
from test_infer_generate import restricted, varied_prompts

import socratic_distill.infer.generate as generate_module
from socratic_distill.infer.config import make_config
from socratic_distill.infer.generate import generate, generate_naive, hf_generator
from socratic_distill.infer.solvers import solve

pytestmark = pytest.mark.cuda


@pytest.fixture
def cuda_model(tok):
    return make_model(tok).to("cuda")


def test_sampling_runs_on_the_gpu_and_is_seeded(cuda_model, tok):
    prompts = varied_prompts(6)
    settings = dict(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    first = generate(cuda_model, tok, prompts, batch_size=4, **settings)
    assert all(g.error is None and g.completion_tokens > 0 for g in first)
    assert first == generate(cuda_model, tok, prompts, batch_size=4, **settings)
    assert first == generate_naive(cuda_model, tok, prompts, **settings)


def test_a_sampling_step_never_waits_on_the_host(cuda_model):
    rows = [generate_module._Row(prompt=[0], seed=seed, limit=1) for seed in range(32)]
    logits = torch.randn(32, 320, device="cuda")
    settings = generate_module._Settings(1, False, (), False, temperature=0.7, top_p=0.9)
    generate_module._sample(logits, rows, settings)  # generators made (a one-off)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        tokens = generate_module._sample(logits, rows, settings)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert tokens.device.type == "cuda" and all(row.rng.device.type == "cuda" for row in rows)


def test_batched_equals_naive_with_refill_and_the_calculator(tok):
    model = make_model(tok, seed=3).to("cuda")
    allowed = restricted(tok)
    bias = torch.full((len(tok),), -1e9, device="cuda")
    bias[allowed] = 0.0
    model.lm_head.register_forward_hook(lambda _, __, out: out + bias)
    assert generate_module.REFILL_AT.get("cuda", generate_module.DEFAULT_REFILL_AT) is not None
    prompts = varied_prompts(12)
    settings = dict(max_new_tokens=30, calculator=True, stop_strings=("\n\n",))
    batched = generate(model, tok, prompts, batch_size=5, **settings)
    assert batched == generate_naive(model, tok, prompts, **settings)
    assert any("<<" in g.text for g in batched)


def test_socratic_solve_on_the_gpu_equals_naive(cuda_model, tok, problems):
    config = make_config(method="socratic", max_new_tokens=10, max_steps=2, batch_size=4)
    batched_fn, naive_fn = hf_generator(cuda_model, tok), hf_generator(cuda_model, tok, naive=True)
    batched = solve(problems, {"qg": batched_fn, "qa": batched_fn}, config)
    naive = solve(problems, {"qg": naive_fn, "qa": naive_fn}, config)
    assert [p.error for p in batched] == [None] * len(problems)
    assert [p.prediction for p in batched] == [p.prediction for p in naive]

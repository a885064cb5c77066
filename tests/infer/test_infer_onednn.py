"""Linear layers through oneDNN: same values as PyTorch's own, training untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from infer_helpers import make_model
from test_infer_generate import varied_prompts

from socratic_distill.infer import onednn
from socratic_distill.infer.generate import generate_naive, hf_generator

pytestmark = pytest.mark.skipif(not onednn.available(), reason="this torch has no oneDNN")


def test_routes_every_linear_layer_once(tok):
    model = make_model(tok, layers=3)
    assert onednn.route_linears(model) == 3 * 4 + 1  # qkv, attention out, two MLP; LM head
    assert onednn.route_linears(model) == 0


def test_routed_logits_match_the_default(tok):
    model = make_model(tok, layers=2, width=64)
    routed = copy.deepcopy(model)
    onednn.route_linears(routed)
    ids = torch.randint(0, len(tok), (5, 17))
    with torch.inference_mode():
        expected, got = model(ids).logits, routed(ids).logits
    assert not torch.equal(got, torch.zeros_like(got))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_training_keeps_the_layers_own_forward(tok):
    model = make_model(tok)
    routed = copy.deepcopy(model)
    onednn.route_linears(routed)
    ids = torch.randint(0, len(tok), (2, 9))
    for net in (model, routed):
        net(ids, labels=ids).loss.backward()
    for (name, plain), (_, other) in zip(model.named_parameters(), routed.named_parameters(),
                                         strict=True):
        assert other.grad is not None, name
        torch.testing.assert_close(other.grad, plain.grad)


def test_routed_batched_equals_naive_greedy(tok):
    model = make_model(tok)
    prompts = varied_prompts()
    batched = hf_generator(model, tok)(prompts, max_new_tokens=24, batch_size=5)
    assert "forward" in model.transformer.h[0].mlp.c_fc.__dict__  # the binding routed it
    assert batched == generate_naive(model, tok, prompts, max_new_tokens=24)

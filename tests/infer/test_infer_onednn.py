"""Linear layers and MLP activations through oneDNN: same values as PyTorch's own, training
untouched."""

from __future__ import annotations

import copy

import pytest
import torch
from infer_helpers import make_model, tiny_mistral
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


def tiny_llama(tok):
    """The gated MLP with biases (`mlp_bias`), to check that they are added."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(7)
    config = LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=96,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok),
                         mlp_bias=True, initializer_range=0.3)
    model = LlamaForCausalLM(config).eval()
    for layer in model.model.layers:  # initialised to zero: make them count
        torch.nn.init.normal_(layer.mlp.up_proj.bias, std=0.5)
        torch.nn.init.normal_(layer.mlp.gate_proj.bias, std=0.5)
    return model


MODELS = {"gpt2": lambda tok: make_model(tok, layers=2, width=64), "mistral": tiny_mistral,
          "llama": tiny_llama}


def activations(model) -> list[torch.nn.Module]:
    return [m for m in model.modules() if type(m) in onednn.POST_OPS]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_fused_mlps_match_the_default(tok, name):
    model = MODELS[name](tok)
    fused = copy.deepcopy(model)
    assert onednn.fuse_activations(fused) == 2  # one MLP per layer
    assert onednn.fuse_activations(fused) == 0
    calls = []
    for act in activations(fused):
        act.register_forward_hook(lambda *_: calls.append(1))
    ids = torch.randint(0, len(tok), (5, 17))
    with torch.inference_mode():
        expected, got = model(ids).logits, fused(ids).logits
    assert not calls  # the activations ran inside the linear kernels
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_unknown_activations_are_not_fused(tok):
    model = make_model(tok)
    for layer in model.transformer.h:
        layer.mlp.act = torch.nn.Tanh()
    assert onednn.fuse_activations(model) == 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_keeps_the_layers_own_forward(tok, name):
    model = MODELS[name](tok)
    routed = copy.deepcopy(model)
    onednn.route_linears(routed)
    onednn.fuse_activations(routed)
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
    assert "forward" in model.transformer.h[0].mlp.__dict__  # and fused its activation
    assert batched == generate_naive(model, tok, prompts, max_new_tokens=24)


def test_frozen_weights_with_adapters_keep_their_gradients(tok):
    """LoRA: base weights frozen, grad mode on. The gradient reaches the adapters of every layer
    through the frozen layers above them, which the routed kernel (no backward) would cut."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=4, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False)
    grads = []
    for route in (False, True):
        model = make_model(tok, layers=2, width=64)
        if route:
            assert onednn.route_linears(model) > 0 and onednn.fuse_activations(model) == 2
        adapted = get_peft_model(model, lora)
        ids = torch.randint(0, len(tok), (2, 9), generator=torch.Generator().manual_seed(1))
        adapted(input_ids=ids, labels=ids).loss.backward()
        grads.append({name: p.grad for name, p in adapted.named_parameters() if p.requires_grad})
    plain, routed = grads
    assert plain and plain.keys() == routed.keys()
    for name, grad in plain.items():
        assert routed[name] is not None, name
        torch.testing.assert_close(routed[name], grad, msg=name)


def test_a_kernel_that_raises_keeps_the_plain_forward(tok, monkeypatch):
    """A torch release that changes the private op's schema: nothing is bound, text unchanged."""
    model, reference = make_model(tok), make_model(tok)

    def changed_schema(*args):
        raise RuntimeError("mkldnn::_linear_pointwise() Expected a value of type 'str'")

    monkeypatch.setattr(onednn, "_pointwise", changed_schema)
    monkeypatch.setattr(onednn, "_pointwise_binary", changed_schema)
    assert onednn.route_linears(model) == 0 and onednn.fuse_activations(model) == 0
    prompts = varied_prompts(4)
    assert hf_generator(model, tok)(prompts, max_new_tokens=12) == \
        generate_naive(reference, tok, prompts, max_new_tokens=12)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_kernel_that_differs_keeps_the_plain_forward(tok, name, monkeypatch):
    model = MODELS[name](tok)
    real = onednn._pointwise
    monkeypatch.setattr(onednn, "_pointwise", lambda *args: real(*args) * 1.01)
    assert onednn.route_linears(model) == 0 and onednn.fuse_activations(model) == 0
    monkeypatch.setattr(onednn, "_pointwise", real)
    monkeypatch.setattr(onednn, "_pointwise_binary", lambda *args: args[1] * 0)
    gated = name != "gpt2"  # only the gated MLPs use the binary post-op
    assert onednn.fuse_activations(MODELS[name](tok)) == (0 if gated else 2)

"""Linear layers through oneDNN on a CPU, for decoding.

PyTorch computes a float32 linear layer with MKL's GEMM. On some CPUs (measured: AMD EPYC,
2 threads) that is slow for the few rows of a decoding batch: a 384 -> 1536 layer takes 215 us
for 17 rows where oneDNN's linear kernel, the one PyTorch's compiler uses on CPU, takes 64-80
us; at 2,048 rows (a prefill) MKL is still 2.3x slower (`bench/bench_linear.py`). A single
row is a little faster with MKL when its weights sit in the cache (36 vs 39 us), but decoding
one problem at a time took 30-32 s through oneDNN and 36-37 s with MKL for single rows, so every
row count goes through oneDNN.

`route_linears(model)` sends a model's `nn.Linear` and GPT-2 `Conv1D` layers through that
kernel whenever no gradient is wanted (`generate` runs under `torch.inference_mode`); training
and other devices or dtypes keep the layer's own forward. Weights are read where they are, in
the layer's own layout, so later changes to them are seen.

`fuse_activations(model)` also applies each MLP's activation inside the kernel that computes
the layer before it (a oneDNN post-op), and a gated MLP's product inside the up projection,
instead of one more pass over the widest activations of the model. On the benchmark's 384 ->
1536 layer with GELU that is 20% faster for an 800-row prefill and 12% for 12 decoding rows
(values differ by at most 5e-7). Two MLP shapes are known: GPT-2's `c_proj(act(c_fc(x)))`
and the gated `down_proj(act_fn(gate_proj(x)) * up_proj(x))` of Llama, Mistral, Qwen2 and
SmolLM2; others keep their forward.

The kernel is a private op with no autograd formula, so it is never used where a gradient can
flow (grad mode on: training, LoRA with frozen base weights, anything else), and each module is
bound only after its routed forward has matched its own forward on a probe input: a PyTorch
release that changes the op's schema or results leaves the module's plain forward in place.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from socratic_distill.versions import internal

activations = internal("transformers", "activations")
Conv1D = internal("transformers.pytorch_utils", "Conv1D")
# The probe a module's routed forward must match before it is bound (rows x its input width).
PROBE_ROWS = 3
PROBE_TOLERANCE = 1e-4


def available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def route_linears(model: Any) -> int:
    """Route `model`'s linear layers through oneDNN for CPU inference; how many were routed.

    Idempotent: a layer already routed is left alone.
    """
    return _rebind(model, _weight_layout, _forward)


def _rebind(model: Any, plan_of, forward) -> int:
    """Bind `forward(module, own_forward, plan, inputs)` as the forward of every module of
    `model` that `plan_of` gives a plan (not None) and whose probe it passes; how many were
    bound."""
    if not available():
        return 0
    bound = 0
    for module in model.modules():
        if "forward" in module.__dict__:  # bound already, or wrapped by someone else (hooks)
            continue
        plan = plan_of(module)
        if plan is None:
            continue
        routed = partial(forward, module, type(module).forward, plan)
        if _matches_own_forward(module, routed):
            module.forward = routed
            bound += 1
    return bound


def _matches_own_forward(module: Any, routed) -> bool:
    """Whether `routed` gives `module`'s own output on a probe (and raises nothing)."""
    width = _input_width(module)
    weight = next(module.parameters(), None)
    if width is None or weight is None:
        return False
    probe = torch.randn(PROBE_ROWS, width, generator=torch.Generator().manual_seed(0),
                        dtype=weight.dtype).to(weight.device)
    training = module.training
    module.train(False)  # dropout off: the probe compares two deterministic forwards
    try:
        with torch.inference_mode():
            expected, got = type(module).forward(module, probe), routed(probe)
        scale = float(expected.abs().max()) + 1.0
        return got.shape == expected.shape and bool(
            (got - expected).abs().max() <= PROBE_TOLERANCE * scale)
    except Exception:  # noqa: BLE001 -- any failure of a private op means: keep the plain forward
        return False
    finally:
        module.train(training)


def _input_width(module: Any) -> int | None:
    if isinstance(module, torch.nn.Linear):
        return module.in_features
    if isinstance(module, Conv1D):
        return module.weight.shape[0]
    for first in ("c_fc", "gate_proj"):  # an MLP reads its first layer's inputs
        if isinstance(getattr(module, first, None), (torch.nn.Linear, Conv1D)):
            return _input_width(getattr(module, first))
    return None


def _weight_layout(module: Any):
    """How a linear layer's weight reads as oneDNN's [out, in]; None for other modules."""
    if isinstance(module, torch.nn.Linear):
        return _as_is
    if isinstance(module, Conv1D):
        return torch.Tensor.t  # Conv1D keeps [in, out]; a transposed view, no copy
    return None


def _as_is(weight: torch.Tensor) -> torch.Tensor:
    return weight


def _applies(inputs: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether oneDNN computes this: float32 on a CPU, grad mode off.

    Grad mode alone decides, not `weight.requires_grad`: with frozen weights (LoRA) a gradient
    still flows through the layer to its inputs, and the op has no backward.
    """
    return (not torch.is_grad_enabled() and inputs.device.type == "cpu"
            and inputs.dtype == torch.float32 and weight.dtype == torch.float32)


def _forward(module, own_forward, weight_of, inputs: torch.Tensor) -> torch.Tensor:
    if not _applies(inputs, module.weight):
        return own_forward(module, inputs)
    return _pointwise(inputs, weight_of(module.weight), module.bias, "none", [], "")


def _pointwise(*args):
    """oneDNN's linear kernel with a post-op; one name for the private op (the probes test it)."""
    return torch.ops.mkldnn._linear_pointwise(*args)


def _pointwise_binary(*args):
    """oneDNN's linear kernel with a binary post-op (its result times another tensor)."""
    return torch.ops.mkldnn._linear_pointwise.binary(*args)


# Activations oneDNN applies as a post-op, as (attr, algorithm): exact classes only, since a
# subclass may compute something else.
POST_OPS: dict[type, tuple[str, str]] = {
    activations.NewGELUActivation: ("gelu", "tanh"),  # GPT-2's gelu_new
    activations.GELUTanh: ("gelu", "tanh"),
    activations.SiLUActivation: ("swish", ""),
    torch.nn.SiLU: ("swish", ""),
    torch.nn.ReLU: ("relu", ""),
}


def fuse_activations(model: Any) -> int:
    """Compute `model`'s MLP activations (and gated products) inside oneDNN's linear kernel for
    CPU inference; how many MLPs were fused. Idempotent, like `route_linears`."""
    return _rebind(model, _mlp_shape, _fused_mlp)


def _mlp_shape(module: Any) -> str | None:
    if set(module._modules) == {"c_fc", "act", "c_proj", "dropout"} and type(module.act) in POST_OPS \
            and isinstance(module.c_fc, Conv1D) and isinstance(module.c_proj, Conv1D):
        return "plain"
    gated = ("gate_proj", "up_proj", "down_proj")
    if set(module._modules) == {*gated, "act_fn"} and type(module.act_fn) in POST_OPS \
            and all(type(getattr(module, name)) is torch.nn.Linear for name in gated):
        return "gated"
    return None


def _fused_mlp(module, own_forward, shape: str, inputs: torch.Tensor) -> torch.Tensor:
    first = module.c_fc if shape == "plain" else module.gate_proj
    if module.training or not _applies(inputs, first.weight):
        return own_forward(module, inputs)
    if shape == "plain":
        attr, algorithm = POST_OPS[type(module.act)]
        hidden = _pointwise(inputs, first.weight.t(), first.bias, attr, [], algorithm)
        return module.c_proj(hidden)  # dropout: none outside training
    attr, algorithm = POST_OPS[type(module.act_fn)]
    gate = _pointwise(inputs, first.weight, first.bias, attr, [], algorithm)
    up = module.up_proj
    hidden = _pointwise_binary(inputs, gate, up.weight, up.bias, "mul")
    return module.down_proj(hidden)

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
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch


def available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def route_linears(model: Any) -> int:
    """Route `model`'s linear layers through oneDNN for CPU inference; how many were routed.

    Idempotent: a layer already routed is left alone.
    """
    if not available():
        return 0
    from transformers.pytorch_utils import Conv1D

    routed = 0
    for module in model.modules():
        if "forward" in module.__dict__:  # routed already, or wrapped by someone else (hooks)
            continue
        if isinstance(module, torch.nn.Linear):
            weight = _as_is
        elif isinstance(module, Conv1D):
            weight = torch.Tensor.t  # Conv1D keeps [in, out]; a transposed view, no copy
        else:
            continue
        module.forward = partial(_forward, module, type(module).forward, weight)
        routed += 1
    return routed


def _as_is(weight: torch.Tensor) -> torch.Tensor:
    return weight


def _forward(module, own_forward, weight_of, inputs: torch.Tensor) -> torch.Tensor:
    weight = module.weight
    if (inputs.device.type != "cpu" or inputs.dtype != torch.float32
            or weight.dtype != torch.float32
            or (torch.is_grad_enabled() and weight.requires_grad)):
        return own_forward(module, inputs)
    return torch.ops.mkldnn._linear_pointwise(inputs, weight_of(weight), module.bias, "none", [], "")
